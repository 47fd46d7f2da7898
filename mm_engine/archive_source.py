"""A recording's bytes on their way to an archive, checked against the catalogue as they go.

The archive job must never store a copy of a recording whose file no longer matches its
catalogued checksum. Hashing the file first and sending it after reads every byte twice, the
second time from memory the hash has already pushed out of the CPU's caches; on the 2-core
machine that also runs the NAS that was a fifth of the archive job's CPU (issue 5's bench).
Here the store's own reads are hashed as they happen, each byte once and in order, whatever
the store does with seeks, and the read that brings the last byte checks it: on a mismatch it
raises :class:`SourceMismatch` instead of returning the bytes, so no store can finish
(rename, complete, commit) a copy of a file that changed. A store that did not read every byte
leaves :attr:`ArchiveSource.sha256` unset and the caller hashes the rest itself
(:meth:`ArchiveSource.finish`).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from typing import Any, BinaryIO, cast

from mm_engine.storage.base import READ_BACK
from mm_engine.text import msg

TAIL = READ_BACK  # the bytes kept to compare with the copy's read-back
SPOOL_IN_MEMORY = 16 * 1024 * 1024
_CHUNK = 1 << 20


class SourceMismatch(ValueError):
    """The recording's file differs from its catalogue entry (a ``ValueError``: every store
    takes it as permanent, so nothing retries it)."""


class ArchiveSource(io.RawIOBase):
    """``stream`` (a recording of ``size`` bytes whose catalogued SHA-256 is ``sha256``, or
    ``None`` when there is none) as a seekable file for a store's ``put``. A stream that cannot
    seek (a copy read back from another archive) is spooled to a temporary file first, so a
    retried upload can rewind. Closing it closes ``stream``."""

    def __init__(self, stream: BinaryIO, size: int, sha256: str | None) -> None:
        super().__init__()
        self.size = size
        self.expected = sha256 or None
        self.sha256: str | None = None  # set once every byte has been hashed
        self.mismatch: SourceMismatch | None = None
        self._digest = hashlib.sha256()
        self._hashed = 0  # bytes hashed, from the start, in order
        self._tail = b""
        if stream.seekable():
            self._inner = stream
            self._start = stream.tell()
        else:
            self._inner = _spooled(stream)
            self._start = 0
        self._at = 0
        self._readinto = getattr(self._inner, "readinto", None)

    # -- what a store sees ------------------------------------------------------------------

    @property
    def stream(self) -> BinaryIO:
        """This source as the binary file a store's ``put`` takes."""
        return cast(BinaryIO, self)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self.size}[whence]
        self._at = max(0, base + offset)
        self._inner.seek(self._start + self._at)
        return self._at

    def readinto(self, buffer: Any) -> int:
        self._refuse_after_mismatch()
        view = memoryview(buffer).cast("B")
        if self._readinto is not None:
            got = int(self._readinto(view) or 0)
        else:
            data = self._inner.read(len(view))
            got = len(data)
            view[:got] = data
        self._account(view[:got])
        return got

    def read(self, size: int | None = -1) -> bytes:
        self._refuse_after_mismatch()
        data = self._inner.read(-1 if size is None else size)
        self._account(memoryview(data))
        return data

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()

    # -- the check --------------------------------------------------------------------------

    @property
    def tail(self) -> bytes:
        """The last bytes of the recording (up to :data:`TAIL`), once it has all been read."""
        return self._tail

    def finish(self) -> str:
        """The recording's SHA-256: from the store's reads when they covered it all, otherwise
        by reading the rest now. Raises :class:`SourceMismatch` as a read would have."""
        if self.sha256 is None:
            self._inner.seek(self._start + self._hashed)
            self._at = self._hashed
            while self.sha256 is None:
                self.read(_CHUNK)  # the read at the end raises if the file is short
        assert self.sha256 is not None
        return self.sha256

    def _account(self, data: memoryview) -> None:
        """Hash the part of ``data`` (read at the current position) not hashed before."""
        at, got = self._at, len(data)
        self._at = at + got
        if at <= self._hashed < at + got:
            new = data[self._hashed - at :]
            self._digest.update(new)
            self._tail = (self._tail + new[-TAIL:])[-TAIL:]
            self._hashed = at + got
            if self.expected is not None and self._hashed >= self.size:
                self._check()  # the read that completes the recording (or passes its end)
        elif not got and at == self._hashed and self.sha256 is None:
            self._check()  # the end of the file

    def _check(self) -> None:
        digest = self._digest.hexdigest()
        if self.expected is not None and (digest != self.expected or self._hashed != self.size):
            # a file of another size is other content too
            self.mismatch = SourceMismatch(
                msg(
                    "its content does not match its catalogued checksum, so it was not "
                    "archived; run `mm recordings verify` on it"
                )
            )
            raise self.mismatch
        self.sha256 = digest

    def _refuse_after_mismatch(self) -> None:
        if self.mismatch is not None:
            raise self.mismatch


def _spooled(stream: BinaryIO) -> BinaryIO:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        while chunk := stream.read(_CHUNK):
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    finally:
        stream.close()
    spool.seek(0)
    return spool  # type: ignore[return-value]
