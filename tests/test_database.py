"""The catalogue database: schema at open, WAL, and no 'database is locked' under contention."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mm_engine.db import Database
from mm_engine.db.migrations import STEPS


def test_open_creates_schema_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with Database(tmp_path / "mm.db") as db:
        assert db.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
        assert db.query_one("PRAGMA user_version")[0] == len(STEPS)  # type: ignore[index]
        assert db.query_one("PRAGMA foreign_keys")[0] == 1  # type: ignore[index]
        tables = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"recordings", "recordings_fts", "config", "alarms", "jobs"} <= tables


def test_reopening_keeps_data_and_does_not_rerun_migrations(tmp_path: Path) -> None:
    with Database(tmp_path / "mm.db") as db:
        db.execute_write(
            "INSERT INTO config (key, value, updated_at) VALUES ('profile', 'x', 'now')"
        )
    with Database(tmp_path / "mm.db") as db:
        assert db.query_one("SELECT value FROM config")[0] == "x"  # type: ignore[index]


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "mm.db")
    conn.execute(f"PRAGMA user_version={len(STEPS) + 5}")
    conn.close()
    try:
        Database(tmp_path / "mm.db")
    except RuntimeError as exc:
        assert "newer than this mm" in str(exc)
    else:
        raise AssertionError("a newer schema must not be opened")


def test_failed_write_rolls_back_and_writer_keeps_working(tmp_path: Path) -> None:
    with Database(tmp_path / "mm.db") as db:

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO config VALUES ('a', '1', 'now')")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            db.write(bad)
        assert db.query("SELECT * FROM config") == []
        db.execute_write("INSERT INTO config VALUES ('b', '2', 'now')")
        assert len(db.query("SELECT * FROM config")) == 1


WRITER_SCRIPT = """
import sys
from pathlib import Path
import pytest

from mm_engine.db import Database
db = Database(Path(sys.argv[1]))
for i in range(200):
    db.execute_write("INSERT INTO jobs (kind, status, created_at, updated_at) "
                     "VALUES ('other', 'done', 'now', 'now')")
db.close()
"""


def test_threads_and_another_process_write_at_once_without_lock_errors(tmp_path: Path) -> None:
    path = tmp_path / "mm.db"
    errors: list[BaseException] = []
    with Database(path) as db:
        other = subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(path)], stderr=subprocess.PIPE, text=True
        )

        def writer(n: int) -> None:
            try:
                for i in range(200):
                    db.execute_write(
                        "INSERT INTO jobs (kind, status, created_at, updated_at) "
                        "VALUES (?, 'done', 'now', 'now')",
                        (f"t{n}-{i}",),
                    )
                    db.query("SELECT COUNT(*) FROM jobs")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _, err = other.communicate(timeout=120)
        assert other.returncode == 0, err
        assert errors == []
        assert db.query_one("SELECT COUNT(*) FROM jobs")[0] == 4 * 200 + 200  # type: ignore[index]
