"""A recording checked against its catalogue while a store reads it (mm_engine/archive_source.py).

What matters to a user: a recording whose file changed since it was catalogued never becomes an
archive copy, whatever way the store reads (in blocks, rewinding for a retry, stopping short),
and a good recording is hashed exactly as `sha256sum` would.
"""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from mm_engine.archive_source import TAIL, ArchiveSource, SourceMismatch

AUDIO = os.urandom(3 * (1 << 20) + 777)
SHA = hashlib.sha256(AUDIO).hexdigest()


def read_all(source: ArchiveSource, block: int) -> bytes:
    out = bytearray()
    view = memoryview(bytearray(block))
    while got := source.readinto(view):
        out += view[:got]
    return bytes(out)


@pytest.mark.parametrize("block", [1000, 1 << 20, 8 << 20])
def test_a_good_recording_reads_through_whole_and_hashed(block: int) -> None:
    source = ArchiveSource(io.BytesIO(AUDIO), len(AUDIO), SHA)
    assert read_all(source, block) == AUDIO
    assert (source.sha256, source.finish(), source.tail) == (SHA, SHA, AUDIO[-TAIL:])


def test_rewinding_for_a_retry_hashes_each_byte_once() -> None:
    source = ArchiveSource(io.BytesIO(AUDIO), len(AUDIO), SHA)
    first = source.read(2_000_000)
    source.seek(0)  # the upload failed half way and is tried again
    assert first + source.read() == AUDIO[:2_000_000] + AUDIO
    assert source.finish() == SHA


def test_a_store_that_stops_early_leaves_the_rest_to_finish() -> None:
    source = ArchiveSource(io.BytesIO(AUDIO), len(AUDIO), SHA)
    source.read(1000)
    assert source.sha256 is None
    assert source.finish() == SHA
    assert source.tail == AUDIO[-TAIL:]


@pytest.mark.parametrize(
    "damaged",
    [
        AUDIO[:-1] + bytes([AUDIO[-1] ^ 1]),  # one bit, the last byte
        bytes([AUDIO[0] ^ 0x80]) + AUDIO[1:],  # one bit, the first byte
        AUDIO[:-10],  # cut short
        AUDIO + b"extra",  # grown
    ],
    ids=["last-bit", "first-bit", "short", "long"],
)
def test_a_changed_file_fails_the_read_that_would_complete_it(damaged: bytes) -> None:
    source = ArchiveSource(io.BytesIO(damaged), len(AUDIO), SHA)
    with pytest.raises(SourceMismatch, match="does not match its catalogued checksum"):
        read_all(source, 1 << 20)
    assert source.mismatch is not None
    source.seek(0)  # a retry gets nowhere either
    with pytest.raises(SourceMismatch):
        source.read(10)


def test_the_last_read_raises_before_a_store_sees_the_last_bytes() -> None:
    """A store that reads exactly the size it was given (and never reads the end of the
    file) still cannot finish a damaged copy: the read that brings its last bytes raises."""
    damaged = AUDIO[:-1] + b"\x00" if AUDIO[-1] else AUDIO[:-1] + b"\x01"
    source = ArchiveSource(io.BytesIO(damaged), len(AUDIO), SHA)
    got = source.read(len(AUDIO) - 5)
    assert len(got) == len(AUDIO) - 5
    with pytest.raises(SourceMismatch):
        source.read(5)


def test_a_stream_that_cannot_seek_is_spooled_and_can_be_rewound() -> None:
    class OneWay(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(AUDIO)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            data = self.inner.read(min(len(buffer), 65_000))
            buffer[: len(data)] = data
            return len(data)

    one_way = OneWay()
    source = ArchiveSource(one_way, len(AUDIO), SHA)  # type: ignore[arg-type]
    assert one_way.closed
    source.read(100)
    source.seek(0)
    assert source.read() == AUDIO
    assert source.finish() == SHA


def test_without_a_catalogued_checksum_the_hash_is_taken_not_checked() -> None:
    """A recording migrated without a checksum (seed F29): archived as it is."""
    source = ArchiveSource(io.BytesIO(b"migrated audio"), 999, None)
    assert source.read() == b"migrated audio"
    assert source.read() == b""
    assert source.finish() == hashlib.sha256(b"migrated audio").hexdigest()


def test_an_empty_recording() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    source = ArchiveSource(io.BytesIO(b""), 0, empty)
    assert source.read() == b""
    assert source.finish() == empty
