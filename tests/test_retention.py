"""Retention (F9) and disk space (F34): old recordings go, the disk never fills."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mm_engine.engine import Engine
from mm_engine.retention import Retention
from mm_engine.service import Service
from tests.conftest import AddRecording


def retention(engine: Engine) -> Retention:
    return Retention(engine.config, engine.catalogue, engine.alarms, engine.store)


def ids(engine: Engine) -> list[int]:
    return [r["id"] for r in engine.db.query("SELECT id FROM recordings ORDER BY id")]


def test_recordings_older_than_the_days_to_keep_are_deleted(
    engine: Engine, add_recording: AddRecording
) -> None:
    now = datetime.now(UTC)
    old = add_recording(start=now - timedelta(days=200))
    older = add_recording(start=now - timedelta(days=181))
    young = add_recording(start=now - timedelta(days=179))
    report = retention(engine).apply_days_to_keep()
    assert report.deleted == 2
    assert ids(engine) == [young.id]
    root = engine.store().root
    assert not (root / old.path).exists() and not (root / older.path).exists()
    assert (root / young.path).exists()


def test_zero_days_to_keep_never_deletes(engine: Engine, add_recording: AddRecording) -> None:
    engine.config.set("retention_days", "0")
    add_recording(start=datetime(2001, 1, 1, tzinfo=UTC))
    assert retention(engine).apply_days_to_keep().deleted == 0
    assert len(ids(engine)) == 1


def test_low_disk_prunes_just_enough_oldest_recordings_and_says_how_much(
    engine: Engine, add_recording: AddRecording, tmpfs: Path
) -> None:
    engine.config.set("call_storage_path", str(tmpfs / "calls"))
    base = datetime(2026, 1, 1, tzinfo=UTC)
    recs = [add_recording(start=base + timedelta(days=n)) for n in (5, 0, 3, 1, 4, 2)]
    oldest_first = sorted(recs, key=lambda r: r.details.start)
    (tmpfs / "other-data").write_bytes(b"\0" * (6 * 1024 * 1024))  # the disk fills up
    free = engine.store().free_space()
    assert free is not None
    need = sum(r.size for r in oldest_first[:3]) - 1
    engine.config.set("disk_min_free_gb", str((free + need) / 1024**3))

    report = retention(engine).ensure_free_space()

    assert report.deleted == 3
    assert ids(engine) == sorted(r.id for r in oldest_first[3:])
    for r in oldest_first[:3]:
        assert not (engine.store().root / r.path).exists()
    [alarm] = [a for a in engine.alarms.list() if a["type"] == "DISK_SPACE_ERROR"]
    assert "Will attempt to free" in str(alarm["message"])
    assert alarm["params"]["recordings"] == 3
    assert alarm["params"]["bytes"] == report.freed_bytes


def test_enough_space_prunes_nothing(engine: Engine, add_recording: AddRecording) -> None:
    add_recording()
    engine.config.set("disk_min_free_gb", "0.001")
    assert retention(engine).ensure_free_space().deleted == 0
    assert [a for a in engine.alarms.list() if a["type"] == "DISK_SPACE_ERROR"] == []


def test_days_to_keep_uses_the_call_time_not_the_ingest_time(
    engine: Engine, add_recording: AddRecording
) -> None:
    # a late arrival (F3): ingested today, but its call is older than the days to keep
    engine.config.set("retention_days", "30")
    late = add_recording(start=datetime.fromtimestamp(time.time() - 40 * 86400, UTC))
    assert retention(engine).apply_days_to_keep().deleted == 1
    assert late.id not in ids(engine)


def test_the_service_schedules_retention_audit_pruning_and_the_space_check(home: Path) -> None:
    with Engine(home) as engine:
        engine.config.set("disk_min_free_gb", "0")
        service = Service(engine)
        service.start()
        try:
            jobs = {job.id: str(job.trigger) for job in service.scheduler.get_jobs()}
        finally:
            service.stop()
    assert jobs["retention"].startswith("cron[") and "hour='2'" in jobs["retention"]
    assert jobs["audit-prune"].startswith("cron[")
    assert jobs["disk-space"].startswith("interval[0:01:00]")
