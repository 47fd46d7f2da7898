"""SIGKILL at any moment loses no recording and duplicates none (DESIGN.md section 4)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

from mm_engine.engine import Engine
from tests.audio_files import write_sidecar, write_wav
from tests.service_helpers import start_service, stop_service, wait_for
from tests.test_ingest import START
from tests.test_service import configure

RECORDINGS = 40
KILLS = 15


def test_killing_the_service_mid_stream_many_times_loses_and_duplicates_nothing(
    home: Path, tmp_path: Path
) -> None:
    handover = configure(home, settle=0.2)
    rng = random.Random(20261125)
    staging = tmp_path / "staging"
    staging.mkdir()
    names = []
    for n in range(RECORDINGS):
        wav = write_wav(
            staging / f"r{n:03}.wav",
            seconds=rng.uniform(5, 40),
            rate=rng.choice([8000, 16000]),
            codec=rng.choice(["pcm16", "ulaw"]),
        )
        write_sidecar(wav, call_id=f"K-{n:03}", start=START)
        names.append(wav.name)

    def feed() -> None:
        # the voicemail server keeps delivering while we kill the service
        for name in names:
            os.rename(
                staging / name.replace(".wav", ".json"), handover / name.replace(".wav", ".json")
            )
            os.rename(staging / name, handover / name)
            time.sleep(rng.uniform(0.0, 0.25))

    feeder = threading.Thread(target=feed)
    feeder.start()
    log = tmp_path / "service.log"
    counts_at_kill: list[int] = []
    proc = start_service(home, log=log)
    try:
        while len(counts_at_kill) < KILLS:
            time.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            counts_at_kill.append(count(home))
            proc = start_service(home, log=log)
        feeder.join()

        def done() -> bool:
            left = [p for p in handover.iterdir()]
            return not left and count(home) == RECORDINGS

        wait_for(done, timeout=240, every=0.5)
    finally:
        if proc.poll() is None:
            stop_service(proc)
        feeder.join()

    # the kills really fell in the middle of the stream, not before or after it
    assert any(0 < c < RECORDINGS for c in counts_at_kill), counts_at_kill
    with Engine(home) as engine:
        rows = engine.db.query("SELECT call_id, path, sha256 FROM recordings ORDER BY call_id")
        assert [r["call_id"] for r in rows] == [f"K-{n:03}" for n in range(RECORDINGS)]
        root = engine.store().root
        stored = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        assert stored == sorted(r["path"] for r in rows), "no orphan, partial or missing file"
        results = engine.catalogue.verify(None)
        assert {r.verification.value for r in results} == {"verified"}
        assert list(engine.data_dir.quarantine.iterdir()) == []


def count(home: Path) -> int:
    conn = sqlite3.connect(home / "mm.db")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM recordings").fetchone()[0])
    finally:
        conn.close()
