"""The retry wrapper: any Store, with transient failures retried and permanent ones reported.

After restic's retry backend: a network blip, a throttled request or a server restart is waited
out with exponential backoff and full jitter (so many clients do not retry in step), while what
cannot get better by waiting (wrong credentials, a missing object, a bad path, a damaged
encrypted file) fails at once. The inner store decides which is which (``is_permanent_error``).

A ``put`` is retried only when its stream can be rewound (``seekable()``); otherwise the bytes
already sent are gone and the first failure is final.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

from mm_engine.storage.base import Accessibility, ObjectInfo, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5
BASE_DELAY = 0.5  # seconds before the first retry (at most; jitter takes a random part)
MAX_DELAY = 30.0


class RetryStore:
    def __init__(
        self,
        inner: Store,
        *,
        attempts: int = ATTEMPTS,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        redact: Callable[[str], str] = str,
    ) -> None:
        """``redact`` cleans an error's text before it is logged (a connector's secrets)."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.name = inner.name
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.jitter = jitter
        self.redact = redact

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): full jitter under a cap."""
        cap = min(self.max_delay, self.base_delay * 2.0**retry)
        return float(cap * self.jitter())

    def _call(
        self,
        what: str,
        fn: Callable[[], T],
        rewind: Callable[[], None] | None = None,
        retryable: bool = True,
    ) -> T:
        for attempt in range(self.attempts):
            try:
                return fn()
            except Exception as exc:
                last = attempt + 1 >= self.attempts
                if last or not retryable or self.inner.is_permanent_error(exc):
                    raise
                wait = self.delay(attempt)
                log.warning(
                    "%s on %s failed (%s: %s); retry %d of %d in %.1f s",
                    what,
                    self.name,
                    type(exc).__name__,
                    self.redact(str(exc)),
                    attempt + 1,
                    self.attempts - 1,
                    wait,
                )
                self.sleep(wait)
                if rewind is not None:
                    rewind()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        if not stream.seekable():
            return self._call("put", lambda: self.inner.put(path, stream, size), retryable=False)
        start = stream.tell()

        def rewind() -> None:
            stream.seek(start)

        return self._call("put", lambda: self.inner.put(path, stream, size), rewind)

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return self._call("open", lambda: self.inner.open(path, offset, length))

    def stat(self, path: str) -> ObjectInfo | None:
        return self._call("stat", lambda: self.inner.stat(path))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Retried until the first entry arrives; a failure later in a long listing is final."""

        def first_entry() -> tuple[Iterator[ObjectInfo], ObjectInfo | None]:
            it = iter(self.inner.list(prefix))  # anew each try: a failed generator is spent
            return it, next(it, None)

        it, first = self._call("list", first_entry)
        if first is None:
            return
        yield first
        yield from it

    def remove(self, path: str) -> None:
        self._call("remove", lambda: self.inner.remove(path))

    def test(self) -> Accessibility:
        """Not retried: a test answers "how is it now", quickly."""
        return self.inner.test()

    def free_space(self) -> int | None:
        return self._call("free_space", self.inner.free_space)

    def is_permanent_error(self, exc: BaseException) -> bool:
        return self.inner.is_permanent_error(exc)
