"""Migrating a Contact Recorder tree into the catalogue (seed F36-F40).

Only metadata and file locations move (F36): every recording stays where it is, and its row
says so. ``migrated_recordings.root`` is the legacy folder the row's relative ``path`` lives in,
and ``local_present = 0`` because the file is not in the call storage, so storage moves and
retention leave it alone; :meth:`Catalogue.open_audio` reads it in place. An authenticated legacy
recording (VRLA) keeps the SHA-256 it came with in ``sha256`` and is signed here over that
checksum and its details, so verification checks the legacy file against the legacy checksum
and the row against our signature. A recording that came without a checksum has ``sha256 = ''``
and shows "cannot verify": nothing vouches for its content.

Legacy connectors become connectors named ``MigratedX-Timestamp`` with their secrets left empty
(F37); of a recording's archive copies only the one on the newest connector is recorded. Alarms
and settings are not migrated (F38): the summary only counts what it left behind.

A run is a ``jobs`` row of kind :data:`KIND` owned by its process. Rows and connectors it makes
carry the job's id (``migrated_recordings.job_id``, ``migrated_connectors.job_id``), written in
the same transactions, so after an interruption (F39) the next run first removes exactly what
the unfinished run made, and its connectors unless they were renamed since. A completed run's
records are not migrated twice: a second run over the same tree skips them ("already migrated")
and reuses the connectors the completed run made, renamed or not.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mm_engine.catalogue import NewRecording, insert_recording, next_seq
from mm_engine.config import problem
from mm_engine.contact_recorder.legacy_format import (
    LegacyCall,
    LegacyConnector,
    LegacyFormatError,
    LegacySettings,
    mm_settings,
    parse_call,
    parse_connector_file,
)
from mm_engine.db import Database
from mm_engine.errors import InvalidInput, InvalidSetting, Refused
from mm_engine.signing import Signer
from mm_engine.storage import registry
from mm_engine.storage.fields import Field, validate
from mm_engine.text import N_, msg, msgn

log = logging.getLogger(__name__)

KIND = "contact-recorder-migration"
CONNECTOR_FILE = "connectors.xml"
BATCH = 500
MAX_LISTED = 1000  # skipped files and warnings listed one by one in a summary
STALE_SECONDS = 3600  # a run silent this long is taken as interrupted even if its pid lives
SOURCE_KEY_PREFIX = "contact-recorder:"
AUDIO_SUFFIXES = (".wav", ".WAV", ".Wav")

# skip categories: the headings the summary counts reasons under
NO_DETAILS = N_("no call details file")
UNREADABLE = N_("call details unreadable")
NO_RECORDING = N_("recording file missing")
AUDIO_UNREADABLE = N_("recording unreadable")
ALREADY = N_("already migrated")
PATH_TAKEN = N_("path already catalogued")


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    """The form archive times take everywhere (as mm_engine/archiving.py writes them)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class MigrationProgress:
    """Where a run is. ``phase``: "removing" (the interrupted run's rows, F39), "scanning" (the
    tree; ``total`` still 0) or "migrating"; counts are committed work."""

    phase: str
    done: int
    total: int
    migrated: int = 0
    skipped: int = 0

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0


Progress = Callable[[MigrationProgress], None]


@dataclass(frozen=True)
class Skip:
    file: str  # relative to the source folder
    reason: str  # a sentence about that file
    category: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason, "category": self.category}


