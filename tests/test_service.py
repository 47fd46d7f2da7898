"""The headless service (F8): watches the handover folder, holds the engine role, stops cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.audio_files import write_sidecar, write_wav
from tests.service_helpers import mm, start_service, stop_service, wait_for
from tests.test_ingest import START


def configure(home: Path, settle: float = 0.3) -> Path:
    handover = home / "handover"
    for key, value in (
        ("handover_folder", str(handover)),
        ("ingest_settle_seconds", str(settle)),
        ("ingest_rescan_seconds", "1"),
        ("disk_min_free_gb", "0"),
    ):
        assert mm(home, "config", "set", key, value).returncode == 0
    handover.mkdir(parents=True, exist_ok=True)
    return handover


def catalogued(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "mm.db")
    try:
        return [r[0] for r in conn.execute("SELECT call_id FROM recordings ORDER BY id")]
    finally:
        conn.close()


def alarm_types(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "mm.db")
    try:
        return [r[0] for r in conn.execute("SELECT type FROM alarms ORDER BY id")]
    finally:
        conn.close()


def drop(handover: Path, name: str, call_id: str, seconds: float = 1.0) -> Path:
    """Write as the voicemail server does: hidden temp name, then rename into place."""
    tmp = handover / f".{name}"
    write_wav(tmp, seconds=seconds)
    write_sidecar(handover / name, call_id=call_id, start=START)
    final = handover / name
    os.rename(tmp, final)
    return final


def test_service_ingests_dropped_files_and_stops_cleanly_on_sigterm(home: Path) -> None:
    handover = configure(home)
    proc = start_service(home)
    try:
        for n in range(3):
            drop(handover, f"rec{n}.wav", f"SVC-{n}")
        wait_for(lambda: len(catalogued(home)) == 3, timeout=60)
        assert sorted(os.listdir(handover)) == []
    finally:
        code = stop_service(proc)
    assert code == 0
    types = alarm_types(home)
    assert types.count("SYSTEM_RESTART") == 2  # started, then shutdown


def test_files_present_before_start_are_found_by_the_first_scan(home: Path) -> None:
    handover = configure(home)
    drop(handover, "early.wav", "EARLY-1")
    proc = start_service(home)
    try:
        wait_for(lambda: catalogued(home) == ["EARLY-1"], timeout=60)
    finally:
        stop_service(proc)


def test_a_file_still_being_written_is_not_taken_until_it_settles(home: Path) -> None:
    handover = configure(home, settle=1.5)
    proc = start_service(home)
    try:
        write_wav(home / "whole.wav", seconds=3.0)
        data = (home / "whole.wav").read_bytes()
        target = handover / "slow.wav"
        with open(target, "wb") as fh:
            for i in range(0, len(data), len(data) // 6):
                fh.write(data[i : i + len(data) // 6])
                fh.flush()
                time.sleep(0.5)
                assert catalogued(home) == [], "a growing file must not be ingested"
        wait_for(lambda: len(catalogued(home)) == 1, timeout=30)
        # hidden names are files still being written: never touched
        (handover / ".partial.wav").write_bytes(data)
        time.sleep(3)
        assert (handover / ".partial.wav").exists()
        assert len(catalogued(home)) == 1
    finally:
        stop_service(proc)


def test_a_second_service_refuses_to_start_with_a_clear_message(home: Path) -> None:
    configure(home)
    proc = start_service(home)
    try:
        wait_for(lambda: "SYSTEM_RESTART" in alarm_types(home), timeout=30)
        second = mm(home, "--no-ui")
        assert second.returncode == 3
        assert "already running" in second.stderr
        assert str(proc.pid) in second.stderr
    finally:
        stop_service(proc)


def test_bad_file_is_quarantined_and_the_service_keeps_going(home: Path) -> None:
    handover = configure(home)
    proc = start_service(home)
    try:
        (handover / "garbage.wav").write_bytes(b"not a wave file" * 100)
        drop(handover, "good.wav", "GOOD-1")
        wait_for(lambda: catalogued(home) == ["GOOD-1"], timeout=60)
        wait_for(lambda: "FILE_PARSE_ERROR" in alarm_types(home), timeout=30)
        assert any(p.name.endswith("garbage.wav") for p in (home / "quarantine").iterdir())
    finally:
        stop_service(proc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_service_releases_the_engine_lock_when_stopped(home: Path, sig: int) -> None:
    configure(home)
    proc = start_service(home)
    wait_for(lambda: "SYSTEM_RESTART" in alarm_types(home), timeout=30)
    assert stop_service(proc, sig) == 0
    again = start_service(home)
    try:
        wait_for(lambda: alarm_types(home).count("SYSTEM_RESTART") >= 3, timeout=30)
        assert again.poll() is None
    finally:
        stop_service(again)
