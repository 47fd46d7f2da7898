"""One SQLite file shared by threads and processes without ever showing "database is locked".

Shaped after datasette's Database: every write in this process goes through one thread fed by a
queue and runs inside ``BEGIN IMMEDIATE``; readers take their own connections from a small pool.
Other processes (a CLI beside the service) are serialised by SQLite's own lock and a long
busy timeout.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mm_engine.db.migrations import migrate

T = TypeVar("T")
BUSY_TIMEOUT_MS = 60_000
_STOP = object()


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    else:
        conn.execute("PRAGMA query_only=ON")
    return conn


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        ready: Future[None] = Future()
        self._writer = threading.Thread(
            target=self._run_writer, args=(ready,), name="mm-db-writer", daemon=True
        )
        self._writer.start()
        ready.result()

    # -- writes -----------------------------------------------------------------------------
    def _run_writer(self, ready: Future[None]) -> None:
        try:
            conn = connect(self.path)
            migrate(conn)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)
        conn.close()

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction on the writer thread and return its result."""
        if threading.current_thread() is self._writer:
            raise RuntimeError("Database.write called from inside a write: pass the connection on")
        if self._closed:
            raise RuntimeError("database is closed")
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result()

    def execute_write(self, sql: str, params: Any = ()) -> int:
        """One statement in its own transaction; returns lastrowid."""
        return self.write(lambda c: c.execute(sql, params).lastrowid or 0)

    # -- reads ------------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = connect(self.path, readonly=True)
            with self._readers_lock:
                self._all_readers.append(conn)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._readers.put(conn)

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self.read() as conn:
            return conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self.read() as conn:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Drain pending writes, stop the writer, close every connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        with self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
