"""Snapshots of the Recordings tab at 80x24 and 120x40 (pytest-textual-snapshot).

Everything on screen is fixed: the recordings, their times (shown in UTC, the zone pinned
here), the account and the engine status; no clock is shown and the charts (which depend on
today) stay closed. Update with ``pytest --snapshot-update tests/test_console_snapshots.py``
after a deliberate change of the look, and review the SVGs in the diff.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from textual.pilot import Pilot

from mm_engine.engine import Engine
from mm_engine.principal import Role
from mm_tui.app import MMApp
from mm_tui.widgets.filter_panel import FilterPanel
from mm_tui.widgets.forms import Form
from tests.conftest import AddRecording
from tests.test_console import FAST, account, log_in, settle

DIRECTIONS = ("inbound", "outbound", "internal")
SKILLS = ("Sales-NL", "Support-EN", "", "Helpdesk-DE")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def console(engine: Engine, add_recording: AddRecording, utc: None) -> MMApp:
    """An administrator and 40 calls, one every 7 minutes from 2026-03-02 08:00 UTC."""
    engine.users.params = FAST
    account(engine, "alice", Role.ADMINISTRATOR)
    first = datetime.fromisoformat("2026-03-02T08:00:00+00:00")
    for i in range(40):
        add_recording(
            call_id=f"{4711000 + i}",
            start=first + timedelta(minutes=7 * i),
            duration_s=20 + 37 * i,
            direction=DIRECTIONS[i % 3],
            parties=[f"+3120555{i:04d}", f"{201 + i % 9}"],
            agents=["Ann de Vries"] if i % 2 else ["Bob Jansen"],
            owner=f"{201 + i % 9}",
            owner_kind="user",
            target=f"+3120555{i:04d}" if i % 3 == 0 else f"{201 + i % 9}",
            skill=SKILLS[i % 4],
            authenticated=i % 5 == 0,
        )
    return MMApp(engine, "embedded engine")


async def logged_in(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await log_in(pilot, "alice")
    await settle(pilot)


def test_recordings_tab_at_80x24_with_two_selected(snap_compare: Any, console: MMApp) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await logged_in(pilot)
        await pilot.press("x", "down", "x")
        await settle(pilot)

    assert snap_compare(console, terminal_size=(80, 24), run_before=before)


def test_recordings_tab_at_120x40(snap_compare: Any, console: MMApp) -> None:
    assert snap_compare(console, terminal_size=(120, 40), run_before=logged_in)


def test_filter_panel_at_80x24_names_a_bad_length(snap_compare: Any, console: MMApp) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await logged_in(pilot)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(pilot.app.screen, FilterPanel)
        pilot.app.screen.query_one(Form).set_values(
            {"start_from": "2026-03-02", "length": "five minutes", "direction": "inbound"}
        )
        await pilot.press("ctrl+s")
        await pilot.pause()

    assert snap_compare(console, terminal_size=(80, 24), run_before=before)
