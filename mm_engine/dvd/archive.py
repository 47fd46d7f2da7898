"""Archiving to DVD+RW (seed F16): the ``dvd`` connector's runs, disc swaps and disc catalogue.

An archive run on a DVD connector appends ONE session to the disc in the drive: the pending
recordings (no copy on the connector, oldest call first) that fit, each checked against its
catalogued SHA-256 and spooled through the store (encrypted when the connector encrypts), then
:meth:`DvdStore.flush` writes them as one session with volume id ``<LABEL>-<sequence>``, reads
the session back and checks every file against the MD5 taken while spooling. Only then are the
copies recorded, each with its disc (``archive_copies.disc_id``), in one transaction with the
disc's catalogue row.

When the next recording does not fit, what fits is written (with ``-close on``, which closes
media that can be closed; a DVD+RW is simply full), the disc is marked full and ejected, and a
``DVD_ERROR`` alarm says "disc LABEL-0003 is full, insert a blank DVD+RW". What is recorded
meanwhile stays pending. The service follows the drive through udev
(:class:`~mm_engine.dvd.drives.DriveMonitor`, no polling): a disc going in starts an archive
run at once. A disc that is not ours is never written (alarm); nor is a full one put back to be
read. Every failure (drive missing, write error, disc pulled out mid-burn, a session that does
not read back) raises an alarm and leaves the recordings pending: nothing is recorded that was
not read back.

An image file (``stdio:/path/disc.iso``) stands in for a disc in tests. It has no udev device,
so the events of any optical drive stand for it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.archive_source import ArchiveSource
from mm_engine.archiving import KIND as ARCHIVE_JOB
from mm_engine.archiving import ArchiveReport, pid_alive
from mm_engine.catalogue import Catalogue, recording_from_row
from mm_engine.connectors import ConnectorInfo, Connectors, TestResult, alarm_dedupe, sentence
from mm_engine.db import Database
from mm_engine.domain import Recording
from mm_engine.dvd.catalogue import DiscCatalogue, DiscInfo, library_id
from mm_engine.dvd.disc import DiscKind, DiscNeeded, DiscState, ForeignDisc
from mm_engine.dvd.disc import volume_id as make_volume_id
from mm_engine.dvd.drives import (
    Change,
    DriveEvent,
    DriveMonitor,
    EventSource,
    UdevEventSource,
    list_drives,
)
from mm_engine.dvd.xorriso import BLOCK, DiscFull, MediaInfo, MediaState, Xorriso, XorrisoError
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.search import COLUMNS
from mm_engine.storage.base import Accessibility
from mm_engine.storage.crypt import SUFFIX, encrypted_size
from mm_engine.storage.dvd import KIND, DvdStore, FlushReport, VerifyFailed, WrongMedium
from mm_engine.text import Msg, msg, msgn

if TYPE_CHECKING:
    from mm_engine.archiving import Archiver, Progress

log = logging.getLogger(__name__)

SESSION_OVERHEAD = 640 * 1024  # a session's volume descriptors, padding, marker and manifest
PER_FILE_OVERHEAD = 768  # per new file: its tree records (ISO, Joliet) and manifest entry
PER_DISC_FILE = 512  # per file already on the disc: its records in the new merged tree
RATE_DAYS = 14  # the recording rate for "days until full" is taken over this many days
UNSEEN_SECONDS = 30  # without udev, a drive's status key changes this often (look again)
BATCH = 500


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _blocks(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def image_drive(drive: str) -> bool:
    return drive.startswith("stdio:")


def _drive_seen(drive: str) -> object:
    """What can be told about a drive and its disc without running xorriso on it: an image
    file's identity, or udev's description of the medium (kept up to date by udev itself).
    Without udev the answer changes every UNSEEN_SECONDS, so whoever polls looks again."""
    if image_drive(drive):
        image = Path(drive[len("stdio:") :])
        try:
            st = image.stat()
        except OSError:
            return ["no image", image.parent.is_dir()]
        return ["image", st.st_ino, st.st_size, st.st_mtime_ns]
    if not Path(drive).exists():
        return ["no drive"]
    try:
        import pyudev

        device = pyudev.Devices.from_device_file(pyudev.Context(), drive)
        props = dict(device.properties)
    except Exception:  # no udev here (or it does not know the node): look again soon
        return ["unseen", int(time.time() // UNSEEN_SECONDS)]
    return sorted((k, v) for k, v in props.items() if k.startswith(("ID_CDROM_MEDIA", "ID_FS")))


class _Stop(Exception):
    """The run ends here; the report says why."""


class DvdArchive:
    """The DVD connectors' drives: archive runs, drive events, status, eject, blank, and which
    disc holds what. Unchecked, like every service: :class:`Session` checks rights."""

    def __init__(
        self,
        db: Database,
        connectors: Connectors,
        catalogue: Catalogue,
        alarms: Alarms,
        spool_root: Path,
        keys_dir: Path,
    ) -> None:
        self.db = db
        self.connectors = connectors
        self.catalogue = catalogue
        self.alarms = alarms
        self.discs = DiscCatalogue(db)
        self.spool_root = spool_root
        self.keys_dir = keys_dir
        self.binary = "xorriso"
        """The xorriso program (tests replay a drive's failures with a stand-in)."""
        self.event_source: EventSource | None = None
        """Where drive events come from; None: udev (tests script them)."""
        self._library: str | None = None
        self._stores: dict[int, tuple[str, DvdStore]] = {}
        self._lock = threading.Lock()
        self._monitor: DriveMonitor | None = None
        self._on_insert: Callable[[], None] | None = None

    @property
    def library(self) -> str:
        if self._library is None:
            self._library = library_id(self.keys_dir)
        return self._library

    # -- stores -------------------------------------------------------------------------------
    def store(self, connector_id: int, name: str, settings: Mapping[str, str]) -> DvdStore:
        """The one DvdStore of a connector (its spool and its view of the disc are shared by
        archive runs and reads): spool ``<data>/spool/dvd/<connector id>``, this library's
        id, sequence numbers from the disc catalogue."""
        stamp = json.dumps([name, dict(settings), self.binary], sort_keys=True)
        with self._lock:
            cached = self._stores.get(connector_id)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            label = settings["label"]
            capacity = settings.get("capacity") or ""
            store = DvdStore(
                settings["drive"],
                label,
                name=name,
                library=self.library,
                capacity=int(capacity) if capacity else None,
                spool=self.spool_root / str(connector_id),
                new_disc_sequence=lambda: self._new_sequence(label),
                binary=self.binary,
            )
            self._stores[connector_id] = (stamp, store)
            return store

    def _new_sequence(self, label: str) -> int:
        return self.discs.next_sequence(label)

    def store_for(self, info: ConnectorInfo) -> DvdStore:
        # a dvd connector has no secret fields: its shown settings are its settings
        return self.store(info.id, info.name, info.settings)

    def dvd_connectors(self) -> list[ConnectorInfo]:
        return [c for c in self.connectors.list() if c.kind == KIND]

    def connector(self, name: str | None = None) -> ConnectorInfo:
        """The DVD connector ``name``; without a name the active one if it is a DVD connector,
        else the only one there is."""
        if name:
            info = self.connectors.get(name)
            if info.kind != KIND:
                raise InvalidInput(
                    msg(
                        "Connector {name!r} is a {kind} connector, not a DVD connector.",
                        name=info.name,
                        kind=info.kind,
                    )
                )
            return info
        found = self.dvd_connectors()
        active = [c for c in found if c.active]
        if active:
            return active[0]
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFound(
                msg("There is no DVD connector."),
                msg(
                    "Add one with `mm connectors add NAME --type dvd --set drive=/dev/sr0 "
                    "--set label=ARCHIVE`."
                ),
            )
        raise InvalidInput(
            msgn("There are {count} DVD connectors and none is active: say which one.", len(found)),
            msg("Give --connector NAME ({names}).", names=", ".join(c.name for c in found)),
        )

    # -- an archive run -----------------------------------------------------------------------
    def archive(
        self,
        archiver: Archiver,
        info: ConnectorInfo,
        job: int,
        token: str,
        report: ArchiveReport,
        progress: Progress | None,
    ) -> None:
        """One archive run on a DVD connector (see the module docstring)."""
        if not info.pending:
            return
        store = self.store_for(info)
        try:
            self._run(archiver, store, info, job, token, report, progress)
        except _Stop:
            return

    def _run(
        self,
        archiver: Archiver,
        store: DvdStore,
        info: ConnectorInfo,
        job: int,
        token: str,
        report: ArchiveReport,
        progress: Progress | None,
    ) -> None:
        state = self._look(store, info, report)
        disc = self._catalogued(store, state)
        if (disc is not None and disc.full) or state.media.state is MediaState.CLOSED:
            self._full(store, info, report, state.volume_id or "", eject=False)
            return
        self._clear(info, "no_disc", "foreign", "medium")
        batch, leftover = self._select(info, state, disc, report)
        sent = self._spool(store, info, batch, archiver, report, progress)
        if not sent:
            if leftover:
                self._full(store, info, report, state.volume_id or "", eject=True)
            return
        flushed, leftover = self._flush(store, info, state, batch, sent, leftover, report)
        if flushed is not None:
            self._record(store, info, flushed, batch, sent, job, token, report)
        if leftover:
            volume = flushed.volume_id if flushed is not None else (state.volume_id or "")
            self._full(store, info, report, volume, eject=True)
            return
        self._clear(info, "full", "write")
        self._accessible(info, msg("Archive run at {time} wrote a session.", time=_now()))

    def _look(self, store: DvdStore, info: ConnectorInfo, report: ArchiveReport) -> DiscState:
        """The disc in the drive, if it can take a session; otherwise an alarm and _Stop."""
        try:
            store.media_changed()
            state = store.disc()
        except XorrisoError as exc:
            self._unreachable(info, report, exc.message)
            raise _Stop from exc
        self.alarms.clear(AlarmType.ARCHIVE_ERROR, dedupe=alarm_dedupe(info.id))  # it answers
        marker = state.marker if state.kind is DiscKind.OURS else None
        self.discs.seen_in_drive(
            info.id, store.label, marker.sequence if marker else None, state.media
        )
        drive = store.drive
        if state.kind is DiscKind.ABSENT:
            last = self.discs.in_drive(info.id) or self._last_disc(info.id)
            insert = msg("insert a blank DVD+RW")
            if last is not None and not last.full:
                insert = msg("insert disc {volume_id} or a blank DVD+RW", volume_id=last.volume_id)
            said = msg("there is no disc in {drive}", drive=drive)
            self._dvd_alarm(info, report, "no_disc", said, insert=insert)
            raise _Stop
        if state.kind is DiscKind.FOREIGN:
            said = msg("the disc in {drive} is not ours", drive=drive)
            self._dvd_alarm(info, report, "foreign", said, reason=state.reason)
            raise _Stop
        media = state.media
        if not (media.dvd_plus_rw or media.image_file):
            self._dvd_alarm(
                info,
                report,
                "medium",
                msg(
                    "the disc in {drive} is a {media_type}, not a DVD+RW",
                    drive=drive,
                    media_type=media.media_type,
                ),
                medium=media.media_type or msg("disc of unknown type"),
            )
            raise _Stop
        return state

    def _catalogued(self, store: DvdStore, state: DiscState) -> DiscInfo | None:
        if state.kind is DiscKind.OURS and state.marker is not None:
            return self.discs.get(store.label, state.marker.sequence)
        return None

    def _last_disc(self, connector_id: int) -> DiscInfo | None:
        discs = self.discs.list(connector_id)
        return max(discs, key=lambda d: d.updated_at) if discs else None

    def _pending(self, connector_id: int) -> Iterator[Recording]:
        """Recordings with no copy on the connector, oldest call first, in short reads."""
        after: tuple[float, int] = (-1e300, 0)
        while True:
            rows = self.db.query(
                f"SELECT {COLUMNS} FROM recordings r WHERE (r.start_ts, r.id) > (?, ?)"
                " AND NOT EXISTS (SELECT 1 FROM archive_copies c"
                "   WHERE c.connector_id = ? AND c.recording_id = r.id)"
                " ORDER BY r.start_ts, r.id LIMIT ?",
                (*after, connector_id, BATCH),
            )
            yield from (recording_from_row(r) for r in rows)
            if len(rows) < BATCH:
                return
            after = (rows[-1]["start_ts"], rows[-1]["id"])

    @staticmethod
    def _on_disc(info: ConnectorInfo, size: int) -> int:
        """Bytes a recording of ``size`` takes on the disc, its records included."""
        stored = encrypted_size(size) if info.encrypt else size
        return _blocks(stored) + PER_FILE_OVERHEAD

    def _select(
        self, info: ConnectorInfo, state: DiscState, disc: DiscInfo | None, report: ArchiveReport
    ) -> tuple[list[Recording], bool]:
        """The pending recordings that fit, oldest first (stopping at the first that does not:
        the disc is full then), and whether any were left for lack of space."""
        media = state.media
        on_disc = disc.recordings if disc is not None else 0
        budget = media.free_bytes - SESSION_OVERHEAD - on_disc * PER_DISC_FILE
        whole_disc = media.capacity_bytes - SESSION_OVERHEAD
        batch: list[Recording] = []
        for rec in self._pending(info.id):
            cost = self._on_disc(info, rec.size)
            if cost > whole_disc:
                report.failed.append(rec.id)
                self._file_error(
                    info,
                    rec,
                    msg("it is larger ({size:,} bytes) than a whole disc", size=rec.size),
                )
                continue
            if cost > budget:
                return batch, True
            budget -= cost
            batch.append(rec)
        return batch, False

    def _disc_path(self, info: ConnectorInfo, rec: Recording) -> str:
        return rec.path + SUFFIX if info.encrypt else rec.path

    def _spool(
        self,
        store: DvdStore,
        info: ConnectorInfo,
        batch: list[Recording],
        archiver: Archiver,
        report: ArchiveReport,
        progress: Progress | None,
    ) -> dict[int, str]:
        """Put the batch into the store's spool, each checked against the catalogue; returns
        the SHA-256 sent per recording id. The spool is left holding exactly this batch."""
        wanted = {self._disc_path(info, rec) for rec in batch}
        for stale in store.pending():  # an interrupted run's leftovers: pending in the catalogue
            if stale.path not in wanted:
                store.remove(stale.path)
        writer = self.connectors.build_store(info.id, info.encrypt, sleep=archiver.sleep)
        sent: dict[int, str] = {}
        for done, rec in enumerate(batch, start=1):
            if archiver.stopping.is_set():
                report.status = "stopped"
                report.error = msg("the service is stopping; the next run goes on from here")
                raise _Stop
            try:
                source = ArchiveSource(self.catalogue.open_audio(rec), rec.size, rec.sha256)
            except Exception as exc:
                report.failed.append(rec.id)
                self._file_error(info, rec, str(exc))
                store.remove(self._disc_path(info, rec))
                continue
            try:
                # hashed as it is spooled; a file that no longer matches fails its last read
                writer.put(rec.path, source.stream, rec.size)
                sha = source.finish()
            except Exception as exc:
                if source.mismatch is not None:  # the file changed (whatever a store wrapped it in)
                    report.failed.append(rec.id)
                    self._file_error(info, rec, str(source.mismatch))
                    store.remove(self._disc_path(info, rec))
                    continue
                if not isinstance(exc, OSError):
                    raise
                self._dvd_alarm(
                    info,
                    report,
                    "write",
                    msg("spooling {path} failed: {error}", path=rec.path, error=exc),
                    volume_id="(spool)",
                    error=msg(
                        "spooling {path} in {spool} failed: {error}.",
                        path=rec.path,
                        spool=str(store.spool),
                        error=exc,
                    ),
                )
                raise _Stop from exc
            finally:
                source.close()
            sent[rec.id] = sha
            if progress is not None:
                progress(done, len(batch))
        return sent

    def _flush(
        self,
        store: DvdStore,
        info: ConnectorInfo,
        state: DiscState,
        batch: list[Recording],
        sent: dict[int, str],
        leftover: bool,
        report: ArchiveReport,
    ) -> tuple[FlushReport | None, bool]:
        """Write the spooled batch as one session. A batch xorriso finds too big loses its
        newest recordings until it fits (they stay pending and the disc counts as full); a
        failed write raises an alarm and ends the run (_Stop) with the batch pending."""
        queue = [rec for rec in batch if rec.id in sent]
        next_disc = make_volume_id(store.label, self.discs.next_sequence(store.label))
        volume = state.volume_id or next_disc
        while queue:
            try:
                return store.flush(close=leftover), leftover
            except DiscFull as full:
                excess = full.needed_bytes - full.free_bytes
                dropped = 0
                while queue and dropped < excess:
                    rec = queue.pop()
                    store.remove(self._disc_path(info, rec))
                    sent.pop(rec.id, None)
                    dropped += self._on_disc(info, rec.size)
                leftover = True
            except (ForeignDisc, WrongMedium, XorrisoError, VerifyFailed, Refused) as exc:
                store.media_changed()
                error = exc.message
                if not error.endswith("."):
                    error = msg("{error}.", error=exc.message)
                self._dvd_alarm(info, report, "write", error, volume_id=volume, error=error)
                raise _Stop from exc
        return None, leftover

    def _record(
        self,
        store: DvdStore,
        info: ConnectorInfo,
        flushed: FlushReport,
        batch: list[Recording],
        sent: dict[int, str],
        job: int,
        token: str,
        report: ArchiveReport,
    ) -> None:
        """One transaction: the disc's row, a copy per recording written, the connector's
        counters, earlier FILE_ERROR alarms of these recordings cleared, the lease renewed."""
        written: list[Recording] = []
        for rec in batch:
            on_disc = flushed.sha256.get(self._disc_path(info, rec))
            if rec.id not in sent or on_disc is None:
                continue
            if not info.encrypt and rec.sha256 and on_disc != rec.sha256:
                report.failed.append(rec.id)
                differs = msg("the copy on the disc differs from the catalogue")
                self._file_error(info, rec, differs)
                continue
            written.append(rec)
        media = store.disc().media
        now = _now()

        def apply(conn: sqlite3.Connection) -> int:
            disc_id = self.discs.record_session(
                conn, info.id, store.label, flushed.sequence, media, written
            )
            added = 0
            for rec in written:
                cur = conn.execute(
                    "INSERT INTO archive_copies (connector_id, recording_id, remote_path, size,"
                    " sha256, encrypted, archived_at, disc_id)"
                    " SELECT ?, ?, ?, ?, ?, ?, ?, ?"
                    " WHERE EXISTS (SELECT 1 FROM recordings WHERE id = ?)"
                    " ON CONFLICT DO NOTHING",
                    (
                        info.id,
                        rec.id,
                        rec.path,
                        rec.size,
                        sent[rec.id],
                        int(info.encrypt),
                        now,
                        disc_id,
                        rec.id,
                    ),
                )
                added += cur.rowcount
                conn.execute(
                    "UPDATE alarms SET cleared_at = ? WHERE dedupe_key = ? AND cleared_at IS NULL",
                    (now, f"{AlarmType.FILE_ERROR.value}:archive:{info.id}:{rec.id}:"),
                )
            if added:
                conn.execute(
                    "UPDATE connectors SET archived_count = archived_count + ?,"
                    " last_archived_at = ? WHERE id = ?",
                    (added, now, info.id),
                )
            conn.execute(
                "UPDATE jobs SET progress = ?, updated_at = ?"
                " WHERE id = ? AND json_extract(params, '$.token') = ? AND status = 'running'",
                (added, now, job, token),
            )
            return added

        added = self.db.write(apply)
        report.archived += added
        report.bytes += sum(rec.size for rec in written)
        log.info(
            "DVD %s: session %d on disc %s with %d recording(s), %s bytes free",
            info.name,
            flushed.session,
            flushed.volume_id,
            added,
            f"{flushed.free_bytes:,}",
        )

    # -- outcomes -----------------------------------------------------------------------------
    def _full(
        self,
        store: DvdStore,
        info: ConnectorInfo,
        report: ArchiveReport,
        volume_id: str,
        *,
        eject: bool,
    ) -> None:
        """The disc takes no more: never written again, ejected (when it has just filled up)
        and an alarm asks for a blank disc; the recordings left stay pending."""
        disc = self.discs.by_volume_id(volume_id) if volume_id else None
        if disc is not None:
            self.discs.mark_full(disc.id)
        if eject:
            try:
                store.eject()
            except XorrisoError as exc:
                log.warning("DVD %s: ejecting the full disc failed: %s", info.name, exc)
            self.discs.out_of_drive(info.id)
        self._clear(info, "write", "no_disc")
        if volume_id:
            shown: str = volume_id
            said = msg(
                "disc {volume_id} is full: insert a blank DVD+RW into {drive}",
                volume_id=volume_id,
                drive=store.drive,
            )
        else:
            shown = msg("in the drive")
            said = msg(
                "disc in the drive is full: insert a blank DVD+RW into {drive}", drive=store.drive
            )
        self._dvd_alarm(info, report, "full", said, volume_id=shown)

    def _dvd_alarm(
        self, info: ConnectorInfo, report: ArchiveReport, variant: str, summary: str, **params: Any
    ) -> None:
        """A DVD_ERROR alarm (repeats count up); the run ends with recordings pending, and the
        connector's list entry says why."""
        drive = info.settings.get("drive", "")
        self.alarms.raise_(
            AlarmType.DVD_ERROR,
            variant,
            dedupe=alarm_dedupe(info.id),
            name=info.name,
            drive=drive,
            **params,
        )
        report.status = "unreachable"
        report.error = summary
        if summary.endswith("."):
            message = msg("Connector {name}: {summary}", name=info.name, summary=summary)
        else:
            message = msg("Connector {name}: {summary}.", name=info.name, summary=summary)
        self.connectors.record_test(
            info.id, TestResult(info.name, Accessibility.UNREACHABLE, message, _now())
        )

    def _clear(self, info: ConnectorInfo, *variants: str) -> None:
        for variant in variants:
            self.alarms.clear(AlarmType.DVD_ERROR, variant, dedupe=alarm_dedupe(info.id))

    def _unreachable(self, info: ConnectorInfo, report: ArchiveReport, detail: str) -> None:
        state = Accessibility.UNREACHABLE
        report.status = "unreachable"
        report.error = msg("the DVD drive cannot be used ({detail})", detail=detail)
        self.connectors.record_test(
            info.id, TestResult(info.name, state, sentence(info.name, state, detail), _now())
        )
        self.alarms.raise_(
            AlarmType.ARCHIVE_ERROR,
            dedupe=alarm_dedupe(info.id),
            name=info.name,
            error=report.error,
        )

    def _accessible(self, info: ConnectorInfo, message: str) -> None:
        self.connectors.record_test(
            info.id, TestResult(info.name, Accessibility.OK, message, _now())
        )
        self.alarms.clear(AlarmType.ARCHIVE_ERROR, dedupe=alarm_dedupe(info.id))

    def _file_error(self, info: ConnectorInfo, rec: Recording, reason: str) -> None:
        self.alarms.raise_(
            AlarmType.FILE_ERROR,
            "archive",
            dedupe=f"{info.id}:{rec.id}:",
            file1=rec.path,
            file2=f"{info.name}:{rec.path}",
            reason=reason,
            recording=rec.id,
        )

    # -- drive events (the service follows the drives live) ------------------------------------
    def watch(self, on_insert: Callable[[], None]) -> None:
        """Follow the optical drives (udev, or :attr:`event_source`) and call ``on_insert`` when
        a disc goes into the active DVD connector's drive (or a drive holding one is plugged
        in). Followed from the start, so a DVD connector added later needs no restart."""
        with self._lock:
            if self._monitor is not None:
                return
            self._on_insert = on_insert
            try:
                if self.event_source is None:  # udev: start from the drives as they are now
                    source: EventSource = UdevEventSource()
                    initial = list_drives()
                else:
                    source, initial = self.event_source, []
                monitor = DriveMonitor(
                    self.on_drive_event, source, probe=self._probe, initial=initial
                )
                monitor.start()
            except Exception as exc:  # no udev here: archive runs still happen on schedule
                log.warning(
                    "cannot follow the DVD drives (%s); a disc inserted is noticed by the next "
                    "scheduled archive run",
                    exc,
                )
                return
            self._monitor = monitor

    def unwatch(self) -> None:
        with self._lock:
            monitor, self._monitor = self._monitor, None
            self._on_insert = None
        if monitor is not None:
            monitor.stop()

    def _for_node(self, node: str) -> list[ConnectorInfo]:
        found = [
            c
            for c in self.dvd_connectors()
            if c.settings.get("drive") == node or image_drive(c.settings.get("drive", ""))
        ]
        return sorted(found, key=lambda c: not c.active)

    def _probe(self, node: str) -> MediaInfo:
        found = self._for_node(node)
        if not found:
            raise NotFound(msg("No DVD connector uses the drive {drive}.", drive=node))
        return self.store_for(found[0]).x.media_info()

    def on_drive_event(self, event: DriveEvent) -> None:
        """A drive or disc changed: forget what was read from the disc, follow the catalogue
        states, and start an archive run when a disc went into the active connector's drive."""
        insert = False
        with_disc = event.drive is not None and event.drive.media
        for info in self._for_node(event.node):
            store = self.store_for(info)
            store.media_changed()
            if event.change in (Change.EJECTED, Change.DRIVE_REMOVED):
                self.discs.out_of_drive(info.id)
            elif event.change in (Change.INSERTED, Change.DRIVE_ADDED) and with_disc:
                self._inserted(info, store, event.media)
                insert = insert or info.active
        if insert and self._on_insert is not None:
            self._on_insert()

    def _inserted(self, info: ConnectorInfo, store: DvdStore, media: MediaInfo | None) -> None:
        if media is None:
            return
        if media.state is MediaState.BLANK:
            self._clear(info, "no_disc", "full", "foreign", "medium")
            return
        disc = self.discs.by_volume_id(media.volume_id) if media.volume_id else None
        if disc is not None and disc.connector_id == info.id:
            self.discs.seen_in_drive(info.id, disc.label, disc.sequence, media)

    # -- what people ask ----------------------------------------------------------------------
    def status(self, name: str | None = None) -> list[dict[str, Any]]:
        """Per DVD connector (or the one named): the drive, the disc in it, used and free
        space, pending recordings and when the disc will be full at the recent rate."""
        infos = [self.connector(name)] if name else self.dvd_connectors()
        return [self._status(info) for info in infos]

    def _status(self, info: ConnectorInfo) -> dict[str, Any]:
        store = self.store_for(info)
        pending = info.pending  # only the active connector has recordings waiting
        pending_bytes = self._pending_bytes(info.id) if pending else 0
        rate = self._daily_bytes()
        out: dict[str, Any] = {
            "connector": info.name,
            "active": info.active,
            "drive": store.drive,
            "label": store.label,
            "drive_state": "ready",
            "problem": None,
            "disc": None,
            "pending": pending,
            "pending_bytes": pending_bytes,
            "bytes_per_day": round(rate),
            "days_until_full": None,
            "discs": len(self.discs.list(info.id)),
        }
        try:
            store.media_changed()
            state = store.disc()
        except XorrisoError as exc:
            out["drive_state"] = "missing" if "cannot be opened" in exc.message else "error"
            out["problem"] = exc.message
            return out
        media = state.media
        disc = self._catalogued(store, state)
        full = (disc is not None and disc.full) or media.state is MediaState.CLOSED
        usable = media.dvd_plus_rw or media.image_file
        ours = state.kind is DiscKind.OURS
        out["disc"] = {
            "kind": str(state.kind),
            "volume_id": state.volume_id,
            "media_type": media.media_type,
            "dvd_plus_rw": usable,
            "full": full,
            "sessions": len(media.sessions),
            "used_bytes": media.used_bytes,
            "free_bytes": 0 if full else media.free_bytes,
            "capacity_bytes": media.capacity_bytes,
            "recordings": disc.recordings if disc is not None else 0,
            "bytes": disc.bytes if disc is not None else 0,
            "first_call": disc.first_call if disc is not None else None,
            "last_call": disc.last_call if disc is not None else None,
            # blanking: what :meth:`blank` must be confirmed with, and how many recordings
            # have no copy but this disc (then it refuses)
            "blank_token": Xorriso.blank_token(media) if ours else None,
            "only_copies": len(self.discs.only_here(disc.id, 1 << 30)) if disc is not None else 0,
        }
        if state.kind is DiscKind.ABSENT:
            out["problem"] = msg("There is no disc in {drive}.", drive=store.drive)
        elif state.kind is DiscKind.FOREIGN:
            out["problem"] = msg("{reason}: mm will not write it.", reason=state.opening)
        elif not usable and media.media_type:
            out["problem"] = msg(
                "The disc in {drive} is a {media_type}, not a DVD+RW: insert a DVD+RW.",
                drive=store.drive,
                media_type=media.media_type,
            )
        elif not usable:
            out["problem"] = msg(
                "The disc in {drive} is a disc of unknown type, not a DVD+RW: insert a DVD+RW.",
                drive=store.drive,
            )
        elif full:
            out["problem"] = msg(
                "Disc {volume_id} is full: insert a blank DVD+RW.", volume_id=state.volume_id
            )
        if state.kind in (DiscKind.BLANK, DiscKind.OURS) and usable and not full:
            room = max(0, media.free_bytes - pending_bytes)
            out["days_until_full"] = round(room / rate, 1) if rate > 0 else None
        elif full:
            out["days_until_full"] = 0.0
        return out

    def _pending_bytes(self, connector_id: int) -> int:
        row = self.db.query_one(
            "SELECT COALESCE(SUM(r.size), 0) FROM recordings r WHERE NOT EXISTS"
            " (SELECT 1 FROM archive_copies c WHERE c.connector_id = ? AND c.recording_id = r.id)",
            (connector_id,),
        )
        return int(row[0]) if row is not None else 0

    def _daily_bytes(self) -> float:
        """Bytes recorded per day over the last RATE_DAYS days of calls."""
        since = time.time() - RATE_DAYS * 86400
        row = self.db.query_one(
            "SELECT COALESCE(SUM(size), 0) FROM recordings WHERE start_ts >= ?", (since,)
        )
        return (int(row[0]) if row is not None else 0) / RATE_DAYS

    def glance(self, name: str | None = None) -> dict[str, Any]:
        """What can be told without touching the drive, for a front end that polls every few
        seconds: ``key`` changes whenever :meth:`status` may say something new (the image file
        or udev's view of the disc, the disc catalogue, the connector's counts, new
        recordings), and ``writing`` says an archive run is writing to the disc now, when the
        status is best not asked (it would run xorriso on the drive being written)."""
        info = self.connector(name)
        drive = info.settings.get("drive", "")
        discs = self.db.query_one(
            "SELECT COUNT(*), MAX(updated_at), TOTAL(recordings), TOTAL(used_bytes),"
            " GROUP_CONCAT(state) FROM dvd_discs WHERE connector_id = ?",
            (info.id,),
        )
        newest = self.db.query_one("SELECT MAX(id), COUNT(*) FROM recordings")
        seen = [
            [info.name, info.active, info.pending, info.archived_count, info.last_archived_at],
            sorted(info.settings.items()),
            _drive_seen(drive),
            list(discs) if discs is not None else None,
            list(newest) if newest is not None else None,
        ]
        writing = self._burning(info)
        return {
            "connector": info.name,
            "writing": writing,
            "key": json.dumps([seen, writing], default=str),
        }

    def discs_list(self) -> list[DiscInfo]:
        return self.discs.list()

    def find(self, recording_id: int) -> dict[str, Any]:
        """Which disc holds the recording (and whether its local file is still there)."""
        rec = self.catalogue.get(recording_id)
        row = self.db.query_one(
            "SELECT local_present FROM recordings WHERE id = ?", (recording_id,)
        )
        return {
            "recording": rec.id,
            "call_id": rec.details.call_id,
            "path": rec.path,
            "local": bool(row["local_present"]) if row is not None else False,
            "discs": [d.to_dict() for d in self.discs.holding(rec.id)],
        }

    def _burning(self, info: ConnectorInfo) -> bool:
        """Whether an archive run (of any process) is writing to the connector now."""
        row = self.db.query_one(
            "SELECT status, params, owner_pid FROM jobs WHERE kind = ? ORDER BY id LIMIT 1",
            (ARCHIVE_JOB,),
        )
        if row is None or row["status"] != "running" or not pid_alive(row["owner_pid"]):
            return False
        return bool(json.loads(row["params"]).get("connector", "").lower() == info.name.lower())

    def _refuse_while_burning(self, info: ConnectorInfo, refusal: Msg) -> None:
        """``refusal`` says what is not done ("Not ejecting: ...")."""
        if self._burning(info):
            raise Refused(refusal, msg("Wait until `mm archive status` shows it has finished."))

    def eject(self, name: str | None = None) -> dict[str, Any]:
        """Open the drive's tray; the disc's catalogue state follows."""
        info = self.connector(name)
        self._refuse_while_burning(
            info, msg("Not ejecting: an archive run is writing to {name} now.", name=info.name)
        )
        store = self.store_for(info)
        inside = self.discs.in_drive(info.id)
        store.eject()
        self.discs.out_of_drive(info.id)
        return {
            "connector": info.name,
            "drive": store.drive,
            "ejected": inside.volume_id if inside is not None else None,
        }

    def blank(self, confirm: str, name: str | None = None) -> dict[str, Any]:
        """Erase a disc of ours so it can be used again. ``confirm`` must be ``BLANK
        <volume id>``; refused for a foreign disc, and for a disc that holds the only copy of
        any recording. Its copies leave the catalogue: those recordings are archived again."""
        info = self.connector(name)
        self._refuse_while_burning(
            info, msg("Not blanking: an archive run is writing to {name} now.", name=info.name)
        )
        store = self.store_for(info)
        store.media_changed()
        state = store.disc()
        disc = self._catalogued(store, state)
        if disc is not None:
            only = self.discs.only_here(disc.id)
            if only:
                shown = ", ".join(str(i) for i in only)
                raise Refused(
                    msgn(
                        "Disc {volume_id} holds the only copy of recording(s) {ids} (their "
                        "local files are gone); blanking it would lose them.",
                        len(only),
                        volume_id=disc.volume_id,
                        ids=shown,
                    ),
                    msg("Keep this disc: mm plays those recordings from it."),
                )
        was = state.volume_id if state.kind is DiscKind.OURS else None
        store.erase(confirm)
        dropped = self.discs.blanked(disc.id) if disc is not None else 0
        return {
            "connector": info.name,
            "drive": store.drive,
            "blanked": was,
            "copies_dropped": dropped,
        }

    def erase_token(self, name: str | None = None) -> str:
        store = self.store_for(self.connector(name))
        store.media_changed()
        return store.erase_token()

    # -- reading a copy -----------------------------------------------------------------------
    def require_disc(self, recording_id: int, connector: str, volume_id: str) -> None:
        """Return when disc ``volume_id`` is in the connector's drive; else DiscNeeded, which
        names the disc to insert and the drive."""
        info = self.connectors.get(connector)
        store = self.store_for(info)
        try:
            state = store.disc()
        except XorrisoError as exc:
            found = msg("the drive cannot be read: {error}", error=exc.message)
            raise DiscNeeded(recording_id, volume_id, store.drive, found) from None
        if state.kind is DiscKind.OURS and state.volume_id == volume_id:
            return
        if state.kind is DiscKind.ABSENT:
            found = msg("there is no disc in it")
        elif state.kind is DiscKind.BLANK:
            found = msg("it holds a blank disc")
        elif state.kind is DiscKind.OURS:
            found = msg("it holds disc {volume_id}", volume_id=state.volume_id)
        else:
            found = msg("it holds a disc that is not ours")
        raise DiscNeeded(recording_id, volume_id, store.drive, found)


__all__ = ["DiscNeeded", "DvdArchive"]
