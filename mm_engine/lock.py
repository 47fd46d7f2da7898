"""The engine role: one process per data directory runs ingest and the scheduler (fcntl lock)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mm_engine.errors import EngineBusy
from mm_engine.text import msg


class EngineLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def holder(self) -> int | None:
        """The pid written by the current holder, if any (best effort, for messages)."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.holder()
            where = self.path.parent
            raise EngineBusy(
                msg(
                    "The mm engine is already running (process {pid}) on {folder}.",
                    pid=pid,
                    folder=where,
                )
                if pid
                else msg(
                    "The mm engine is already running (another process) on {folder}.",
                    folder=where,
                ),
                msg(
                    "Stop it first (e.g. `systemctl stop mm`), or open the console beside it: "
                    "it works on the same catalogue."
                ),
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def is_held_elsewhere(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
