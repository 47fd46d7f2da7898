"""Encrypted archive format v1 (DESIGN.md section 5; the byte layout is docs/archive-format.md).

Archives go to places we do not trust (a NAS, a bucket, a DVD), are large, and must still open
years later with nothing but the key. Hence: a versioned header checked first (restic's habit),
fixed 64 KiB chunks so memory stays flat and a ranged read can seek, and AES-256-GCM per chunk
with the chunk counter *and* a last-chunk flag in the nonce. rclone crypt carries only the
counter, so a file cut at a chunk boundary still decrypts; here the final chunk is sealed
differently from every other one, so a cut, a reordering or appended bytes are all reported. The
header is the associated data of every chunk, so it cannot be swapped between files either.
"""

from __future__ import annotations

import hashlib
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mm_engine.errors import MMError
from mm_engine.text import N_, msg

MAGIC = b"MMCRYPT\x00"
VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_PREFIX_BYTES = 7
HEADER_SIZE = len(MAGIC) + 1 + KEY_ID_BYTES + NONCE_PREFIX_BYTES  # 24
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
MAX_CHUNKS = 1 << 32  # the counter is 32 bits: 256 TiB per file
SUFFIX = ".mmc"

_DAMAGED_HINT = msg(
    "The file was damaged or altered after it was written. Use another copy (the primary "
    "recording or another archive)."
)


class CryptError(MMError):
    """An encrypted archive file cannot be decrypted; the subclass says why."""

    title = N_("Encrypted archive cannot be read")


class NotAnArchive(CryptError):
    pass


class UnknownVersion(CryptError):
    pass


class WrongKey(CryptError):
    pass


class KeyFileError(CryptError):
    title = N_("Archive key cannot be read")


class ChunkAuthFailed(CryptError):
    def __init__(self, chunk: int) -> None:
        super().__init__(
            msg(
                "Authentication failed at chunk {chunk} (plaintext bytes from {start}).",
                chunk=chunk,
                start=chunk * CHUNK_SIZE,
            ),
            _DAMAGED_HINT,
        )
        self.chunk = chunk


class Truncated(CryptError):
    pass


class TrailingData(CryptError):
    pass


