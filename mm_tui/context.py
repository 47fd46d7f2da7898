"""The engine a CLI command works on, opened once per invocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mm_engine.engine import Engine

_home: Path | None = None


def set_home(home: Path | None) -> None:
    global _home
    _home = home


@contextmanager
def open_engine() -> Iterator[Engine]:
    engine = Engine(_home)
    try:
        yield engine
    finally:
        engine.close()
