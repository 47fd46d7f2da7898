"""Recordings per day and storage use (the console's charts, issue 4), on a real catalogue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest

from mm_engine.audit import AuditAction
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from mm_engine.principal import Principal, ReplayScope, Rights, Role
from mm_engine.session import Session
from mm_engine.stats import PER_DAY_SQL, RATE_DAYS, recordings_per_day, storage_use
from tests.conftest import AddRecording

TODAY = date(2026, 3, 20)


@pytest.fixture(params=["UTC", "Europe/Amsterdam"])
def zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Days are the server's local days: checked in UTC and in a zone with an offset."""
    monkeypatch.setenv("TZ", str(request.param))
    time.tzset()
    yield str(request.param)
    monkeypatch.undo()
    time.tzset()


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute).astimezone()


def test_recordings_per_day_counts_each_local_day_and_fills_the_quiet_ones(
    engine: Engine, add_recording: AddRecording, zone: str
) -> None:
    placed = {
        TODAY: [local(TODAY, 0, 5), local(TODAY, 23, 55)],
        TODAY - timedelta(days=1): [local(TODAY - timedelta(days=1), 23, 59)] * 3,
        TODAY - timedelta(days=6): [local(TODAY - timedelta(days=6), 12)],
    }
    for starts in placed.values():
        for start in starts:
            add_recording(start=start)
    add_recording(start=local(TODAY - timedelta(days=7), 23, 59))  # the day before the window
    add_recording(start=local(TODAY + timedelta(days=1), 0, 1))  # tomorrow

    days = recordings_per_day(engine.db, 7, today=TODAY)

    assert [d.day for d in days] == [TODAY - timedelta(days=n) for n in reversed(range(7))]
    assert [d.recordings for d in days] == [1, 0, 0, 0, 0, 3, 2]


def test_recordings_per_day_defaults_to_today_and_checks_the_days(
    engine: Engine, add_recording: AddRecording
) -> None:
    add_recording(start=datetime.now().astimezone() - timedelta(minutes=1))
    days = recordings_per_day(engine.db, 30)
    assert len(days) == 30 and days[-1].day == date.today()
    assert sum(d.recordings for d in days) == 1
    for wrong in (0, 367):
        with pytest.raises(InvalidInput, match="between 1 and 366"):
            recordings_per_day(engine.db, wrong)


def test_recordings_per_day_is_one_walk_of_the_start_index(engine: Engine) -> None:
    """What keeps it fast on a million rows: an index range, never a table scan."""
    plan = " ".join(
        str(row[3]) for row in engine.db.query(f"EXPLAIN QUERY PLAN {PER_DAY_SQL}", (0.0, 1.0))
    )
    assert "USING COVERING INDEX" in plan and "start_ts>?" in plan
    assert "SCAN recordings" not in plan


def test_storage_use_sums_bytes_and_says_how_long_the_free_space_lasts(
    engine: Engine, add_recording: AddRecording
) -> None:
    now = datetime(2026, 3, 20, 12, 0).astimezone()
    recent = [add_recording(start=now - timedelta(days=d, hours=1)) for d in (0, 3, 10)]
    old = add_recording(start=now - timedelta(days=RATE_DAYS + 5))
    archived_only = add_recording(start=now - timedelta(days=RATE_DAYS + 6))
    engine.db.execute_write(
        "UPDATE recordings SET local_present = 0 WHERE id = ?", (archived_only.id,)
    )

    use = storage_use(engine, now=now)

    every = [*recent, old, archived_only]
    assert use.catalogue_bytes == sum(r.size for r in every)
    assert use.used_bytes == use.catalogue_bytes - archived_only.size
    assert use.bytes_per_day == pytest.approx(sum(r.size for r in recent) / RATE_DAYS)
    free = engine.store().free_space()
    assert free is not None and use.free_bytes is not None
    assert abs(use.free_bytes - free) < 64 << 20  # the same disk, read a moment apart
    assert use.days_left == pytest.approx(use.free_bytes / use.bytes_per_day)
    assert use.to_dict()["used_bytes"] == use.used_bytes


def test_storage_use_without_recent_recordings_has_no_days_left(
    engine: Engine, add_recording: AddRecording
) -> None:
    now = datetime(2026, 3, 20, 12, 0).astimezone()
    add_recording(start=now - timedelta(days=RATE_DAYS + 1))
    use = storage_use(engine, now=now)
    assert use.bytes_per_day == 0 and use.days_left is None and use.used_bytes > 0
    empty = storage_use(engine, now=now - timedelta(days=400))
    assert empty.bytes_per_day == 0


def test_the_session_gives_the_figures_to_staff_and_refuses_end_users(
    engine: Engine, add_recording: AddRecording
) -> None:
    add_recording(start=datetime.now().astimezone())
    standard = Session(engine, Principal("sam", Role.STANDARD))
    assert sum(d.recordings for d in standard.stats_per_day(7)) == 1
    assert standard.stats_storage().used_bytes > 0

    rights = Rights(replay_enabled=True, replay_scope=ReplayScope.MINE, extension="201")
    eve = Session(engine, Principal("eve", Role.END_USER, rights))
    with pytest.raises(Refused):
        eve.stats_per_day(7)
    with pytest.raises(Refused):
        eve.stats_storage()
    refused = [e for e in engine.audit.list(limit=50).items if e.user == "eve"]
    assert len(refused) == 2 and all(e.action == AuditAction.CONFIGURATION for e in refused)
    assert all(e.details["refused"] for e in refused)
