"""Keeping the call storage within its days to keep and its disk space (seed F9, F17, F34).

Which recordings go first is decided in one place, :meth:`Retention.prune_candidates`:
recordings that already have an archive copy, oldest call first, then the others. An archived
recording only loses its local file: it stays in the catalogue (``local_present = 0``) and
plays, downloads and verifies from the archive (F17). A recording without a copy is deleted
outright, and while a connector is active the days-to-keep rule waits for its copy instead.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.catalogue import Catalogue
from mm_engine.config import Config
from mm_engine.domain import Recording
from mm_engine.storage import LocalStore, Store

log = logging.getLogger(__name__)

GB = 1024**3
BATCH = 500


@dataclass(frozen=True)
class PruneReport:
    deleted: int
    freed_bytes: int


class Retention:
    def __init__(
        self,
        config: Config,
        catalogue: Catalogue,
        alarms: Alarms,
        store: Callable[[], Store],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.alarms = alarms
        self.store = store
        self.clock = clock

    def archiving(self) -> bool:
        return bool(self.config.get("active_connector"))

    def prune_candidates(
        self, before_ts: float | None = None, *, unarchived: bool = True
    ) -> Iterator[Recording]:
        """The order in which local files are given up: archived recordings first (only their
        local file goes), oldest call first; then, if ``unarchived``, the others (deleted).

        Only recordings whose file is still local are candidates: nothing else frees space.
        """
        first = self.catalogue.iter_oldest(
            before_ts=before_ts, batch=BATCH, archived=True, local_only=True
        )
        if not unarchived:
            return first
        rest = self.catalogue.iter_oldest(
            before_ts=before_ts, batch=BATCH, archived=False, local_only=True
        )
        return itertools.chain(first, rest)

    def _delete(self, chosen: Iterable[Recording]) -> PruneReport:
        """Archived ones lose their local file only; the others are deleted."""
        deleted = freed = 0
        items = iter(chosen)
        while batch := list(itertools.islice(items, BATCH)):
            ids = [r.id for r in batch]
            dropped = set(self.catalogue.drop_local(ids))
            rest = [i for i in ids if i not in dropped]
            if rest:
                self.catalogue.delete(rest)
            deleted += len(batch)
            freed += sum(r.size for r in batch)
        return PruneReport(deleted, freed)

    def apply_days_to_keep(self) -> PruneReport:
        """Delete recordings whose call started more than ``retention_days`` ago (0 = never)."""
        days = int(self.config.get("retention_days"))
        if days == 0:
            return PruneReport(0, 0)
        # while a connector is active, a recording without its copy yet waits for it
        report = self._delete(
            self.prune_candidates(
                before_ts=self.clock() - days * 86400, unarchived=not self.archiving()
            )
        )
        if report.deleted:
            log.info("retention: deleted %d recordings older than %d days", report.deleted, days)
        return report

    def ensure_free_space(self) -> PruneReport:
        """Prune the oldest recordings before the call storage fills up. Only a local disk
        fills up: a hosted call storage has no free space to keep (``free_space`` is None)."""
        store = self.store()
        if not isinstance(store, LocalStore):
            return PruneReport(0, 0)
        floor = int(float(self.config.get("disk_min_free_gb")) * GB)
        try:
            free = store.free_space()
        except OSError as exc:
            self.alarms.raise_(AlarmType.DISK_SPACE_ERROR, "calculate", path=store.root, error=exc)
            return PruneReport(0, 0)
        if free is None or free >= floor:
            return PruneReport(0, 0)
        need = floor - free
        chosen: list[Recording] = []
        total = 0
        for rec in self.prune_candidates():
            if total >= need:
                break
            chosen.append(rec)
            total += rec.size
        self.alarms.raise_(
            AlarmType.DISK_SPACE_ERROR,
            "low",
            gb=f"{total / GB:.2f}",
            bytes=total,
            recordings=len(chosen),
            dedupe=f"low:{store.root}",
        )
        if not chosen:
            log.warning("call storage below its free-space floor, nothing left to prune")
            return PruneReport(0, 0)
        report = self._delete(chosen)
        log.warning("disk space: pruned %d oldest recordings, %d bytes", report.deleted, total)
        return report
