"""Moving the call storage tree to a new path (seed F9: "needs the old tree copied first").

The move is a resumable job: every recording is copied and checked against its catalogued
SHA-256, then the setting switches, then the old copies are removed. Running it again after an
interruption picks up where it stopped; at no point is a recording unreachable.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mm_engine.config import SETTINGS, Config
from mm_engine.db import Database
from mm_engine.errors import InvalidSetting, Refused
from mm_engine.signing import sha256_file
from mm_engine.storage.local import LocalStore

KIND = "storage-move"
BATCH = 500
Progress = Callable[[int, int], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def refuse_path_change_with_recordings(
    conn: sqlite3.Connection, key: str, old: Any, new: Any
) -> None:
    """Config guard: changing the path under existing recordings would orphan them."""
    if str(old) == str(new):
        return
    count = conn.execute("SELECT COUNT(*) FROM recordings WHERE local_present = 1").fetchone()[0]
    if count:
        raise Refused(
            f"{count} recordings are stored under {old}; pointing {key} elsewhere would make "
            "them unreachable.",
            f"Move them instead with `mm storage move {new}`: it copies and verifies every "
            "recording, then switches the setting, and can be re-run if interrupted.",
        )


class StorageMove:
    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    def _open_job(self, source: Path, target: Path) -> int:
        row = self.db.query_one(
            "SELECT id, params FROM jobs WHERE kind = ? AND status IN ('queued', 'running')",
            (KIND,),
        )
        if row:
            params = json.loads(row["params"])
            if params["to"] != str(target):
                raise Refused(
                    f"An interrupted move to {params['to']} is not finished.",
                    f"Finish it first with `mm storage move {params['to']}`.",
                )
            return int(row["id"])
        params = json.dumps({"from": str(source), "to": str(target), "phase": "copy"})
        return self.db.execute_write(
            "INSERT INTO jobs (kind, status, params, created_at, updated_at)"
            " VALUES (?, 'running', ?, ?, ?)",
            (KIND, params, _now(), _now()),
        )

    def _job_params(self, job: int) -> dict[str, str]:
        row = self.db.query_one("SELECT params FROM jobs WHERE id = ?", (job,))
        assert row is not None
        params: dict[str, str] = json.loads(row["params"])
        return params

    def _update(self, job: int, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute_write(
            f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?",
            (*fields.values(), _now(), job),
        )

    def run(self, new_path: str, progress: Progress | None = None) -> dict[str, Any]:
        try:
            target = Path(SETTINGS["call_storage_path"].parse(new_path))
        except ValueError as exc:
            raise InvalidSetting("call_storage_path", str(exc)) from None
        current = self.config.path("call_storage_path")
        pending = self.db.query_one(
            "SELECT id FROM jobs WHERE kind = ? AND status = 'running'", (KIND,)
        )
        if current == target and pending is None:
            return {"moved": 0, "from": str(current), "to": str(target), "status": "unchanged"}
        job = self._open_job(current, target)
        params = self._job_params(job)
        source = Path(params["from"])
        src, dst = LocalStore(source), LocalStore(target)
        if dst.test().value != "ok":
            raise Refused(f"Cannot write to {target}.", "Check the path and its permissions.")
        # the same set the copy loop walks, so progress ends at total
        total = int(
            self.db.query_one("SELECT COUNT(*) FROM recordings WHERE local_present = 1")[0]  # type: ignore[index]
        )
        self._update(job, total=total)
        copied = 0
        if params["phase"] == "copy":
            last = 0
            while True:
                rows = self.db.query(
                    "SELECT id, path, sha256, size FROM recordings WHERE id > ? AND local_present"
                    " = 1 ORDER BY id LIMIT ?",
                    (last, BATCH),
                )
                if not rows:
                    break
                for r in rows:
                    self._copy_one(src, dst, r["path"], r["sha256"], r["size"])
                    copied += 1
                    if progress:
                        progress(copied, total)
                last = rows[-1]["id"]
                self._update(job, progress=copied)
            params["phase"] = "switch"
            self._update(job, params=json.dumps(params))
        if params["phase"] == "switch":
            self._switch(target)
            params["phase"] = "cleanup"
            self._update(job, params=json.dumps(params))
        removed = 0
        for r in self.db.query("SELECT path, size FROM recordings"):
            old, new = source / r["path"], target / r["path"]
            if old.exists() and new.exists() and new.stat().st_size == r["size"]:
                src.remove(r["path"])
                removed += 1
        self._update(job, status="done", result=json.dumps({"copied": copied}))
        return {
            "moved": total,
            "from": str(source),
            "to": str(target),
            "status": "done",
            "removed_from_old": removed,
        }

    @staticmethod
    def _copy_one(src: LocalStore, dst: LocalStore, rel: str, sha256: str, size: int) -> None:
        there = dst.root / rel
        if there.exists() and there.stat().st_size == size and sha256_file(there) == sha256:
            return  # copied by an earlier, interrupted run
        temp = dst.temp_path(rel)
        try:
            shutil.copyfile(src.root / rel, temp)
            if sha256_file(temp) != sha256:
                raise Refused(
                    f"The copy of {rel} does not match its catalogued checksum.",
                    f"Run `mm recordings verify --all`; the original in {src.root} is untouched.",
                )
            dst.commit(temp, rel)
        finally:
            temp.unlink(missing_ok=True)

    def _switch(self, target: Path) -> None:
        """Point the setting at the new tree, bypassing the guard that protects recordings."""
        self.config.set_unguarded("call_storage_path", str(target))
