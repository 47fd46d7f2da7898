"""The storage interface, shaped after rclone's Fs/Object and restic's Backend."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, BinaryIO, Protocol

from mm_engine.text import N_, msg


class Accessibility(StrEnum):
    OK = "ok"
    UNREACHABLE = "unreachable"
    DENIED = "denied"
    MISCONFIGURED = "misconfigured"


# How each state reads inside a sentence ("it is {state}"), marked for the catalogs.
STATE_WORDS: dict[Accessibility, str] = {
    Accessibility.OK: N_("reachable"),
    Accessibility.UNREACHABLE: N_("unreachable"),
    Accessibility.DENIED: N_("denied"),
    Accessibility.MISCONFIGURED: N_("misconfigured"),
}


@dataclass(frozen=True)
class ObjectInfo:
    path: str  # '/'-separated, relative to the store's root
    size: int
    mtime: float
    # put() only, from a backend that can read a new object's last bytes back in the round
    # trip that finishes it (SMB): the last READ_BACK bytes as stored, so a caller checking
    # them needs no request of its own
    tail: bytes | None = field(default=None, repr=False, compare=False)


READ_BACK = 64 * 1024  # the tail a backend reads back in put(), when it can


class Store(Protocol):
    name: str

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        """Write atomically: a reader sees the old object or the whole new one, never part."""

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO: ...

    def stat(self, path: str) -> ObjectInfo | None: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def remove(self, path: str) -> None: ...

    def test(self) -> Accessibility: ...

    def free_space(self) -> int | None: ...

    def is_permanent_error(self, exc: BaseException) -> bool: ...


class Bounded(io.RawIOBase):
    """At most ``length`` bytes of ``inner``, then end of file; closing it closes ``inner``."""

    def __init__(self, inner: BinaryIO, length: int) -> None:
        self.inner = inner
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.remaining <= 0:
            return 0
        view = memoryview(buffer)[: self.remaining]
        data = self.inner.read(len(view))
        n = len(data)
        view[:n] = data
        self.remaining -= n
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def bounded(inner: BinaryIO, length: int | None) -> BinaryIO:
    """``inner`` limited to ``length`` bytes (unchanged when length is None)."""
    if length is None:
        return inner
    return io.BufferedReader(Bounded(inner, length))


def fill(stream: BinaryIO, view: memoryview) -> int:
    """Read from ``stream`` into ``view`` until it is full or the stream ends; returns the
    bytes read (short only at the end). Reads straight into ``view`` when the stream can: a
    file read this way into one reused buffer costs a third of ``read()``'s new objects."""
    readinto = getattr(stream, "readinto", None)
    got = 0
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:]) or 0
        else:
            data = stream.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


class SizedSource:
    """``stream`` as an SDK reads it: whole requests, and a size that is kept.

    SDKs take a short read for the end of the data and would store a truncated object; here a
    short read is read again, and a stream that ends before ``size`` raises OSError. It offers
    no seek, so an SDK reads it once, block by block, without holding it.
    """

    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self.stream = stream
        self.size = size
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        want = n if n is not None and n >= 0 else 1 << 62
        if self.size is not None:
            want = min(want, self.size - self.count)
        parts: list[bytes] = []
        got = 0
        while got < want:
            chunk = self.stream.read(min(want - got, 1 << 24))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        self.count += got
        if self.size is not None and got < want:
            raise OSError(
                msg(
                    "the source ended after {count} of {size} bytes",
                    count=self.count,
                    size=self.size,
                )
            )
        return parts[0] if len(parts) == 1 else b"".join(parts)


def object_key(root: str, path: str) -> str:
    """``path`` under ``root`` (a folder prefix ending in '/', or ''), for object stores; the
    conformance rule: absolute paths and empty, '.' or '..' parts are refused (ValueError)."""
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"storage path must be relative and inside the store: {path!r}")
    return root + path
