"""The archive job (seed F14, F17, F19): copy every recording to the active connector.

Every run takes what is pending (recordings with no copy on the active connector, old ones
included, oldest call first), writes each through the connector's store (retry, then crypt when
the connector encrypts), checks what arrived, and records each copy in its own transaction, so a
run cut short anywhere resumes where it stopped and never copies a recording twice.

Checking a copy: the SHA-256 and size of the bytes to send must match the catalogue (a damaged
local file is not archived), the size the store reports for the written object must match, and
its last 64 KiB are read back to the end of the object and compared (so a longer or shorter
object fails too). For an encrypted copy that read also authenticates the final chunk, so a cut or
wrongly keyed file is caught. The whole file is not read back: archives are often cloud buckets
that charge for every byte read, and a full read would halve the throughput the seed asks for;
`mm recordings verify` reads a whole archive copy when the local file is gone.

An unreachable connector raises one ARCHIVE_ERROR alarm (repeats count up), ends the run at the
first failure, and the next run catches up by itself; a successful run clears the alarm. A
recording that cannot be read here raises FILE_ERROR for it, and the run goes on.

Two runs at once (the service's schedule and `mm archive run`) are kept apart by a lease: the
one ``jobs`` row of kind ``archive`` is taken in a write transaction, renewed with every copy,
and taken over only when its holder's process is gone or silent for an hour.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.archive_source import ArchiveSource
from mm_engine.catalogue import Catalogue, recording_from_row
from mm_engine.connectors import (
    REASONS,
    ConnectorInfo,
    Connectors,
    TestResult,
    alarm_dedupe,
    scrub,
    sentence,
)
from mm_engine.db import Database
from mm_engine.domain import Recording
from mm_engine.search import COLUMNS
from mm_engine.storage.base import Accessibility, Store
from mm_engine.storage.crypt import CryptError
from mm_engine.text import Msg, msg

if TYPE_CHECKING:
    from mm_engine.dvd.archive import DvdArchive

log = logging.getLogger(__name__)

KIND = "archive"
BATCH = 200
RECORD_BATCH = 64  # copies per catalogue transaction (_Recorder)
RECORD_EVERY = 2.0  # seconds a made copy may wait to be recorded
STALE_SECONDS = 3600  # a lease not renewed this long is taken over even if its pid lives
Progress = Callable[[int, int], None]
# Copies under way at once, per storage type: while one waits for the server's answer another
# sends (rclone keeps 4 in flight). Each runs on its own store, so its own connection. The
# rest, a local folder and Google Drive (its quota counts requests per user), copy one by one.
COPIES_IN_FLIGHT: dict[str, int] = {"smb": 2, "s3": 4, "gcs": 4, "azure": 4}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _age_seconds(stamp: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ArchiveReport:
    """What one run did. ``status``: done, unreachable, busy (another run holds the lease),
    no-connector, or stopped (the service is stopping, or the lease was taken over)."""

    status: str
    connector: str | None = None
    archived: int = 0
    bytes: int = 0
    failed: list[int] = field(default_factory=list)
    pending: int = 0
    error: str = ""
    started_at: str = field(default_factory=_now)
    finished_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _ConnectorDown(Exception):
    """The store failed while the source was fine: the connector, not the recording."""


class _FileProblem(Exception):
    """This recording cannot be archived now; the run goes on."""


class _Recorder:
    """Copies made and checked, recorded together: one transaction (and one fsync) per
    :data:`RECORD_BATCH` copies or :data:`RECORD_EVERY` seconds, whichever comes first, not
    one per copy. Each commit waits for the disk, and on a machine whose disk is busy (the NAS
    writing, in the bench) a commit per 5 MB recording held the run back. A crash loses at
    most the last few records: those recordings are still pending and are copied again."""

    def __init__(
        self, archiver: Archiver, info: ConnectorInfo, job: int, token: str, report: ArchiveReport
    ) -> None:
        self.archiver, self.info, self.job, self.token = archiver, info, job, token
        self.report = report
        self.waiting: list[tuple[Recording, str]] = []
        self.since = time.monotonic()
        self.done = 0

    def add(self, rec: Recording, sha: str, done: int) -> bool:
        """Record ``rec`` soon; False when the run's lease was found taken over."""
        self.waiting.append((rec, sha))
        self.done = done
        if len(self.waiting) >= RECORD_BATCH or time.monotonic() - self.since >= RECORD_EVERY:
            return self.flush()
        return True

    def flush(self) -> bool:
        """Record what is waiting now; False when the lease was taken over."""
        if not self.waiting:
            return True
        made, self.waiting = self.waiting, []
        self.since = time.monotonic()
        ours = self.archiver._record(self.info, made, self.job, self.token, self.done)
        self.report.archived += len(made)
        self.report.bytes += sum(rec.size for rec, _ in made)
        return ours


