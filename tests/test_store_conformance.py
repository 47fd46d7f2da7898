"""One conformance suite for every storage type, each against a real server on 127.0.0.1.

The same behaviour is demanded of the local folder, Samba, the S3 server, the GCS emulator,
Azurite and the Google Drive double (tests/stores/gdrive.py says why that one is a double), so
archiving, migration and playback can treat them alike.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest

from mm_engine.storage.base import Accessibility, Store
from tests.stores import DENIABLE, KINDS, REMOTE


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    result: Store = request.getfixturevalue(f"{request.param}_store")
    return result


@pytest.fixture(params=DENIABLE)
def denied_store(request: pytest.FixtureRequest) -> Store:
    result: Store = request.getfixturevalue(f"{request.param}_denied_store")
    return result


@pytest.fixture(params=REMOTE)
def unreachable_store(request: pytest.FixtureRequest) -> Store:
    result: Store = request.getfixturevalue(f"{request.param}_unreachable_store")
    return result


def read_all(store: Store, path: str, offset: int = 0, length: int | None = None) -> bytes:
    with store.open(path, offset, length) as fh:
        data: bytes = fh.read()
        return data


class Generated(io.RawIOBase):
    """``size`` pseudo-random bytes produced as they are read: nothing held in memory."""

    def __init__(self, size: int, seed: int = 1, fail_after: int | None = None) -> None:
        self.remaining = size
        self.fail_after = fail_after
        self.sent = 0
        self.digest = hashlib.sha256()
        self.block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB pattern

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise OSError("the source went away")
        n = min(len(buffer), self.remaining, len(self.block))
        chunk = self.block[(self.sent % 7) : (self.sent % 7) + n]
        n = len(chunk)
        buffer[:n] = chunk
        self.remaining -= n
        self.sent += n
        self.digest.update(chunk)
        return n


def test_put_then_stat_and_read_back(store: Store) -> None:
    data = os.urandom(100_000)
    info = store.put("2026/11/25/call-1.opus", io.BytesIO(data), len(data))
    assert info.path == "2026/11/25/call-1.opus"
    assert info.size == len(data)
    found = store.stat("2026/11/25/call-1.opus")
    assert found is not None and found.size == len(data)
    assert read_all(store, "2026/11/25/call-1.opus") == data


def test_put_without_a_known_size(store: Store) -> None:
    data = b"opus" * 5000
    store.put("a/b.opus", io.BytesIO(data), None)
    assert read_all(store, "a/b.opus") == data


def test_ranged_reads(store: Store) -> None:
    data = bytes(range(256)) * 400
    store.put("r.bin", io.BytesIO(data), len(data))
    assert read_all(store, "r.bin", 1000, 50) == data[1000:1050]
    assert read_all(store, "r.bin", 100_000) == data[100_000:]
    assert read_all(store, "r.bin", 0, 10) == data[:10]


def test_missing_objects(store: Store) -> None:
    assert store.stat("no/such.opus") is None
    with pytest.raises(FileNotFoundError):
        read_all(store, "no/such.opus")
    store.remove("no/such.opus")  # removing what is not there is not an error


def test_overwrite_replaces_the_whole_object(store: Store) -> None:
    store.put("x.opus", io.BytesIO(b"first version, longer"), 21)
    store.put("x.opus", io.BytesIO(b"second"), 6)
    assert read_all(store, "x.opus") == b"second"
    assert store.stat("x.opus").size == 6  # type: ignore[union-attr]


def test_list_is_recursive_relative_and_bounded_by_folder(store: Store) -> None:
    for path in ("2026/01/02/a.opus", "2026/01/03/b.opus", "2026/02/01/c.opus", "2027/d.opus"):
        store.put(path, io.BytesIO(path.encode()), len(path))
    everything = {o.path: o.size for o in store.list()}
    assert everything == {
        "2026/01/02/a.opus": 17,
        "2026/01/03/b.opus": 17,
        "2026/02/01/c.opus": 17,
        "2027/d.opus": 11,
    }
    assert sorted(o.path for o in store.list("2026/01")) == [
        "2026/01/02/a.opus",
        "2026/01/03/b.opus",
    ]
    assert list(store.list("2025")) == []


def test_remove(store: Store) -> None:
    store.put("2026/01/02/a.opus", io.BytesIO(b"a"), 1)
    store.put("2026/01/02/b.opus", io.BytesIO(b"b"), 1)
    store.remove("2026/01/02/a.opus")
    assert store.stat("2026/01/02/a.opus") is None
    assert [o.path for o in store.list()] == ["2026/01/02/b.opus"]


def test_names_with_spaces_and_unicode(store: Store) -> None:
    path = "2026/11/25/Zoë Müller – 通话 #1.opus"
    store.put(path, io.BytesIO(b"hello"), 5)
    assert read_all(store, path) == b"hello"
    assert [o.path for o in store.list("2026")] == [path]


def test_paths_outside_the_store_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.put("../escape.opus", io.BytesIO(b"x"), 1)
    with pytest.raises(ValueError):
        store.put("/etc/escape.opus", io.BytesIO(b"x"), 1)


def test_large_files_stream_through(store: Store) -> None:
    size = 20 * 1024 * 1024 + 12345  # several multipart parts / resumable chunks
    source = Generated(size)
    store.put("big/call.opus", io.BufferedReader(source, 1 << 20), size)
    assert store.stat("big/call.opus").size == size  # type: ignore[union-attr]
    digest = hashlib.sha256()
    with store.open("big/call.opus") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == source.digest.hexdigest()


def test_a_failed_upload_leaves_nothing_behind(store: Store) -> None:
    store.put("keep.opus", io.BytesIO(b"old"), 3)
    source = Generated(12 * 1024 * 1024, fail_after=6 * 1024 * 1024)
    with pytest.raises(OSError):
        store.put("keep.opus", io.BufferedReader(source, 1 << 20), 12 * 1024 * 1024)
    assert read_all(store, "keep.opus") == b"old"  # the old object, whole
    with pytest.raises(OSError):
        store.put("new.opus", io.BufferedReader(Generated(8 << 20, fail_after=1 << 20), 1 << 20))
    assert store.stat("new.opus") is None
    assert [o.path for o in store.list()] == ["keep.opus"]


def test_accessible(store: Store) -> None:
    assert store.test() == Accessibility.OK
    space = store.free_space()
    assert space is None or space > 0


def test_wrong_credentials_are_denied_and_permanent(denied_store: Store) -> None:
    assert denied_store.test() == Accessibility.DENIED
    with pytest.raises(Exception) as caught:
        denied_store.put("x.opus", io.BytesIO(b"x"), 1)
    assert denied_store.is_permanent_error(caught.value)


def test_unreachable_is_transient(unreachable_store: Store) -> None:
    assert unreachable_store.test() == Accessibility.UNREACHABLE
    with pytest.raises(Exception) as caught:
        unreachable_store.put("x.opus", io.BytesIO(b"x"), 1)
    assert not unreachable_store.is_permanent_error(caught.value)
