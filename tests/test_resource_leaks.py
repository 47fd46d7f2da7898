"""Starting and stopping the engine returns threads and open files to where they were."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from mm_engine.engine import Engine
from mm_engine.service import Service
from tests.audio_files import write_sidecar, write_wav
from tests.service_helpers import wait_for
from tests.test_ingest import START


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_engine_and_service_start_stop_leave_no_threads_or_files_behind(home: Path) -> None:
    # warm up imports and lazily created module state once
    with Engine(home) as engine:
        engine.config.set("disk_min_free_gb", "0")
    threads, fds = threading.active_count(), open_fds()
    for round_ in range(3):
        with Engine(home) as engine:
            engine.config.set("ingest_settle_seconds", "0.1")
            handover = engine.config.path("handover_folder")
            if not str(handover).startswith(str(home)):
                handover = home / "handover"
                engine.config.set("handover_folder", str(handover))
            handover.mkdir(parents=True, exist_ok=True)
            service = Service(engine)
            service.start()
            wav = write_wav(handover / f"r{round_}.wav")
            write_sidecar(wav, call_id=f"LEAK-{round_}", start=START)
            wait_for(lambda w=wav: not w.exists(), timeout=30)
            engine.catalogue.verify(None)
            service.stop()
    assert threading.active_count() == threads, [t.name for t in threading.enumerate()]
    assert open_fds() == fds
