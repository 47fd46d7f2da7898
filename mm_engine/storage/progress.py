"""The progress wrapper: any Store, with the bytes put and read reported as they pass.

Long transfers (an archive run, a storage migration) show how far they are without the backends
knowing about it. ``on_bytes(n)`` is called with each block's size, from the thread doing the
transfer; it must be quick.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from mm_engine.storage.base import Accessibility, ObjectInfo, Store

OnBytes = Callable[[int], None]


class Counting(io.RawIOBase):
    """``inner`` read through, each read reported; rewinding (a retried put) is passed on.

    ``close_inner`` is False for a stream the caller owns (``put``): a wrapper closed by the
    garbage collector must not close the caller's stream.
    """

    def __init__(self, inner: BinaryIO, on_bytes: OnBytes, close_inner: bool = True) -> None:
        super().__init__()
        self.inner = inner
        self.on_bytes = on_bytes
        self.close_inner = close_inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.inner.read(len(view))
        n = len(data)
        view[:n] = data
        if n:
            self.on_bytes(n)
        return n

    def seekable(self) -> bool:
        return self.inner.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def close(self) -> None:
        if not self.closed and self.close_inner:
            self.inner.close()
        super().close()


def counting(inner: BinaryIO, on_bytes: OnBytes, close_inner: bool = True) -> BinaryIO:
    return io.BufferedReader(Counting(inner, on_bytes, close_inner))


class ProgressStore:
    def __init__(self, inner: Store, on_bytes: OnBytes) -> None:
        self.inner = inner
        self.name = inner.name
        self.on_bytes = on_bytes

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        return self.inner.put(path, counting(stream, self.on_bytes, close_inner=False), size)

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return counting(self.inner.open(path, offset, length), self.on_bytes)

    def stat(self, path: str) -> ObjectInfo | None:
        return self.inner.stat(path)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def remove(self, path: str) -> None:
        self.inner.remove(path)

    def test(self) -> Accessibility:
        return self.inner.test()

    def free_space(self) -> int | None:
        return self.inner.free_space()

    def is_permanent_error(self, exc: BaseException) -> bool:
        return self.inner.is_permanent_error(exc)