@dataclass
class Summary:
    source: str
    connectors_file: str
    started_at: str
    total: int = 0
    migrated: int = 0
    authenticated: int = 0  # of the migrated, with a usable legacy checksum
    remote_only: int = 0  # of the migrated, known only by an archive location
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_files: list[Skip] = field(default_factory=list)
    warnings: int = 0
    warning_files: list[Skip] = field(default_factory=list)
    connectors_created: list[dict[str, Any]] = field(default_factory=list)
    connectors_reused: list[dict[str, Any]] = field(default_factory=list)
    connectors_skipped: list[dict[str, Any]] = field(default_factory=list)
    archive_locations_dropped: dict[str, int] = field(default_factory=dict)
    removed_first: dict[str, Any] | None = None
    not_migrated: dict[str, int] = field(default_factory=dict)
    status: str = "running"
    finished_at: str = ""
    elapsed_s: float = 0.0

    def skip(self, skip: Skip) -> None:
        self.skipped += 1
        self.skipped_by_reason[skip.category] = self.skipped_by_reason.get(skip.category, 0) + 1
        if len(self.skipped_files) < MAX_LISTED:
            self.skipped_files.append(skip)

    def warn(self, file: str, messages: list[str]) -> None:
        for message in messages:
            self.warnings += 1
            if len(self.warning_files) < MAX_LISTED:
                self.warning_files.append(Skip(file, message, "warning"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "connectors_file": self.connectors_file,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_s": self.elapsed_s,
            "records_per_s": round(self.total / self.elapsed_s, 1) if self.elapsed_s else None,
            "total": self.total,
            "migrated": self.migrated,
            "authenticated": self.authenticated,
            "remote_only": self.remote_only,
            "skipped": self.skipped,
            "skipped_by_reason": dict(self.skipped_by_reason),
            "skipped_files": [s.to_dict() for s in self.skipped_files],
            "warnings": self.warnings,
            "warning_files": [{"file": w.file, "warning": w.reason} for w in self.warning_files],
            "connectors_created": list(self.connectors_created),
            "connectors_reused": list(self.connectors_reused),
            "connectors_skipped": list(self.connectors_skipped),
            "archive_locations_dropped": dict(self.archive_locations_dropped),
            "removed_first": self.removed_first,
            "not_migrated": dict(self.not_migrated),
        }


@dataclass(frozen=True)
class _Target:
    """A legacy connector as migrated: where its archive copies are recorded."""

    connector_id: int
    name: str
    newness: tuple[float, int]  # (created, position in the file): the larger, the newer


@dataclass(frozen=True)
class _Item:
    """A call-details file and its recording, as '/'-paths relative to the source folder."""

    xml: str | None
    wav: str | None


@dataclass(frozen=True)
class _Ready:
    file: str
    rec: NewRecording
    names: str
    copy: tuple[int, str, str] | None  # connector id, remote path, archived at
    warnings: list[str]
    local: bool


@dataclass(frozen=True)
class _Pending:
    """A batch being written: what it holds, and the write's outcome to come."""

    written: Future[list[int | Skip]]
    ready: list[_Ready]
    skips: list[Skip]
    done: int


def _optional_secrets(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """F37: a migrated connector's secrets stay empty, so they may be missing here."""
    return tuple(replace(f, required=False, check=None) if f.secret else f for f in fields)


def walk(root: Path, exclude: Path | None = None) -> Iterator[_Item]:
    """Every call-details file (with its recording, if any) and every recording without one,
    folder by folder in name order; hidden files and folders are passed over."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        names = set(files)
        used: set[str] = set()
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(".xml"):
                continue
            if exclude is not None and Path(folder, name) == exclude:
                continue
            stem = name[:-4]
            wav = next((stem + s for s in AUDIO_SUFFIXES if stem + s in names), None)
            if wav is not None:
                used.add(wav)
            yield _Item(prefix + name, prefix + wav if wav else None)
        for name in sorted(files):
            if name.startswith(".") or name in used or not name.lower().endswith(".wav"):
                continue
            yield _Item(None, prefix + name)


def _stem(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


class ContactRecorderMigration:
    """One migration run at a time per installation (a ``jobs`` row) and per process."""

    _running = threading.Lock()

    def __init__(self, db: Database, signer: Signer) -> None:
        self.db = db
        self.signer = signer

    # -- the run ------------------------------------------------------------------------------
    def run(
        self,
        source: Path | str,
        connectors_file: Path | str | None = None,
        progress: Progress | None = None,
    ) -> Summary:
        root = Path(source).expanduser().absolute()
        if not root.is_dir():
            raise InvalidInput(
                msg("{path} is not a folder.", path=root),
                msg(
                    "Give the folder that holds the Contact Recorder recordings (.wav with an "
                    ".xml beside each)."
                ),
            )
        settings_path = (
            Path(connectors_file).expanduser().absolute()
            if connectors_file
            else root / CONNECTOR_FILE
        )
        if connectors_file and not settings_path.is_file():
            raise InvalidInput(
                msg("The connector settings file {path} does not exist.", path=settings_path),
                msg("Give the Contact Recorder connector settings file, or leave the option out."),
            )
        if not self._running.acquire(blocking=False):
            raise Refused(
                msg("A Contact Recorder migration is already running in this program."),
                msg("Wait for it to finish."),
            )
        try:
            started = _now()
            summary = Summary(str(root), str(settings_path), _stamp(started))
            legacy = self._read_settings(settings_path, summary)  # before anything changes
            job, stale = self._take_job(root, settings_path, started)
            try:
                self._run(job, stale, root, settings_path, legacy, started, summary, progress)
            except BaseException as exc:
                self._finish(job, "failed", {"error": str(exc) or type(exc).__name__})
                raise
            return summary
        finally:
            self._running.release()

    def _run(
        self,
        job: int,
        stale: list[int],
        root: Path,
        settings_path: Path,
        legacy: LegacySettings,
        started: datetime,
        summary: Summary,
        progress: Progress | None,
    ) -> None:
        t0 = time.perf_counter()
        if stale:
            summary.removed_first = self._remove_runs(job, stale, progress)
        if progress is not None:
            progress(MigrationProgress("scanning", 0, 0))
        items = list(walk(root, settings_path))
        summary.total = len(items)
        self._update(job, total=len(items))
        targets = self._connectors(job, root, legacy, started, summary)
        if progress is not None:
            progress(MigrationProgress("migrating", 0, len(items)))
        total = len(items)
        # one batch is written while the next is read: SQLite lets go of the GIL as it works
        pending: _Pending | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="mm-migrate-write") as pool:
            for start in range(0, total, BATCH):
                batch = items[start : start + BATCH]
                ready: list[_Ready] = []
                skips: list[Skip] = []
                for item in batch:
                    prepared = self._prepare(root, item, targets, started, summary)
                    if isinstance(prepared, Skip):
                        skips.append(prepared)
                    else:
                        ready.append(prepared)
                if pending is not None:
                    self._absorb(pending, summary, total, progress)
                done = start + len(batch)
                commit = functools.partial(
                    self._commit, job=job, root=str(root), ready=ready, done=done
                )
                pending = _Pending(pool.submit(self.db.write, commit), ready, skips, done)
            if pending is not None:
                self._absorb(pending, summary, total, progress)
        summary.status = "done"
        summary.finished_at = _stamp(_now())
        summary.elapsed_s = round(time.perf_counter() - t0, 3)
        self._finish(job, "done", summary.to_dict())
        log.info(
            "contact recorder migration from %s: %d migrated, %d skipped",
            root,
            summary.migrated,
            summary.skipped,
        )

    @staticmethod
    def _absorb(pending: _Pending, summary: Summary, total: int, progress: Progress | None) -> None:
        """Count a written batch into the summary, then report progress."""
        outcome = pending.written.result()
        for skip in pending.skips:
            summary.skip(skip)
        for entry, result in zip(pending.ready, outcome, strict=True):
            if isinstance(result, Skip):
                summary.skip(result)
                continue
            summary.migrated += 1
            summary.authenticated += bool(entry.rec.sha256)
            summary.remote_only += not entry.local
            summary.warn(entry.file, entry.warnings)
        if progress is not None:
            progress(
                MigrationProgress(
                    "migrating", pending.done, total, summary.migrated, summary.skipped
                )
            )

    # -- the job ------------------------------------------------------------------------------
    def _take_job(
        self, root: Path, settings_path: Path, started: datetime
    ) -> tuple[int, list[int]]:
        """A new job for this run, and the unfinished runs to undo first (F39)."""
        params = json.dumps({"source": str(root), "connectors_file": str(settings_path)})
        me = os.getpid()

        def take(conn: sqlite3.Connection) -> tuple[int, list[int]]:
            rows = conn.execute(
                "SELECT id, status, owner_pid, updated_at FROM jobs"
                " WHERE kind = ? AND status IN ('running', 'failed') ORDER BY id",
                (KIND,),
            ).fetchall()
            for row in rows:
                silent = (started - datetime.fromisoformat(row["updated_at"])).total_seconds()
                if (
                    row["status"] == "running"
                    and row["owner_pid"] != me
                    and _pid_alive(row["owner_pid"])
                    and silent < STALE_SECONDS
                ):
                    raise Refused(
                        msg(
                            "A Contact Recorder migration is already running (process {pid}).",
                            pid=row["owner_pid"],
                        ),
                        msg(
                            "Wait for it to finish, or stop that process: the next run then "
                            "removes what it migrated and starts over."
                        ),
                    )
            cur = conn.execute(
                "INSERT INTO jobs (kind, status, params, created_at, updated_at, owner_pid)"
                " VALUES (?, 'running', ?, ?, ?, ?)",
                (KIND, params, _stamp(started), _stamp(started), me),
            )
            return int(cur.lastrowid or 0), [int(r["id"]) for r in rows]

        return self.db.write(take)

    def _update(self, job: int, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute_write(
            f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?",
            (*fields.values(), _stamp(_now()), job),
        )

    def _finish(self, job: int, status: str, result: dict[str, Any]) -> None:
        self._update(job, status=status, result=json.dumps(result, ensure_ascii=False))

    # -- F39: undoing an interrupted run ------------------------------------------------------
    def _remove_runs(self, job: int, stale: list[int], progress: Progress | None) -> dict[str, Any]:
        """Remove the rows and connectors the unfinished runs made (renamed connectors, and
        ones archiving has used since, stay). Each step is its own transaction and the runs are
        marked cancelled only at the end, so an interruption here is undone by the next run."""
        marks = ",".join("?" * len(stale))
        row = self.db.query_one(
            f"SELECT count(*) FROM migrated_recordings WHERE job_id IN ({marks})", stale
        )
        total = int(row[0]) if row else 0
        removed = 0

        def chunk(conn: sqlite3.Connection) -> int:
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT recording_id FROM migrated_recordings WHERE job_id IN ({marks})"
                    " LIMIT ?",
                    (*stale, BATCH),
                )
            ]
            if ids:
                conn.execute(
                    f"DELETE FROM recordings WHERE id IN ({','.join('?' * len(ids))})", ids
                )
            return len(ids)

        while n := self.db.write(chunk):
            removed += n
            if progress is not None:
                progress(MigrationProgress("removing", removed, max(total, removed)))

        def connectors(conn: sqlite3.Connection) -> tuple[list[str], list[dict[str, str]]]:
            gone: list[str] = []
            kept: list[dict[str, str]] = []
            rows = conn.execute(
                "SELECT m.connector_id, m.given_name, c.name FROM migrated_connectors m"
                f" JOIN connectors c ON c.id = m.connector_id WHERE m.job_id IN ({marks})",
                stale,
            ).fetchall()
            for r in rows:
                if r["name"] != r["given_name"]:
                    kept.append({"name": r["name"], "was": r["given_name"], "why": msg("renamed")})
                    continue
                copies = conn.execute(
                    "SELECT count(*) FROM archive_copies WHERE connector_id = ?",
                    (r["connector_id"],),
                ).fetchone()[0]
                if copies:
                    kept.append(
                        {
                            "name": r["name"],
                            "was": r["given_name"],
                            "why": msgn("holds {count} archive copies made since", copies),
                        }
                    )
                    continue
                conn.execute(
                    "UPDATE config SET value = '', updated_at = ?"
                    " WHERE key = 'active_connector' AND value = ? COLLATE NOCASE",
                    (_stamp(_now()), r["name"]),
                )
                conn.execute("DELETE FROM connectors WHERE id = ?", (r["connector_id"],))
                gone.append(r["name"])
            result = json.dumps({"removed_by_run": job, "recordings_removed": removed})
            conn.execute(
                f"UPDATE jobs SET status = 'cancelled', result = ?, updated_at = ?"
                f" WHERE id IN ({marks})",
                (result, _stamp(_now()), *stale),
            )
            return gone, kept

        gone, kept = self.db.write(connectors)
        log.info("removed %d recordings and %d connectors of runs %s", removed, len(gone), stale)
        return {
            "runs": stale,
            "recordings": removed,
            "connectors_removed": gone,
            "connectors_kept": kept,
        }

    # -- connectors (F37) ---------------------------------------------------------------------
    @staticmethod
    def _read_settings(path: Path, summary: Summary) -> LegacySettings:
        if not path.is_file():
            summary.warn(path.name, [msg("no connector settings file: no connectors migrated")])
            return LegacySettings([], [], {})
        try:
            legacy = parse_connector_file(path.read_bytes())
        except (OSError, LegacyFormatError) as exc:
            raise InvalidInput(
                msg(
                    "The connector settings file {path} cannot be used: {error}",
                    path=path,
                    error=exc,
                ),
                msg(
                    "Fix or remove it (or name another with --connectors), then run the "
                    "migration again; nothing was migrated."
                ),
            ) from None
        summary.warn(path.name, legacy.problems)
        summary.not_migrated = dict(legacy.ignored)
        return legacy

    def _connectors(
        self,
        job: int,
        root: Path,
        legacy: LegacySettings,
        started: datetime,
        summary: Summary,
    ) -> dict[str, _Target]:
        """Create (or reuse) a connector per legacy connector, in one transaction with the
        links that let an interrupted run's connectors be found again."""
        stamp = started.strftime("%Y%m%d-%H%M%S")
        now = _stamp(started)
        available = set(registry.kinds())
        planned: list[tuple[LegacyConnector, str, dict[str, str]]] = []
        for lc in legacy.connectors:
            if lc.kind not in available:
                summary.connectors_skipped.append(
                    self._skipped(
                        lc, msg("type {kind!r} has no counterpart here", kind=lc.legacy_type)
                    )
                )
                continue
            try:
                fields = registry.fields(lc.kind)
            except ModuleNotFoundError:
                summary.connectors_skipped.append(
                    self._skipped(lc, msg("type {kind!r} is not installed here", kind=lc.kind))
                )
                continue
            settings, unused = mm_settings(lc, fields)
            try:
                clean = validate(_optional_secrets(fields), settings)
            except InvalidSetting as exc:
                summary.connectors_skipped.append(self._skipped(lc, exc.message))
                continue
            if unused:
                summary.warn(
                    f"connector {lc.legacy_id}",
                    [msg("settings not used: {names}", names=", ".join(sorted(unused)))],
                )
            planned.append((lc, lc.kind, clean))

        def apply(conn: sqlite3.Connection) -> tuple[dict[str, _Target], set[str]]:
            targets: dict[str, _Target] = {}
            made: set[str] = set()
            number = 0
            for lc, kind, clean in planned:
                newness = (lc.created.timestamp() if lc.created else float("-inf"), lc.order)
                reuse = conn.execute(
                    "SELECT c.id, c.name FROM migrated_connectors m"
                    " JOIN connectors c ON c.id = m.connector_id"
                    " JOIN jobs j ON j.id = m.job_id"
                    " WHERE j.status = 'done' AND m.source = ? AND m.legacy_id = ?"
                    " ORDER BY m.job_id DESC LIMIT 1",
                    (str(root), lc.legacy_id),
                ).fetchone()
                if reuse is not None:
                    targets[lc.legacy_id] = _Target(reuse["id"], reuse["name"], newness)
                    continue
                number += 1
                name = base = f"Migrated{number}-{stamp}"
                suffix = 1
                while conn.execute("SELECT 1 FROM connectors WHERE name = ?", (name,)).fetchone():
                    suffix += 1
                    name = f"{base}-{suffix}"
                cur = conn.execute(
                    "INSERT INTO connectors (name, kind, settings, encrypt, created_at, updated_at)"
                    " VALUES (?, ?, ?, 0, ?, ?)",
                    (name, kind, json.dumps(clean, sort_keys=True), now, now),
                )
                connector_id = int(cur.lastrowid or 0)
                conn.execute(
                    "INSERT INTO migrated_connectors (connector_id, job_id, source, legacy_id,"
                    " given_name) VALUES (?, ?, ?, ?, ?)",
                    (connector_id, job, str(root), lc.legacy_id, name),
                )
                targets[lc.legacy_id] = _Target(connector_id, name, newness)
                made.add(lc.legacy_id)
            return targets, made

        targets, made = self.db.write(apply)
        for lc, kind, _clean in planned:
            target = targets[lc.legacy_id]
            entry = {
                "name": target.name,
                "type": kind,
                "legacy_id": lc.legacy_id,
                "legacy_type": lc.legacy_type,
                "secrets_to_set": [f.name for f in registry.fields(kind) if f.secret],
            }
            (
                summary.connectors_created if lc.legacy_id in made else summary.connectors_reused
            ).append(entry)
        return targets

    @staticmethod
    def _skipped(lc: LegacyConnector, reason: str) -> dict[str, Any]:
        return {"legacy_id": lc.legacy_id, "legacy_type": lc.legacy_type, "reason": reason}

    # -- one record ---------------------------------------------------------------------------
    def _prepare(
        self,
        root: Path,
        item: _Item,
        targets: dict[str, _Target],
        started: datetime,
        summary: Summary,
    ) -> _Ready | Skip:
        if item.xml is None:
            assert item.wav is not None
            return Skip(
                item.wav,
                msg(
                    "has no call details file beside it (expected {name}.xml)",
                    name=_stem(item.wav),
                ),
                NO_DETAILS,
            )
        xml_rel, base = item.xml, str(root)
        try:
            with open(os.path.join(base, xml_rel), "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return Skip(
                xml_rel, msg("cannot be read: {error}", error=exc.strerror or exc), UNREADABLE
            )
        try:
            call = parse_call(data, _stem(xml_rel))
        except LegacyFormatError as exc:
            return Skip(xml_rel, problem(exc), exc.category)
        warnings = list(call.warnings)

        size: int | None = None
        wav = item.wav
        if wav is not None:
            try:
                size = os.stat(os.path.join(base, wav)).st_size
            except OSError:
                wav = None
        rel = wav or xml_rel[:-4] + ".wav"
        copy = self._newest_copy(call, targets, rel, started, summary)
        if wav is None and copy is None:
            return Skip(
                xml_rel,
                msg(
                    "has no recording beside it ({name}.wav) and no archive location "
                    "on a migrated connector",
                    name=_stem(xml_rel),
                ),
                NO_RECORDING,
            )
        duration = call.duration_s
        if duration is None:
            if wav is None:
                duration = 0.0
                warnings.append(msg("no duration, and no local recording to read it from"))
            else:
                try:
                    duration = _audio_seconds(os.path.join(base, wav))
                except Exception as exc:
                    return Skip(
                        xml_rel,
                        msg(
                            "gives no duration and its recording cannot be read: {error}", error=exc
                        ),
                        AUDIO_UNREADABLE,
                    )
        if size is None:
            size = next((a.size for a in call.archives if a.size is not None), 0)
        details = call.details
        sha = call.checksum
        rec = NewRecording(
            details=details,
            duration_s=duration,
            path=rel,
            size=size,
            sha256=sha,
            signature=self.signer.sign(sha, details.to_dict()) if sha else "",
            key_id=self.signer.key_id if sha else "",
            source_key=f"{SOURCE_KEY_PREFIX}{base}/{rel}",
            source_name=rel.rsplit("/", 1)[-1],
        )
        names = json.dumps(call.names, ensure_ascii=False, sort_keys=True) if call.names else "{}"
        return _Ready(xml_rel, rec, names, copy, warnings, wav is not None)

    @staticmethod
    def _newest_copy(
        call: LegacyCall,
        targets: dict[str, _Target],
        rel: str,
        started: datetime,
        summary: Summary,
    ) -> tuple[int, str, str] | None:
        """F37: of the archive copies, the one on the newest migrated connector."""
        best: tuple[tuple[float, int], int, str, str] | None = None
        for location in call.archives:
            target = targets.get(location.connector)
            if target is None:
                dropped = summary.archive_locations_dropped
                dropped[location.connector] = dropped.get(location.connector, 0) + 1
                continue
            when = _stamp(location.archived_at or started)
            candidate = (target.newness, target.connector_id, location.path or rel, when)
            if best is None or candidate[0] > best[0]:
                best = candidate
        return None if best is None else best[1:]

    # -- one batch, one transaction -----------------------------------------------------------
    def _commit(
        self, conn: sqlite3.Connection, job: int, root: str, ready: list[_Ready], done: int
    ) -> list[int | Skip]:
        out: list[int | Skip] = []
        taken: dict[str, tuple[int, str]] = {}
        if ready:
            marks = ",".join("?" * len(ready))
            taken = {
                r["path"]: (int(r["id"]), r["source_key"] or "")
                for r in conn.execute(
                    f"SELECT id, path, source_key FROM recordings WHERE path IN ({marks})",
                    [e.rec.path for e in ready],
                )
            }
        copies: Counter[int] = Counter()
        latest: dict[int, str] = {}
        for entry in ready:
            rec = entry.rec
            if rec.path in taken:
                rec_id, key = taken[rec.path]
                if key == rec.source_key:
                    out.append(
                        Skip(
                            entry.file,
                            msg("was migrated before (recording {id})", id=rec_id),
                            ALREADY,
                        )
                    )
                else:
                    out.append(
                        Skip(
                            entry.file,
                            msg(
                                "its path {path} is already used by recording {id}",
                                path=rec.path,
                                id=rec_id,
                            ),
                            PATH_TAKEN,
                        )
                    )
                continue
            rec_id = insert_recording(conn, rec, next_seq(conn, rec.details.call_id))
            conn.execute("UPDATE recordings SET local_present = 0 WHERE id = ?", (rec_id,))
            conn.execute(
                "INSERT INTO migrated_recordings (recording_id, job_id, root, names)"
                " VALUES (?, ?, ?, ?)",
                (rec_id, job, root, entry.names),
            )
            if entry.copy is not None:
                connector_id, remote_path, archived_at = entry.copy
                conn.execute(
                    "INSERT INTO archive_copies (connector_id, recording_id, remote_path, size,"
                    " sha256, encrypted, archived_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (connector_id, rec_id, remote_path, rec.size, rec.sha256, archived_at),
                )
                copies[connector_id] += 1
                latest[connector_id] = max(latest.get(connector_id, ""), archived_at)
            out.append(rec_id)
        for connector_id, count in copies.items():
            conn.execute(
                "UPDATE connectors SET archived_count = archived_count + ?,"
                " last_archived_at = MAX(COALESCE(last_archived_at, ''), ?) WHERE id = ?",
                (count, latest[connector_id], connector_id),
            )
        conn.execute(
            "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ?",
            (done, _stamp(_now()), job),
        )
        return out


def _audio_seconds(path: str) -> float:
    """The length of a legacy recording, for a call-details file that does not give it."""
    import soundfile  # loads libsndfile: only when a file needs it

    return float(soundfile.info(path).duration)
