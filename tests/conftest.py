"""Shared fixtures: a real engine on a real SQLite file in a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mm_engine.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, also selected through MM_HOME for subprocesses and the CLI."""
    path = tmp_path / "home"
    monkeypatch.setenv("MM_HOME", str(path))
    return path


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    eng = Engine(home)
    try:
        yield eng
    finally:
        eng.close()