@dataclass(frozen=True, repr=False)
class ArchiveKey:
    """A 256-bit archive key. Its id (a hash prefix) goes into every header to find the key."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise KeyFileError(
                msg(
                    "An archive key must be {expected} bytes, not {actual}.",
                    expected=KEY_BYTES,
                    actual=len(self.secret),
                )
            )

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.secret).digest()[:KEY_ID_BYTES]

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"ArchiveKey(id={self.key_id_hex})"


class KeyRing(ABC):
    """Anything that finds an archive key by its id (``ArchiveKeys`` over a keys folder)."""

    @abstractmethod
    def load(self, key_id: bytes | str) -> ArchiveKey: ...


@dataclass(frozen=True)
class Header:
    version: int
    key_id: bytes
    nonce_prefix: bytes

    def to_bytes(self) -> bytes:
        return MAGIC + bytes([self.version]) + self.key_id + self.nonce_prefix

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        """Check magic, then version, before anything else: a v2 file must fail as v2."""
        if len(raw) < len(MAGIC) + 1 or raw[: len(MAGIC)] != MAGIC:
            raise NotAnArchive(
                msg("This is not an mm encrypted archive (wrong magic bytes)."),
                msg("Check the file name; archives end in .mmc and start with MMCRYPT."),
            )
        version = raw[len(MAGIC)]
        if version != VERSION:
            raise UnknownVersion(
                msg(
                    "Archive format version {version} is not known to this mm "
                    "(it reads version {known}).",
                    version=version,
                    known=VERSION,
                ),
                msg("Decrypt it with the mm version that wrote it, or a newer one."),
            )
        if len(raw) < HEADER_SIZE:
            raise Truncated(
                msg(
                    "The archive header is cut short ({got} of {size} bytes).",
                    got=len(raw),
                    size=HEADER_SIZE,
                ),
                _DAMAGED_HINT,
            )
        start = len(MAGIC) + 1
        return cls(
            version,
            raw[start : start + KEY_ID_BYTES],
            raw[start + KEY_ID_BYTES : HEADER_SIZE],
        )


def read_exactly(src: BinaryIO, n: int) -> bytes:
    """Read ``n`` bytes, or fewer only at end of stream (pipes and sockets return short reads)."""
    first = src.read(n)
    if len(first) == n or not first:
        return first
    parts = [first]
    got = len(first)
    while got < n:
        part = src.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_header(src: BinaryIO) -> Header:
    return Header.parse(read_exactly(src, HEADER_SIZE))


def chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    """96 bits: the file's random prefix, the chunk counter, and the last-chunk flag."""
    if index >= MAX_CHUNKS:
        raise CryptError(msg("A file cannot have more than {max} chunks.", max=MAX_CHUNKS))
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def encrypted_size(plain_size: int) -> int:
    """The archive's size up front (uploads need it): an empty file still has one chunk."""
    if plain_size < 0:
        raise ValueError("size must not be negative")
    chunks = max(1, -(-plain_size // CHUNK_SIZE))
    return HEADER_SIZE + plain_size + chunks * TAG_SIZE


def plaintext_size(cipher_size: int) -> int:
    """The inverse of :func:`encrypted_size`; a size no writer produces means a cut file."""
    body = cipher_size - HEADER_SIZE
    full, rest = divmod(max(body, 0), SEALED_CHUNK_SIZE)
    if body < TAG_SIZE or 0 < rest < TAG_SIZE:
        raise Truncated(
            msg(
                "An archive of {size} bytes cannot be complete: "
                "it ends inside a chunk's tag or header.",
                size=cipher_size,
            ),
            _DAMAGED_HINT,
        )
    return full * CHUNK_SIZE + (rest - TAG_SIZE if rest else 0)


def encrypt_chunks(
    src: BinaryIO, key: ArchiveKey, nonce_prefix: bytes | None = None
) -> Iterator[bytes]:
    """Yield the header, then each sealed chunk: one chunk (plus one read ahead) in memory.

    ``nonce_prefix`` is for test vectors only; a real file takes a fresh random one, which is
    what keeps nonces unique under one key.
    """
    prefix = os.urandom(NONCE_PREFIX_BYTES) if nonce_prefix is None else nonce_prefix
    if len(prefix) != NONCE_PREFIX_BYTES:
        raise ValueError(f"the nonce prefix must be {NONCE_PREFIX_BYTES} bytes")
    header = Header(VERSION, key.key_id, prefix).to_bytes()
    yield header
    aead = AESGCM(key.secret)
    index = 0
    chunk = read_exactly(src, CHUNK_SIZE)
    while True:
        # the last chunk is a full one only when nothing follows it
        ahead = read_exactly(src, CHUNK_SIZE) if len(chunk) == CHUNK_SIZE else b""
        last = not ahead
        yield aead.encrypt(chunk_nonce(prefix, index, last), chunk, header)
        if last:
            return
        chunk, index = ahead, index + 1


def _opens(aead: AESGCM, nonce: bytes, sealed: bytes, aad: bytes) -> bool:
    try:
        aead.decrypt(nonce, sealed, aad)
    except InvalidTag:
        return False
    return True


def decrypt_chunks(
    src: BinaryIO, key: ArchiveKey, header: Header, first_index: int = 0
) -> Iterator[bytes]:
    """Yield each chunk's plaintext, authenticated, ending only at a chunk sealed as the last.

    ``src`` is positioned just after the header (``first_index`` = 0) or at the start of chunk
    ``first_index`` for a ranged read. When a chunk fails, it is opened once more with the other
    last-chunk flag: that tells a clean cut at a chunk boundary (a middle chunk at end of file)
    and appended bytes (a final chunk with more after it) apart from damage.
    """
    if header.key_id != key.key_id:
        raise WrongKey(
            msg(
                "This file was encrypted with archive key {key_id}, "
                "not with the key given ({given}).",
                key_id=header.key_id.hex(),
                given=key.key_id_hex,
            ),
            msg(
                "Use the key file archive-{key_id}.key from the data directory's "
                "keys/ folder (or its backup).",
                key_id=header.key_id.hex(),
            ),
        )
    aad = header.to_bytes()
    aead = AESGCM(key.secret)
    prefix = header.nonce_prefix
    index = first_index
    sealed = read_exactly(src, SEALED_CHUNK_SIZE)
    while True:
        if len(sealed) < TAG_SIZE:
            if index == 0:
                raise Truncated(
                    msg("The archive is cut short: no final chunk after the header."),
                    _DAMAGED_HINT,
                )
            raise Truncated(
                msg(
                    "The archive is cut short: no final chunk after chunk {chunk}.",
                    chunk=index - 1,
                ),
                _DAMAGED_HINT,
            )
        ahead = read_exactly(src, SEALED_CHUNK_SIZE) if len(sealed) == SEALED_CHUNK_SIZE else b""
        at_end = not ahead
        try:
            plain = aead.decrypt(chunk_nonce(prefix, index, at_end), sealed, aad)
        except InvalidTag:
            if _opens(aead, chunk_nonce(prefix, index, not at_end), sealed, aad):
                if at_end:
                    raise Truncated(
                        msg(
                            "The archive is cut short: it ends after chunk {chunk}, "
                            "which is not the final chunk.",
                            chunk=index,
                        ),
                        _DAMAGED_HINT,
                    ) from None
                raise TrailingData(
                    msg("Unexpected data after the final chunk ({chunk}).", chunk=index),
                    msg(
                        "Bytes were appended to the file; the plaintext itself is intact, but "
                        "use another copy to be sure."
                    ),
                ) from None
            raise ChunkAuthFailed(index) from None
        yield plain
        if at_end:
            return
        sealed, index = ahead, index + 1


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte strings, with an optional skip and limit.

    This is what lets a Store's ``put`` take an encrypting stream and its ``open`` return a
    decrypting one, while only one chunk is ever held.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        *,
        skip: int = 0,
        limit: int | None = None,
        source: BinaryIO | None = None,
    ) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._skip = skip
        self._left = limit
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        out = memoryview(b).cast("B")
        while not self._buf:
            if self._left == 0:
                return 0
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            view = memoryview(chunk)
            if self._skip:
                dropped = min(self._skip, len(view))
                view, self._skip = view[dropped:], self._skip - dropped
            self._buf = view
        n = min(len(out), len(self._buf))
        if self._left is not None:
            n = min(n, self._left)
            self._left -= n
        out[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._buf = memoryview(b"")
            if self._source is not None:
                self._source.close()
        super().close()


def encrypting_reader(
    src: BinaryIO, key: ArchiveKey, nonce_prefix: bytes | None = None
) -> io.BufferedReader:
    """The archive bytes of ``src``, as a stream for a Store's ``put``; leaves ``src`` open."""
    return io.BufferedReader(ChunkReader(encrypt_chunks(src, key, nonce_prefix)))


def decrypting_reader(
    src: BinaryIO,
    key: ArchiveKey,
    header: Header,
    *,
    first_index: int = 0,
    skip: int = 0,
    limit: int | None = None,
) -> io.BufferedReader:
    """The plaintext of an archive whose header was already read; closes ``src`` when closed."""
    chunks = decrypt_chunks(src, key, header, first_index)
    return io.BufferedReader(ChunkReader(chunks, skip=skip, limit=limit, source=src))


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, key: ArchiveKey, *, nonce_prefix: bytes | None = None
) -> int:
    """Encrypt ``src`` into ``dst``; returns the archive's size in bytes."""
    written = 0
    for piece in encrypt_chunks(src, key, nonce_prefix):
        dst.write(piece)
        written += len(piece)
    return written


def decrypt_stream(src: BinaryIO, dst: BinaryIO, key: ArchiveKey | KeyRing) -> int:
    """Decrypt ``src`` into ``dst``; returns the plaintext size.

    ``dst`` receives authenticated chunks as they come, so a failure can leave a partial
    plaintext behind: write to a temporary file and keep it only when this returns.
    """
    header = read_header(src)
    if isinstance(key, KeyRing):
        key = key.load(header.key_id)
    written = 0
    for plain in decrypt_chunks(src, key, header):
        dst.write(plain)
        written += len(plain)
    return written
