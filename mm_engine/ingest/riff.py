"""RIFF/WAVE chunks: find them without reading the audio, and add ours to a finished file.

Recordings can be an hour long, so the scanner reads chunk headers and seeks past bodies; it
never reads a ``data`` chunk. Real-world writers get RIFF subtly wrong, so the scanner is
forgiving where the intent is clear: a missing pad byte after an odd-sized chunk, a RIFF size
field left at 0 or 0xFFFFFFFF by a streaming writer, a ``data`` size of 0xFFFFFFFF (the audio
runs to the end of the file), RF64/BW64 files whose real sizes sit in ``ds64``, and files cut
short (complete chunks are returned, the cut one is not).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mm_engine.text import msg

RIFF_FORMS = (b"RIFF", b"RF64", b"BW64")
UNKNOWN_SIZE = 0xFFFFFFFF
# Bodies up to this size are read into memory; beyond it only the header is kept. Metadata
# chunks are tiny, so this only ever excludes audio or someone's embedded blob.
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Chunk:
    id: str  # four characters, as written (e.g. "fmt ", "LIST", "mmcd")
    offset: int  # of the body, from the start of the file
    size: int  # of the body, as declared (or from ds64 / end of file when undeclared)
    body: bytes | None = None  # None for data and for bodies over MAX_BODY


@dataclass
class RiffScan:
    form: str  # "RIFF", "RF64" or "BW64"
    chunks: list[Chunk] = field(default_factory=list)
    # Why the scan stopped before the end of the file, if it did ("" when it read everything).
    problem: str = ""

    def first(self, chunk_id: str) -> Chunk | None:
        return next((c for c in self.chunks if c.id == chunk_id), None)


def is_riff(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] in RIFF_FORMS and head[8:12] == b"WAVE"


def _valid_id(raw: bytes) -> bool:
    return len(raw) == 4 and all(0x20 <= b <= 0x7E for b in raw)


def scan(path: Path, *, max_body: int = MAX_BODY) -> RiffScan | None:
    """The chunks of a RIFF/WAVE file, or None when the file is not RIFF/WAVE."""
    with open(path, "rb") as fh:
        end = os.fstat(fh.fileno()).st_size
        head = fh.read(12)
        if not is_riff(head):
            return None
        result = RiffScan(form=head[:4].decode("ascii"))
        ds64_data_size: int | None = None
        pos = 12
        while pos + 8 <= end:
            fh.seek(pos)
            header = fh.read(8)
            raw_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if not _valid_id(raw_id):
                result.problem = msg("unreadable chunk header at byte {at}", at=pos)
                break
            chunk_id = raw_id.decode("ascii")
            body_at = pos + 8
            if chunk_id == "data":
                if size == UNKNOWN_SIZE:
                    size = ds64_data_size if ds64_data_size is not None else end - body_at
                if body_at + size > end:
                    result.chunks.append(Chunk(chunk_id, body_at, end - body_at))
                    result.problem = msg("the audio data is cut short")
                    break
                result.chunks.append(Chunk(chunk_id, body_at, size))
            else:
                if body_at + size > end:
                    result.problem = msg(
                        "chunk '{chunk}' is cut short ({got} of {size})",
                        chunk=chunk_id,
                        got=end - body_at,
                        size=size,
                    )
                    break
                body = None
                if size <= max_body:
                    fh.seek(body_at)
                    body = fh.read(size)
                result.chunks.append(Chunk(chunk_id, body_at, size, body))
                if chunk_id == "ds64" and body is not None and len(body) >= 16:
                    ds64_data_size = struct.unpack("<Q", body[8:16])[0]
            pos = _next_chunk(fh, body_at + size, end)
        return result


def _next_chunk(fh: BinaryIO, after_body: int, end: int) -> int:
    """Where the next chunk header starts: after the pad byte of an odd body, unless the
    writer forgot the pad and the header is plainly right there instead."""
    if after_body % 2 == 0:
        return after_body
    padded = after_body + 1
    if padded + 8 <= end:
        fh.seek(after_body)
        peek = fh.read(5)
        if not _valid_id(peek[1:5]) and _valid_id(peek[:4]):
            return after_body
    return padded


def info_fields(list_body: bytes) -> dict[str, str]:
    """The text fields of a ``LIST`` body of type ``INFO`` (e.g. ``{"ICMT": "..."}``).

    INFO text is meant to be ASCII and is often Windows-1252 in the wild; UTF-8 is tried
    first so our own writer's text survives, then Latin-1 so nothing fails to decode.
    """
    if list_body[:4] != b"INFO":
        return {}
    out: dict[str, str] = {}
    pos = 4
    while pos + 8 <= len(list_body):
        raw_id = list_body[pos : pos + 4]
        size = struct.unpack("<I", list_body[pos + 4 : pos + 8])[0]
        if not _valid_id(raw_id):
            break
        raw = list_body[pos + 8 : pos + 8 + size].split(b"\0", 1)[0]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        out.setdefault(raw_id.decode("ascii"), text)
        pos += 8 + size + (size & 1)
    return out


def chunk_bytes(chunk_id: str, body: bytes) -> bytes:
    """A complete chunk: id, little-endian size, body and the pad byte an odd size needs."""
    raw_id = chunk_id.encode("ascii")
    if not _valid_id(raw_id):
        raise ValueError(f"a RIFF chunk id is four printable ASCII characters, not {chunk_id!r}")
    return raw_id + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def info_list(fields: dict[str, str]) -> bytes:
    """A ``LIST``/``INFO`` chunk holding ``fields`` as NUL-terminated UTF-8 text."""
    body = b"INFO" + b"".join(
        chunk_bytes(key, value.encode("utf-8") + b"\0") for key, value in fields.items()
    )
    return chunk_bytes("LIST", body)


def append_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """Append complete chunks (from :func:`chunk_bytes`) to a RIFF file and fix its size field.

    Only plain RIFF with a declared data size qualifies: after a ``data`` chunk of unknown
    size, anything appended would be read as audio.
    """
    scanned = scan(path, max_body=0)
    if scanned is None or scanned.form != "RIFF":
        raise ValueError(f"{path.name}: not a plain RIFF/WAVE file")
    with open(path, "r+b") as fh:
        fh.seek(4)
        if struct.unpack("<I", fh.read(4))[0] == UNKNOWN_SIZE:
            raise ValueError(f"{path.name}: RIFF size unknown (streamed file), cannot append")
        end = fh.seek(0, os.SEEK_END)
        if end & 1:  # the last chunk's pad byte was never written
            fh.write(b"\0")
        for chunk in chunks:
            fh.write(chunk)
        total = fh.tell()
        if total - 8 > UNKNOWN_SIZE - 1:
            raise ValueError(f"{path.name}: over 4 GiB, too large for RIFF")
        fh.seek(4)
        fh.write(struct.pack("<I", total - 8))
