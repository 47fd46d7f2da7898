"""The crypt wrapper: any Store, encrypted on the way in and decrypted on the way out.

A decorator in the manner of rclone's crypt backend and restic's wrapped backends, so every
backend gets encryption without knowing about it. Paths keep their names and gain the ``.mmc``
suffix, so an archive mirrors the primary layout and a copied-off file still says what it is.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from mm_engine.storage.base import Accessibility, ObjectInfo, Store
from mm_engine.storage.crypt import (
    CHUNK_SIZE,
    HEADER_SIZE,
    SEALED_CHUNK_SIZE,
    SUFFIX,
    ArchiveKey,
    CryptError,
    KeyRing,
    decrypting_reader,
    encrypted_size,
    encrypting_reader,
    plaintext_size,
    read_header,
)


class CryptStore:
    """``key`` encrypts every put; files under other keys open when ``keyring`` holds theirs."""

    def __init__(self, inner: Store, key: ArchiveKey, keyring: KeyRing | None = None) -> None:
        self.inner = inner
        self.key = key
        self.keyring = keyring
        self.name = inner.name

    @staticmethod
    def _enc(path: str) -> str:
        return path + SUFFIX

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        sealed_size = None if size is None else encrypted_size(size)
        with encrypting_reader(stream, self.key) as reader:
            info = self.inner.put(self._enc(path), reader, sealed_size)
        return ObjectInfo(path, plaintext_size(info.size), info.mtime)

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """Seek by chunk: only the chunks holding ``offset`` .. ``offset + length`` are read.

        Reading starts one chunk early when ``offset`` falls on a chunk boundary, so that chunk's
        last-chunk flag says whether anything follows; a read past the end returns nothing.
        """
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        enc = self._enc(path)
        with self.inner.open(enc, 0, HEADER_SIZE) as fh:
            header = read_header(fh)
        key = self.key
        if header.key_id != key.key_id and self.keyring is not None:
            key = self.keyring.load(header.key_id)
        if offset:
            info = self.inner.stat(enc)
            if info is not None and offset >= plaintext_size(info.size):
                return io.BytesIO(b"")
        index = (offset - 1) // CHUNK_SIZE if offset else 0
        src = self.inner.open(enc, HEADER_SIZE + index * SEALED_CHUNK_SIZE, None)
        return decrypting_reader(
            src, key, header, first_index=index, skip=offset - index * CHUNK_SIZE, limit=length
        )

    def stat(self, path: str) -> ObjectInfo | None:
        info = self.inner.stat(self._enc(path))
        if info is None:
            return None
        return ObjectInfo(path, plaintext_size(info.size), info.mtime)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Only ``.mmc`` files are listed: anything else was not written through this wrapper."""
        for info in self.inner.list(prefix):
            if info.path.endswith(SUFFIX):
                plain = info.path.removesuffix(SUFFIX)
                yield ObjectInfo(plain, plaintext_size(info.size), info.mtime)

    def remove(self, path: str) -> None:
        self.inner.remove(self._enc(path))

    def test(self) -> Accessibility:
        return self.inner.test()

    def free_space(self) -> int | None:
        return self.inner.free_space()

    def is_permanent_error(self, exc: BaseException) -> bool:
        return isinstance(exc, CryptError) or self.inner.is_permanent_error(exc)
