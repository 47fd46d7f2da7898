"""The retry and progress wrappers (DESIGN.md section 5): behaviour added around any Store.

Transient faults are injected by ``Flaky``, a thin wrapper around a real folder store that fails
the next N calls the way a dropped connection does (after reading part of the upload). That is
the one fault no real server here produces on demand; unreachable and wrong-key failures come
from real S3 servers on 127.0.0.1 (tests/stores/s3.py).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from mm_engine.storage.archive_keys import ArchiveKeys
from mm_engine.storage.base import Accessibility, ObjectInfo, Store
from mm_engine.storage.crypt_store import CryptStore
from mm_engine.storage.local import LocalStore
from mm_engine.storage.progress import ProgressStore
from mm_engine.storage.retry import RetryStore

DATA = bytes(range(256)) * 1000  # 256,000 bytes: several crypt chunks


class Flaky:
    """``inner``, with the next ``failures[op]`` calls of ``op`` failing as a dropped link."""

    def __init__(self, inner: Store, **failures: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.failures = dict(failures)
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        if self.failures.get(op, 0) > 0:
            self.failures[op] -= 1
            raise ConnectionResetError(f"{op}: connection reset by peer")

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        if self.failures.get("put", 0) > 0:
            stream.read(10_000)  # part of the upload went out before the link dropped
        self._maybe_fail("put")
        return self.inner.put(path, stream, size)

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        self._maybe_fail("open")
        return self.inner.open(path, offset, length)

    def stat(self, path: str) -> ObjectInfo | None:
        self._maybe_fail("stat")
        return self.inner.stat(path)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """``list`` fails before the first entry, ``list_late`` after it."""
        self._maybe_fail("list")
        late = self.failures.get("list_late", 0) > 0
        for info in self.inner.list(prefix):
            yield info
            if late:
                self.failures["list_late"] -= 1
                raise ConnectionResetError("list: connection reset by peer")

    def remove(self, path: str) -> None:
        self._maybe_fail("remove")
        self.inner.remove(path)

    def test(self) -> Accessibility:
        return self.inner.test()

    def free_space(self) -> int | None:
        return self.inner.free_space()

    def is_permanent_error(self, exc: BaseException) -> bool:
        return self.inner.is_permanent_error(exc)


def read(store: Store, path: str, offset: int = 0, length: int | None = None) -> bytes:
    with store.open(path, offset, length) as fh:
        data: bytes = fh.read()
        return data


@pytest.fixture
def folder(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


# -- retry ------------------------------------------------------------------------------------
def test_transient_failures_are_waited_out_with_growing_delays_then_the_put_succeeds(
    folder: LocalStore,
) -> None:
    sleeps: list[float] = []
    flaky = Flaky(folder, put=2)
    store = RetryStore(flaky, sleep=sleeps.append, jitter=lambda: 1.0, base_delay=0.5)
    info = store.put("2026/01/01/a.opus", io.BytesIO(DATA), len(DATA))
    assert info.size == len(DATA)
    assert read(folder, "2026/01/01/a.opus") == DATA  # rewound: the whole file, not the rest
    assert flaky.calls["put"] == 3
    assert sleeps == [0.5, 1.0]


def test_jitter_takes_a_random_part_of_a_capped_exponential_delay(folder: LocalStore) -> None:
    store = RetryStore(folder, base_delay=1.0, max_delay=10.0, jitter=lambda: 0.25)
    assert [store.delay(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.5, 2.5]


def test_after_the_last_attempt_the_error_is_reported(s3_unreachable_store: Store) -> None:
    sleeps: list[float] = []
    store = RetryStore(s3_unreachable_store, attempts=3, sleep=sleeps.append)
    with pytest.raises(Exception) as failure:
        store.stat("2026/01/01/a.opus")
    assert not s3_unreachable_store.is_permanent_error(failure.value)
    assert len(sleeps) == 2  # three attempts, two waits between them


def test_permanent_errors_are_not_retried(s3_denied_store: Store, folder: LocalStore) -> None:
    sleeps: list[float] = []
    denied = RetryStore(s3_denied_store, sleep=sleeps.append)
    with pytest.raises(Exception) as failure:
        denied.put("a.opus", io.BytesIO(b"x"), 1)
    assert s3_denied_store.is_permanent_error(failure.value)
    with pytest.raises(FileNotFoundError):
        RetryStore(folder, sleep=sleeps.append).open("no/such.opus")
    with pytest.raises(ValueError):
        RetryStore(folder, sleep=sleeps.append).put("../escape.opus", io.BytesIO(b"x"))
    assert sleeps == []


def test_a_put_whose_stream_cannot_rewind_fails_at_once(folder: LocalStore) -> None:
    class OneWay(io.RawIOBase):
        def __init__(self) -> None:
            self.src = io.BytesIO(DATA)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            view = memoryview(buffer).cast("B")
            data = self.src.read(len(view))
            view[: len(data)] = data
            return len(data)

    sleeps: list[float] = []
    store = RetryStore(Flaky(folder, put=1), sleep=sleeps.append)
    with pytest.raises(ConnectionResetError):
        store.put("a.opus", io.BufferedReader(OneWay()))
    assert sleeps == []
    assert folder.stat("a.opus") is None


def test_retry_around_crypt_re_encrypts_from_the_start(tmp_path: Path, folder: LocalStore) -> None:
    key = ArchiveKeys(tmp_path / "keys").create()
    sleeps: list[float] = []
    store = RetryStore(CryptStore(Flaky(folder, put=1), key), sleep=sleeps.append)
    store.put("a.opus", io.BytesIO(DATA), len(DATA))
    assert len(sleeps) == 1
    assert read(store, "a.opus") == DATA
    assert read(store, "a.opus", 70_000, 1000) == DATA[70_000:71_000]


def test_a_listing_is_retried_from_the_start_until_its_first_entry(folder: LocalStore) -> None:
    for name in ("a", "b", "c"):
        folder.put(f"x/{name}.opus", io.BytesIO(name.encode()))
    sleeps: list[float] = []
    store = RetryStore(Flaky(folder, list=2), sleep=sleeps.append)
    assert sorted(i.path for i in store.list("x")) == ["x/a.opus", "x/b.opus", "x/c.opus"]
    assert len(sleeps) == 2
    # a failure after entries were handed out cannot be undone: it is reported
    late = RetryStore(Flaky(folder, list_late=1), sleep=sleeps.append)
    with pytest.raises(ConnectionResetError):
        list(late.list("x"))


def test_test_is_answered_at_once_without_retrying(s3_unreachable_store: Store) -> None:
    sleeps: list[float] = []
    assert RetryStore(s3_unreachable_store, sleep=sleeps.append).test() is (
        Accessibility.UNREACHABLE
    )
    assert sleeps == []


# -- progress ---------------------------------------------------------------------------------
def test_progress_counts_every_byte_put_and_read(folder: LocalStore) -> None:
    seen: list[int] = []
    store = ProgressStore(folder, seen.append)
    source = io.BytesIO(DATA)
    store.put("a.opus", source, len(DATA))
    assert sum(seen) == len(DATA)
    assert not source.closed  # the caller's stream stays the caller's
    seen.clear()
    assert hashlib.sha256(read(store, "a.opus")).digest() == hashlib.sha256(DATA).digest()
    assert sum(seen) == len(DATA)
    seen.clear()
    assert read(store, "a.opus", 1000, 500) == DATA[1000:1500]
    assert sum(seen) == 500


def test_progress_under_retry_counts_what_was_actually_sent(folder: LocalStore) -> None:
    seen: list[int] = []
    sleeps: list[float] = []
    store = RetryStore(ProgressStore(Flaky(folder, put=1), seen.append), sleep=sleeps.append)
    store.put("a.opus", io.BytesIO(DATA), len(DATA))
    # the failed attempt sent part of the file, then the retry sent all of it
    assert sum(seen) > len(DATA)
    assert len(sleeps) == 1
    assert read(folder, "a.opus") == DATA


def test_a_retried_error_is_logged_without_the_connector_secret(
    folder: LocalStore, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sv=2024&sig=TOPSECRETSIGNATURE"

    class Leaky(Flaky):
        def stat(self, path: str) -> ObjectInfo | None:
            if self.failures.get("stat", 0) > 0:
                self.failures["stat"] -= 1
                raise ConnectionResetError(f"GET https://acct.blob/x?{secret} reset")
            return self.inner.stat(path)

    caplog.set_level("DEBUG")
    store = RetryStore(
        Leaky(folder, stat=1), sleep=lambda _s: None, redact=lambda t: t.replace(secret, "••••")
    )
    assert store.stat("nothing.opus") is None
    assert "reset" in caplog.text and secret not in caplog.text
