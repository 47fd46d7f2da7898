"""Shared fixtures: a real engine on a real SQLite file in a temporary data directory."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from mm_engine.catalogue import NewRecording, insert_recording, next_seq
from mm_engine.domain import CallDetails, Direction, OwnerKind, Recording
from mm_engine.engine import Engine
from mm_engine.ingest.pipeline import safe_name

ROOT = Path(__file__).resolve().parents[1]

# Tests read mm's English messages: pin US English whatever the machine's locale (LANGUAGE
# comes first for mm and for gettext tools), before any test module imports mm_tui.cli.
os.environ["LANGUAGE"] = "en_US"

# a Store fixture per storage type, each against its real server (tests/stores/__init__.py)
pytest_plugins = [
    f"tests.stores.{path.stem}"
    for path in sorted((Path(__file__).parent / "stores").glob("*.py"))
    if path.stem not in ("__init__", "net")
]


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


# -- catalogued recordings, made exactly as ingest makes them ---------------------------------

CET = timezone(timedelta(hours=1))
BASE_START = datetime(2026, 3, 2, 9, 0, tzinfo=CET)


@functools.lru_cache(maxsize=64)
def opus_bytes(freq: float = 440.0, seconds: float = 1.0) -> bytes:
    """A real Ogg/Opus file: 8 kHz mono sine, as small as a recording gets."""
    t = np.arange(int(8000 * seconds)) / 8000
    buf = io.BytesIO()
    sf.write(
        buf,
        (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32),
        8000,
        format="OGG",
        subtype="OPUS",
    )
    return buf.getvalue()


AddRecording = Callable[..., Recording]


@pytest.fixture
def add_recording(engine: Engine) -> AddRecording:
    """Store a real Opus file, sign ``details.to_dict()`` and catalogue it, as ingest does.

    Keyword arguments are CallDetails fields (``start`` defaults to BASE_START) plus
    ``duration_s``: the catalogued length, which may differ from the one-second audio so
    length filters can be tested without long files.
    """
    count = 0

    def add(duration_s: float = 1.0, **fields: Any) -> Recording:
        nonlocal count
        count += 1
        fields.setdefault("call_id", f"C{count:04d}")
        fields.setdefault("start", BASE_START)
        if isinstance(fields.get("direction"), str):
            fields["direction"] = Direction(fields["direction"])
        if isinstance(fields.get("owner_kind"), str):
            fields["owner_kind"] = OwnerKind(fields["owner_kind"])
        details = CallDetails(**fields)
        data = opus_bytes(200.0 + 10 * (count % 40))
        with engine.db.read() as conn:
            seq = next_seq(conn, details.call_id)
        path = f"{details.start:%Y/%m/%d}/{safe_name(details.call_id)}-{seq}.opus"
        engine.store().put(path, io.BytesIO(data))
        digest = hashlib.sha256(data).hexdigest()
        new = NewRecording(
            details=details,
            duration_s=duration_s,
            path=path,
            size=len(data),
            sha256=digest,
            signature=engine.signer.sign(digest, details.to_dict()),
            key_id=engine.signer.key_id,
            source_key=uuid.uuid4().hex,
            source_name=f"{details.call_id}.wav",
        )
        rec_id = engine.db.write(lambda conn: insert_recording(conn, new, seq))
        return engine.catalogue.get(rec_id)

    return add


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real, small, separate filesystem: an 'additional disk' (F7) that can fill up.

    Mounting needs root; CI and ./scripts/test run as root.
    """
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and must run as root (CI does)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
