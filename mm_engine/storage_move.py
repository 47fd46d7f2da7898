"""Moving the whole library between storages (seed F9, F19, F23): `mm storage migrate`, and
`mm storage move PATH`, its local-to-local case that also removes the old copies.

One resumable job (a ``jobs`` row) in three phases:

- copy: every recording in the call storage (``local_present = 1``), by id, is read through
  :meth:`Catalogue.open_audio` (so a file lost from the source comes from an archive copy),
  checked against its catalogued SHA-256 before anything is sent, written at the same relative
  path, then read back whole from the target and hashed again. The last id done is saved after
  every batch, so a run killed anywhere resumes there; a file already at the target that hashes
  right is kept, and one that differs is never overwritten.
- switch: the configuration points at the target (``call_storage_type``, and
  ``call_storage_path`` for a local disk).
- cleanup: only when asked (``delete_source``), the source's copies are removed.

At no point is a recording unreachable: until the switch the source is the call storage and is
complete; after it the target is, every file verified. The caller holds the engine lock, so
nothing is ingested meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, BinaryIO

from mm_engine.catalogue import Catalogue
from mm_engine.config import Config
from mm_engine.db import Database
from mm_engine.domain import Recording
from mm_engine.errors import MMError, Refused
from mm_engine.primary_storage import (
    LOCAL,
    PATH_KEY,
    TYPE_KEY,
    Location,
    PrimaryStorage,
)
from mm_engine.storage.base import STATE_WORDS, Accessibility, Store
from mm_engine.text import Msg, msg, msgn

KIND = "storage-migrate"
BATCH = 200
SPOOL_IN_MEMORY = 16 * 1024 * 1024
Progress = Callable[[int, int], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def refuse_path_change_with_recordings(
    conn: sqlite3.Connection, key: str, old: Any, new: Any
) -> None:
    """Config guard: changing the path under existing recordings would orphan them (only while
    the call storage is local: a hosted one does not use the path)."""
    if str(old) == str(new):
        return
    kind = conn.execute("SELECT value FROM config WHERE key = ?", (TYPE_KEY,)).fetchone()
    if kind is not None and kind[0] != LOCAL:
        return
    count = conn.execute("SELECT COUNT(*) FROM recordings WHERE local_present = 1").fetchone()[0]
    if count:
        raise Refused(
            msgn(
                "{count} recordings are stored under {old}; pointing {key} elsewhere would make "
                "them unreachable.",
                count,
                old=old,
                key=key,
            ),
            msg(
                "Move them instead with `mm storage move {new}`: it copies and verifies every "
                "recording, then switches the setting, and can be re-run if interrupted "
                "(`mm storage migrate --to local:{new}` does the same and keeps the old copies).",
                new=new,
            ),
        )


def _sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


class _Checked:
    """A recording's bytes, hashed before anything is sent and seekable, so a retried upload
    can rewind; a stream that cannot seek (a hosted source) is spooled to a temporary file."""

    def __init__(self, stream: BinaryIO, spool_dir: str | None) -> None:
        self.stream: BinaryIO
        if stream.seekable():
            self.stream = stream
            self.sha256 = _sha256(stream)
            self.size = stream.tell()
            stream.seek(0)
            return
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=spool_dir)  # noqa: SIM115
        self.stream = spool  # type: ignore[assignment]
        digest = hashlib.sha256()
        try:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
        finally:
            stream.close()
        self.sha256 = digest.hexdigest()
        self.size = spool.tell()
        spool.seek(0)

    def close(self) -> None:
        self.stream.close()


class StorageMigration:
    """Copy the library to another storage, verify it, switch to it. Unchecked (Session)."""

    def __init__(
        self, db: Database, config: Config, primary: PrimaryStorage, catalogue: Catalogue
    ) -> None:
        self.db = db
        self.config = config
        self.primary = primary
        self.catalogue = catalogue

    # -- the job row ----------------------------------------------------------------------------
    def pending(self) -> dict[str, Any] | None:
        """The unfinished migration, if one was interrupted: its params and progress."""
        row = self.db.query_one(
            "SELECT id, params, progress, total, created_at, updated_at FROM jobs"
            " WHERE kind = ? AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
            (KIND,),
        )
        if row is None:
            return None
        params: dict[str, Any] = json.loads(row["params"])
        return {
            "id": int(row["id"]),
            "params": params,
            "progress": row["progress"],
            "total": row["total"],
            "started_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def _open_job(self, source: Location, target: Location, command: str, delete: bool) -> int:
        found = self.pending()
        if found is not None:
            to = Location.from_dict(found["params"]["to"])
            if not to.same_place(target):
                again = (
                    f"mm storage move {to.path}"
                    if found["params"].get("command") == "move"
                    else f"mm storage migrate --to {to.spec}"
                )
                raise Refused(
                    msg("An interrupted migration to {to} is not finished.", to=to.label),
                    msg(
                        "Finish it first with `{again}`, or give it up with "
                        "`mm storage migrate --abandon` (the configuration has not changed yet).",
                        again=again,
                    ),
                )
            params = found["params"]
            params["delete_source"] = bool(params.get("delete_source")) or delete
            self._update(found["id"], params=json.dumps(params), owner_pid=os.getpid())
            return int(found["id"])
        params = {
            "from": source.to_dict(),
            "to": target.to_dict(),
            "phase": "copy",
            "after": 0,
            "delete_source": delete,
            "command": command,
        }
        return self.db.execute_write(
            "INSERT INTO jobs (kind, status, params, created_at, updated_at, owner_pid)"
            " VALUES (?, 'running', ?, ?, ?, ?)",
            (KIND, json.dumps(params), _now(), _now(), os.getpid()),
        )

    def _update(self, job: int, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute_write(
            f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?",
            (*fields.values(), _now(), job),
        )

    def abandon(self) -> dict[str, Any]:
        """Give up an interrupted migration before its switch (copies made stay where they are).
        After the switch there is nothing to give up: it is finished instead."""
        found = self.pending()
        if found is None:
            return {"status": "none"}
        params = found["params"]
        if params["phase"] != "copy":
            to = Location.from_dict(params["to"]).spec
            raise Refused(
                msg(
                    "The interrupted migration already switched the call storage; it only has "
                    "cleaning up left."
                ),
                msg("Finish it with `mm storage migrate --to {to}`.", to=to),
            )
        self._update(found["id"], status="cancelled")
        return {
            "status": "abandoned",
            "to": Location.from_dict(params["to"]).label,
            "copied": found["progress"],
        }

    def status(self) -> dict[str, Any]:
        """The call storage now (type, place, recordings held, free space, reachable) and the
        unfinished migration, if any."""
        loc = self.primary.location()
        store = self.primary.store()
        held = self.db.query_one(
            "SELECT count(*), COALESCE(sum(size), 0) FROM recordings WHERE local_present = 1"
        )
        assert held is not None
        try:
            accessible = store.test().value
        except Exception:
            accessible = Accessibility.UNREACHABLE.value
        free = None
        if not loc.hosted:
            try:
                free = store.free_space()
            except OSError:
                free = None
        migration = None
        if (found := self.pending()) is not None:
            params = found["params"]
            migration = {
                "from": Location.from_dict(params["from"]).label,
                "to": Location.from_dict(params["to"]).label,
                "phase": params["phase"],
                "delete_source": bool(params.get("delete_source")),
                "done": found["progress"],
                "total": found["total"],
                "started_at": found["started_at"],
                "updated_at": found["updated_at"],
            }
        return {
            "type": loc.kind or "missing",
            "connector": loc.connector or None,
            "where": self.primary.where(loc),
            "recordings": int(held[0]),
            "bytes": int(held[1]),
            "free_bytes": free,
            "accessible": accessible,
            "migration": migration,
        }

    # -- running --------------------------------------------------------------------------------
    def run(self, new_path: str, progress: Progress | None = None) -> dict[str, Any]:
        """`mm storage move`: to another local path, removing the old copies afterwards."""
        current = self.primary.location()
        if current.hosted and self.pending() is None:
            raise Refused(
                msg(
                    "The call storage is {where}, not a local disk.",
                    where=self.primary.describe(current),
                ),
                msg(
                    "Use `mm storage migrate --to local:{path}` to bring it to a local disk.",
                    path=new_path,
                ),
            )
        return self._run(self.primary.resolve(f"{LOCAL}:{new_path}"), True, "move", progress)

    def migrate(
        self, to: str, *, delete_source: bool = False, progress: Progress | None = None
    ) -> dict[str, Any]:
        """`mm storage migrate --to`: ``to`` is ``local``, ``local:PATH`` or a connector name."""
        return self._run(self.primary.resolve(to), delete_source, "migrate", progress)

    def _run(
        self, target: Location, delete: bool, command: str, progress: Progress | None
    ) -> dict[str, Any]:
        current = self.primary.location()
        if current.same_place(target) and self.pending() is None:
            return {
                "status": "unchanged",
                "from": current.label,
                "to": target.label,
                "moved": 0,
                "copied": 0,
            }
        job = self._open_job(current, target, command, delete)
        params = self._params(job)
        source = Location.from_dict(params["from"])
        target = Location.from_dict(params["to"])
        if params["phase"] == "copy" and not source.same_place(current):
            raise Refused(
                msg(
                    "The interrupted migration started from {source}, but the call storage "
                    "is now {current}.",
                    source=source.label,
                    current=current.label,
                ),
                msg("Give it up with `mm storage migrate --abandon` and start again."),
            )
        dst = self.primary.open_location(target)
        state = dst.test()
        if state is not Accessibility.OK:
            raise Refused(
                msg(
                    "Cannot write to {where}: it is {state}.",
                    where=self.primary.describe(target),
                    state=Msg(STATE_WORDS[state]),
                ),
                msg(
                    "Check it (`mm connectors test NAME`, or the path and its permissions), then "
                    "run the same command again."
                ),
            )
        total = int(
            self.db.query_one("SELECT COUNT(*) FROM recordings WHERE local_present = 1")[0]  # type: ignore[index]
        )
        self._update(job, total=total)
        copied = already = 0
        if params["phase"] == "copy":
            where = self.primary.describe(target)
            copied, already = self._copy_all(job, params, dst, where, total, progress)
            params["phase"] = "switch"
            self._update(job, params=json.dumps(params))
        if params["phase"] == "switch":
            self._switch(target)
            params["phase"] = "cleanup"
            self._update(job, params=json.dumps(params))
        removed = 0
        if params.get("delete_source"):
            removed = self._remove_source(self.primary.open_location(source), dst)
        result = {
            "status": "done",
            "from": source.label,
            "from_type": source.kind,
            "to": target.label,
            "to_type": target.kind,
            "moved": total,
            "copied": copied,
            "already_there": already,
            "source_kept": not params.get("delete_source"),
            "removed_from_old": removed,
        }
        self._update(job, status="done", result=json.dumps(result))
        return result

    def _params(self, job: int) -> dict[str, Any]:
        row = self.db.query_one("SELECT params FROM jobs WHERE id = ?", (job,))
        assert row is not None
        params: dict[str, Any] = json.loads(row["params"])
        return params

    def _copy_all(
        self,
        job: int,
        params: dict[str, Any],
        dst: Store,
        where: str,
        total: int,
        progress: Progress | None,
    ) -> tuple[int, int]:
        """Copy every recording after the saved position; returns (copied, already there)."""
        after = int(params["after"])
        done = int(self.db.query_one("SELECT progress FROM jobs WHERE id = ?", (job,))[0])  # type: ignore[index]
        copied = already = 0
        while True:
            rows = self.db.query(
                "SELECT id FROM recordings WHERE id > ? AND local_present = 1 ORDER BY id LIMIT ?",
                (after, BATCH),
            )
            if not rows:
                return copied, already
            for rec in self.catalogue.get_many(int(r["id"]) for r in rows):
                if self._copy_one(rec, dst, where):
                    copied += 1
                else:
                    already += 1
                done += 1
                if progress is not None:
                    progress(min(done, total), total)
            after = int(rows[-1]["id"])
            params["after"] = after
            self._update(job, params=json.dumps(params), progress=done)

    def _copy_one(self, rec: Recording, dst: Store, where: str) -> bool:
        """Copy and verify one recording to ``dst`` (``where`` for messages); False when a good
        copy was there already."""
        there = dst.stat(rec.path)
        if there is not None:
            if there.size == rec.size and self._read_back(dst, rec.path) == rec.sha256:
                return False  # copied by an earlier, interrupted run (or there from before)
            raise Refused(
                msg(
                    "{path} already exists at {where} and is not recording {id}: it was not "
                    "overwritten.",
                    path=rec.path,
                    where=where,
                    id=rec.id,
                ),
                msg("Move that file away, or choose an empty place, then run the command again."),
            )
        try:
            source = _Checked(self.catalogue.open_audio(rec), self._spool())
        except MMError as exc:
            raise MMError(
                msg(
                    "Recording {id} ({path}) cannot be read, so the migration stopped "
                    "before switching: {error}",
                    id=rec.id,
                    path=rec.path,
                    error=exc.message,
                ),
                msg(
                    "Run `mm recordings verify` to see which files are affected; restore the "
                    "file or delete the recording, then run the command again."
                ),
            ) from None
        try:
            if rec.sha256 and (source.sha256 != rec.sha256 or source.size != rec.size):
                raise Refused(
                    msg(
                        "The copy of {path} does not match its catalogued checksum, so the "
                        "migration stopped before switching.",
                        path=rec.path,
                    ),
                    msg("Run `mm recordings verify --all`; the original is untouched."),
                )
            dst.put(rec.path, source.stream, source.size)
        finally:
            source.close()
        back = self._read_back(dst, rec.path)
        if back != source.sha256:
            dst.remove(rec.path)
            raise MMError(
                msg(
                    "The copy of {path} written to {where} reads back differently, so the "
                    "migration stopped before switching (the bad copy was removed).",
                    path=rec.path,
                    where=where,
                ),
                msg("Check the target storage, then run the same command again."),
            )
        return True

    def _spool(self) -> str:
        self.primary.spool.mkdir(parents=True, exist_ok=True)
        return str(self.primary.spool)

    @staticmethod
    def _read_back(dst: Store, path: str) -> str:
        with dst.open(path) as fh:
            return _sha256(fh)

    def _switch(self, target: Location) -> None:
        """Point the configuration at the target, bypassing the guards that protect recordings
        (every one is at the target now). The path first: it is unused while hosted."""
        if target.hosted:
            row = self.db.query_one(
                "SELECT name FROM connectors WHERE id = ?", (target.connector_id,)
            )
            if row is None:
                raise Refused(
                    msg(
                        "Connector '{name}' was removed during the migration.",
                        name=target.connector,
                    ),
                    msg("Give the migration up with `mm storage migrate --abandon`."),
                )
            self.config.set_unguarded(TYPE_KEY, str(row["name"]))
        else:
            self.config.set_unguarded(PATH_KEY, target.path)
            self.config.set_unguarded(TYPE_KEY, LOCAL)

    def _remove_source(self, src: Store, dst: Store) -> int:
        """Remove the source copy of every recording whose target copy is there."""
        removed = 0
        last = 0
        while True:
            rows = self.db.query(
                "SELECT id, path, size FROM recordings WHERE id > ? AND local_present = 1"
                " ORDER BY id LIMIT ?",
                (last, BATCH),
            )
            if not rows:
                return removed
            for r in rows:
                there = dst.stat(r["path"])
                if there is not None and there.size == r["size"] and src.stat(r["path"]):
                    src.remove(r["path"])
                    removed += 1
            last = int(rows[-1]["id"])
