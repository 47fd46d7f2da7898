"""The local storage type: a folder. No server; it shares the conformance suite all the same."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mm_engine.storage.base import Store
from mm_engine.storage.registry import open_store


@pytest.fixture
def local_store(tmp_path: Path) -> Store:
    return open_store("local", {"path": str(tmp_path / f"store-{uuid.uuid4().hex[:8]}")}, "local")
