"""Keeping the call storage within its days to keep and its disk space (seed F9, F34).

Which recordings go first is decided in one place, :func:`prune_order`, so a later issue can
prefer recordings that already have an archive copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.catalogue import Catalogue
from mm_engine.config import Config
from mm_engine.storage import LocalStore

log = logging.getLogger(__name__)

GB = 1024**3
BATCH = 500


def prune_order() -> str:
    """ORDER BY for choosing recordings to prune when space runs out: oldest first."""
    return "start_ts ASC, id ASC"


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
        store: Callable[[], LocalStore],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.alarms = alarms
        self.store = store
        self.clock = clock

    def apply_days_to_keep(self) -> PruneReport:
        """Delete recordings whose call started more than ``retention_days`` ago (0 = never)."""
        days = int(self.config.get("retention_days"))
        if days == 0:
            return PruneReport(0, 0)
        cutoff = self.clock() - days * 86400
        deleted = freed = 0
        while True:
            rows = self.catalogue.db.query(
                "SELECT id, size FROM recordings WHERE start_ts < ? ORDER BY start_ts LIMIT ?",
                (cutoff, BATCH),
            )
            if not rows:
                break
            self.catalogue.delete([r["id"] for r in rows])
            deleted += len(rows)
            freed += sum(r["size"] for r in rows)
        if deleted:
            log.info("retention: deleted %d recordings older than %d days", deleted, days)
        return PruneReport(deleted, freed)

    def ensure_free_space(self) -> PruneReport:
        """Prune the oldest recordings before the call storage fills up."""
        store = self.store()
        floor = int(float(self.config.get("disk_min_free_gb")) * GB)
        try:
            free = store.free_space()
        except OSError as exc:
            self.alarms.raise_(AlarmType.DISK_SPACE_ERROR, "calculate", path=store.root, error=exc)
            return PruneReport(0, 0)
        if free is None or free >= floor:
            return PruneReport(0, 0)
        need = floor - free
        chosen: list[int] = []
        total = 0
        last: tuple[float, int] | None = None
        while total < need:
            after = "" if last is None else "WHERE (start_ts, id) > (?, ?)"
            rows = self.catalogue.db.query(
                f"SELECT id, size, start_ts FROM recordings {after} "
                f"ORDER BY {prune_order()} LIMIT ?",
                (*(last or ()), BATCH),
            )
            if not rows:
                break
            for r in rows:
                chosen.append(r["id"])
                total += r["size"]
                if total >= need:
                    break
            last = (rows[-1]["start_ts"], rows[-1]["id"])
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
        for start in range(0, len(chosen), BATCH):
            self.catalogue.delete(chosen[start : start + BATCH])
        log.warning("disk space: pruned %d oldest recordings, %d bytes", len(chosen), total)
        return PruneReport(len(chosen), total)
