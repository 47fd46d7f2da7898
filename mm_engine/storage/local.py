"""The local call storage path: a directory tree, written through temp name + fsync + rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mm_engine.storage.base import Accessibility, ObjectInfo, bounded

TEMP_PREFIX = ".mm-tmp-"
COPY_CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    def __init__(self, root: Path, name: str = "local") -> None:
        self.root = root
        self.name = name

    def _abs(self, path: str) -> Path:
        rel = Path(path)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"storage path must be relative and inside the store: {path!r}")
        return self.root / rel

    def temp_path(self, path: str) -> Path:
        """A hidden sibling of ``path`` to build a file in before :meth:`commit` renames it."""
        target = self._abs(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{target.name}")

    def commit(self, temp: Path, path: str) -> ObjectInfo:
        """fsync ``temp`` and rename it over ``path``; the directory entry is fsynced too."""
        target = self._abs(path)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
        fsync_dir(target.parent)
        st = target.stat()
        return ObjectInfo(path, st.st_size, st.st_mtime)

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        temp = self.temp_path(path)
        try:
            with open(temp, "wb") as out:
                shutil.copyfileobj(stream, out, COPY_CHUNK)
            return self.commit(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        fh = open(self._abs(path), "rb")  # noqa: SIM115 - returned to the caller
        if offset:
            fh.seek(offset)
        return bounded(fh, length)

    def stat(self, path: str) -> ObjectInfo | None:
        try:
            st = self._abs(path).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(path, st.st_size, st.st_mtime)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._abs(prefix) if prefix else self.root
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in sorted(files):
                if name.startswith(TEMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                st = full.stat()
                yield ObjectInfo(full.relative_to(self.root).as_posix(), st.st_size, st.st_mtime)

    def remove(self, path: str) -> None:
        target = self._abs(path)
        target.unlink(missing_ok=True)
        # tidy empty date folders, never the root itself
        parent = target.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def remove_stale_temps(self) -> int:
        """Delete temp files left by a crash mid-write; returns how many."""
        count = 0
        if not self.root.exists():
            return 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    (Path(dirpath) / name).unlink(missing_ok=True)
                    count += 1
        return count

    def test(self) -> Accessibility:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            return Accessibility.DENIED
        except OSError:
            return Accessibility.UNREACHABLE
        return Accessibility.OK if os.access(self.root, os.W_OK) else Accessibility.DENIED

    def free_space(self) -> int | None:
        probe = self.root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        return shutil.disk_usage(probe).free

    def is_permanent_error(self, exc: BaseException) -> bool:
        return isinstance(exc, (PermissionError, FileNotFoundError, NotADirectoryError, ValueError))