class _StorePerThread:
    """One store per copying thread, so a backend's connection (an SMB session, an HTTP
    pool) is never shared between threads; the first is the one the run tested."""

    def __init__(self, first: Store, build: Callable[[], Store]) -> None:
        self.first = first
        self._build = build
        self._local = threading.local()
        self._lock = threading.Lock()
        self._spare = [first]
        self._built: list[Store] = []

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            with self._lock:
                store = self._spare.pop() if self._spare else None
            if store is None:
                store = self._build()
                with self._lock:
                    self._built.append(store)
            self._local.store = store
        return store

    def close(self) -> None:
        """Close the stores built here (their connections); the first is the caller's."""
        for built in self._built:
            layer: object = built  # through the retry / crypt / progress wrappers
            while layer is not None:
                close = getattr(layer, "close", None)
                if callable(close):
                    with contextlib.suppress(Exception):
                        close()
                    break
                layer = getattr(layer, "inner", None)


class Archiver:
    def __init__(
        self,
        db: Database,
        connectors: Connectors,
        catalogue: Catalogue,
        alarms: Alarms,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.connectors = connectors
        self.catalogue = catalogue
        self.alarms = alarms
        self.sleep = sleep
        self.stopping = threading.Event()
        """Set when the service stops: a run ends after the file it is copying."""
        self.dvd: DvdArchive | None = None
        """DVD connectors write a disc session per run instead (set by the engine)."""

    # -- the lease ----------------------------------------------------------------------------
    def _take_lease(self, connector: str, total: int) -> tuple[int, str] | None:
        token = uuid.uuid4().hex
        params = json.dumps({"token": token, "connector": connector})

        def take(conn: sqlite3.Connection) -> tuple[int, str] | None:
            row = conn.execute(
                "SELECT id, status, owner_pid, updated_at FROM jobs WHERE kind = ?"
                " ORDER BY id LIMIT 1",
                (KIND,),
            ).fetchone()
            now = _now()
            if row is not None:
                held = row["status"] == "running" and pid_alive(row["owner_pid"])
                if held and _age_seconds(row["updated_at"]) < STALE_SECONDS:
                    return None
                conn.execute(
                    "UPDATE jobs SET status = 'running', params = ?, progress = 0, total = ?,"
                    " result = '', created_at = ?, updated_at = ?, owner_pid = ? WHERE id = ?",
                    (params, total, now, now, os.getpid(), row["id"]),
                )
                return int(row["id"]), token
            cur = conn.execute(
                "INSERT INTO jobs (kind, status, params, total, created_at, updated_at, owner_pid)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (KIND, params, total, now, now, os.getpid()),
            )
            return int(cur.lastrowid or 0), token

        return self.db.write(take)

    def _release(self, job: int, token: str, report: ArchiveReport) -> None:
        status = "done" if report.status == "done" else "failed"
        self.db.execute_write(
            "UPDATE jobs SET status = ?, result = ?, updated_at = ?"
            " WHERE id = ? AND json_extract(params, '$.token') = ?",
            (status, json.dumps(report.to_dict()), _now(), job, token),
        )

    # -- a run --------------------------------------------------------------------------------
    def run_once(self, progress: Progress | None = None) -> ArchiveReport:
        """Archive everything pending on the active connector; see the module docstring."""
        info = self.connectors.active()
        if info is None:
            return ArchiveReport("no-connector", finished_at=_now())
        lease = self._take_lease(info.name, info.pending)
        if lease is None:
            return ArchiveReport(
                "busy",
                connector=info.name,
                pending=info.pending,
                error=msg("another archive run is in progress"),
                finished_at=_now(),
            )
        job, token = lease
        report = ArchiveReport("done", connector=info.name)
        try:
            self._run(info, job, token, report, progress)
        except BaseException as exc:
            report.status = "failed"
            detail = scrub(str(exc), self.connectors.secrets_of(info.id))
            report.error = report.error or f"{type(exc).__name__}: {detail}"
            raise
        finally:
            report.pending = self.connectors.pending_count(info.id)
            report.finished_at = _now()
            self._release(job, token, report)
        log.info(
            "archive run to %s: %s, %d archived, %d failed, %d pending",
            info.name,
            report.status,
            report.archived,
            len(report.failed),
            report.pending,
        )
        return report

    def _down(
        self, info: ConnectorInfo, report: ArchiveReport, state: Accessibility, detail: str = ""
    ) -> None:
        """The connector failed: one alarm (repeats count up), the state remembered."""
        reason = Msg(REASONS[state])
        error = msg("{reason} ({detail})", reason=reason, detail=detail) if detail else reason
        report.status = "unreachable"
        report.error = error
        self.connectors.record_test(
            info.id, TestResult(info.name, state, sentence(info.name, state, detail), _now())
        )
        self.alarms.raise_(
            AlarmType.ARCHIVE_ERROR, dedupe=alarm_dedupe(info.id), name=info.name, error=error
        )

    def _run(
        self,
        info: ConnectorInfo,
        job: int,
        token: str,
        report: ArchiveReport,
        progress: Progress | None,
    ) -> None:
        if self.dvd is not None and info.kind == "dvd":  # one verified session per run
            self.dvd.archive(self, info, job, token, report, progress)
            return
        secrets = self.connectors.secrets_of(info.id)
        try:
            store = self.connectors.build_store(info.id, info.encrypt, sleep=self.sleep)
            state = store.test()
        except Exception as exc:
            self._down(info, report, Accessibility.UNREACHABLE, scrub(str(exc), secrets))
            return
        if state is not Accessibility.OK:
            self._down(info, report, state)
            return
        total = info.pending
        workers = COPIES_IN_FLIGHT.get(info.kind, 1)
        stores = _StorePerThread(
            store, lambda: self.connectors.build_store(info.id, info.encrypt, sleep=self.sleep)
        )
        in_flight: deque[tuple[Recording, Future[str]]] = deque()
        recorder = _Recorder(self, info, job, token, report)
        done = 0

        def settle_oldest() -> bool:
            nonlocal done
            done += 1
            going_on = self._settle(stores, in_flight.popleft(), info, recorder, done)
            if going_on and progress is not None:
                progress(done, max(total, done))
            return going_on

        with ThreadPoolExecutor(workers, thread_name_prefix="mm-archive") as pool:
            try:
                for rec in self._pending(info.id, total):
                    if self.stopping.is_set():
                        report.status = "stopped"
                        report.error = msg(
                            "the service is stopping; the next run goes on from here"
                        )
                        return
                    in_flight.append((rec, pool.submit(self._copy_with, stores, info, rec)))
                    if len(in_flight) >= workers and not settle_oldest():
                        return
                while in_flight:
                    if not settle_oldest():
                        return
            finally:
                # copies already under way finish and are recorded: they were made and checked
                for rec, future in in_flight:
                    with contextlib.suppress(Exception):
                        recorder.add(rec, future.result(), done)
                recorder.flush()
                stores.close()
        self.connectors.record_test(
            info.id,
            TestResult(
                info.name,
                Accessibility.OK,
                msg("Archive run at {time} succeeded.", time=_now()),
                _now(),
            ),
        )
        self.alarms.clear(AlarmType.ARCHIVE_ERROR, dedupe=alarm_dedupe(info.id))

    def _pending(self, connector_id: int, total: int) -> Iterator[Recording]:
        """Recordings with no copy on the connector, oldest call first, a batch at a time.
        ``total`` is the pending count (two index counts): when it is 0 the walk, which probes
        every recording (about 0.4 s per million), is skipped."""
        after: tuple[float, int] = (-1e300, 0)
        while total:
            rows = self.db.query(
                f"SELECT {COLUMNS} FROM recordings r WHERE (r.start_ts, r.id) > (?, ?)"
                " AND NOT EXISTS (SELECT 1 FROM archive_copies c"
                "   WHERE c.connector_id = ? AND c.recording_id = r.id)"
                " ORDER BY r.start_ts, r.id LIMIT ?",
                (*after, connector_id, BATCH),
            )
            if not rows:
                return
            for row in rows:
                after = (row["start_ts"], row["id"])
                yield recording_from_row(row)

    def _copy_with(self, stores: _StorePerThread, info: ConnectorInfo, rec: Recording) -> str:
        return self._copy(stores.get(), info, rec)

    def _settle(
        self,
        stores: _StorePerThread,
        entry: tuple[Recording, Future[str]],
        info: ConnectorInfo,
        recorder: _Recorder,
        done: int,
    ) -> bool:
        """Record the oldest copy in flight (in the order they were started); False when the
        run must end: the connector failed or another run took over."""
        rec, future = entry
        report = recorder.report
        try:
            sha = future.result()
        except _FileProblem as problem:
            report.failed.append(rec.id)
            secrets = self.connectors.secrets_of(info.id)  # unsealed only when needed
            self._file_error(info, rec, scrub(str(problem), secrets))
            return True
        except _ConnectorDown as down:
            recorder.flush()  # what was made before stays recorded
            state = self._state_after_failure(stores.first)
            self._down(info, report, state, scrub(str(down), self.connectors.secrets_of(info.id)))
            return False
        if not recorder.add(rec, sha, done):
            report.status = "stopped"
            report.error = msg("another archive run took over")
            return False
        return True

    @staticmethod
    def _state_after_failure(store: Store) -> Accessibility:
        try:
            state = store.test()
        except Exception:
            return Accessibility.UNREACHABLE
        return Accessibility.UNREACHABLE if state is Accessibility.OK else state

    def _copy(self, store: Store, info: ConnectorInfo, rec: Recording) -> str:
        """Write one recording and check the copy; returns the SHA-256 sent."""
        try:
            source = ArchiveSource(self.catalogue.open_audio(rec), rec.size, rec.sha256)
        except Exception as exc:
            raise _FileProblem(str(exc)) from exc
        try:
            try:
                # hashed as the store reads it: a file that no longer matches its catalogued
                # checksum fails its last read, before the store finishes the copy (a
                # recording migrated without a checksum has nothing to compare, F29)
                stored = store.put(rec.path, source.stream, rec.size)
            except Exception as exc:
                if source.mismatch is not None:
                    raise _FileProblem(str(source.mismatch)) from exc
                raise _ConnectorDown(
                    msg("writing {path} failed: {error}", path=rec.path, error=exc)
                ) from exc
            try:
                sha = source.finish()  # a store that stopped reading early: the rest, here
            except Exception as exc:
                self._discard(store, rec.path)
                raise _FileProblem(str(exc)) from exc
        finally:
            source.close()
        tail = source.tail
        try:
            # put() reports the stored size, so no stat() is needed; the last bytes come from
            # put() too when the store read them back as it finished (SMB), otherwise they
            # are read here
            if stored.size != rec.size:
                raise _FileProblem(
                    msg(
                        "the copy holds {held} bytes, not {size} bytes",
                        held=stored.size,
                        size=rec.size,
                    )
                )
            if stored.tail is not None and len(stored.tail) >= len(tail):
                back = stored.tail[len(stored.tail) - len(tail) :]  # read back by put() itself
            else:
                with store.open(rec.path, max(0, rec.size - len(tail)), len(tail)) as fh:
                    back = fh.read()
        except _FileProblem:
            self._discard(store, rec.path)
            raise
        except CryptError as exc:
            self._discard(store, rec.path)
            raise _FileProblem(
                msg("the encrypted copy does not read back: {error}", error=exc)
            ) from exc
        except Exception as exc:
            raise _ConnectorDown(
                msg("checking {path} failed: {error}", path=rec.path, error=exc)
            ) from exc
        if back != tail:
            self._discard(store, rec.path)
            raise _FileProblem(msg("the copy read back differs from what was sent"))
        return sha

    @staticmethod
    def _discard(store: Store, path: str) -> None:
        try:
            store.remove(path)
        except Exception as exc:  # the message only: a traceback could quote a secret
            log.warning("could not remove the bad archive copy %s (%s)", path, type(exc).__name__)

    def _record(
        self,
        info: ConnectorInfo,
        made: list[tuple[Recording, str]],
        job: int,
        token: str,
        done: int,
    ) -> bool:
        """One transaction for copies made and checked: their rows, the connector's counters,
        clearing earlier FILE_ERRORs for these recordings, and renewing the lease. False when
        the lease was taken over (the copies are recorded all the same: they were made and
        checked)."""
        now = _now()

        def apply(conn: sqlite3.Connection) -> bool:
            added = 0
            for rec, sha in made:
                cur = conn.execute(
                    "INSERT INTO archive_copies (connector_id, recording_id, remote_path, size,"
                    " sha256, encrypted, archived_at)"
                    " SELECT ?, ?, ?, ?, ?, ?, ?"
                    " WHERE EXISTS (SELECT 1 FROM recordings WHERE id = ?)"
                    " ON CONFLICT DO NOTHING",
                    (info.id, rec.id, rec.path, rec.size, sha, int(info.encrypt), now, rec.id),
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
            lease = conn.execute(
                "UPDATE jobs SET progress = ?, updated_at = ?"
                " WHERE id = ? AND json_extract(params, '$.token') = ? AND status = 'running'",
                (done, now, job, token),
            )
            return lease.rowcount == 1

        return self.db.write(apply)

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

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Per connector: pending, archived, last archive; and the current or last run."""
        row = self.db.query_one(
            "SELECT status, params, progress, total, result, created_at, updated_at, owner_pid"
            " FROM jobs WHERE kind = ? ORDER BY id LIMIT 1",
            (KIND,),
        )
        running = None
        last_run = None
        if row is not None:
            if row["status"] == "running" and pid_alive(row["owner_pid"]):
                running = {
                    "connector": json.loads(row["params"]).get("connector"),
                    "started_at": row["created_at"],
                    "progress": row["progress"],
                    "total": row["total"],
                    "pid": row["owner_pid"],
                }
            if row["result"]:
                last_run = json.loads(row["result"])
        return {
            "connectors": [
                {
                    "name": c.name,
                    "type": c.kind,
                    "active": c.active,
                    "pending": c.pending,
                    "archived": c.archived_count,
                    "last_archived_at": c.last_archived_at,
                    "accessible": c.accessibility,
                }
                for c in self.connectors.list()
            ],
            "running": running,
            "last_run": last_run,
        }
