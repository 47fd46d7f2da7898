"""Snapshots of every tab at 80x24 and 120x40 (pytest-textual-snapshot).

Everything on screen is fixed: the recordings, their times (shown in UTC, the zone pinned
here), the accounts and the engine status; no clock is shown and the charts (which depend on
today) stay closed. The other tabs show times the engine stamps (alarms, audit events, last
logins, connectors): ``FixedClock`` sets each of those clocks by hand, and the paths the
Configuration tab shows are set to fixed ones. Update with
``pytest --snapshot-update tests/test_console_snapshots.py`` after a deliberate change of the
look, and review the SVGs in the diff.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TabbedContent

from mm_engine import alarms as alarms_module
from mm_engine import connectors as connectors_module
from mm_engine.alarms import AlarmType
from mm_engine.engine import Engine
from mm_engine.principal import SYSTEM, ReplayScope, Rights, Role
from mm_tui.app import MMApp
from mm_tui.widgets.audit_panel import AuditPanel
from mm_tui.widgets.filter_panel import FilterPanel
from mm_tui.widgets.forms import Form
from tests.conftest import AddRecording
from tests.test_console import FAST, PASSWORD, account, log_in, settle

DIRECTIONS = ("inbound", "outbound", "internal")
SKILLS = ("Sales-NL", "Support-EN", "", "Helpdesk-DE")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def add_calls(add_recording: AddRecording) -> None:
    """40 calls, one every 7 minutes from 2026-03-02 08:00 UTC."""
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


@pytest.fixture
def console(engine: Engine, add_recording: AddRecording, utc: None) -> MMApp:
    """An administrator and the 40 calls."""
    engine.users.params = FAST
    account(engine, "alice", Role.ADMINISTRATOR)
    add_calls(add_recording)
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


# -- the other tabs ----------------------------------------------------------------------------
T0 = datetime.fromisoformat("2026-03-02T07:00:00+00:00")
LOGIN = datetime.fromisoformat("2026-03-02T09:30:00+00:00")
FIXED_PATHS = {"handover_folder": "/opt/vmpro/MM/VRL", "call_storage_path": "/srv/mm/recordings"}


class FixedClock:
    """The time every engine clock the console shows reads, moved by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def iso(self) -> str:
        return self.at.isoformat(timespec="seconds")

    def step(self, minutes: int) -> None:
        self.at += timedelta(minutes=minutes)


def fix_clocks(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    fixed = FixedClock(T0)
    monkeypatch.setattr(alarms_module, "_now", fixed.iso)
    monkeypatch.setattr(connectors_module, "_now", fixed.iso)
    engine.audit.clock = fixed
    engine.users.clock = fixed
    return fixed


@pytest.fixture
def clock(engine: Engine, monkeypatch: pytest.MonkeyPatch, utc: None) -> FixedClock:
    return fix_clocks(engine, monkeypatch)


def set_fixed_paths(engine: Engine, clock: FixedClock) -> None:
    """Paths the Configuration tab shows that do not depend on the test's temporary folder;
    only while there are no recordings (nothing is written to them)."""
    for key, value in FIXED_PATHS.items():
        engine.config.set(key, value)
        clock.step(1)


def stock(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    """Accounts, connectors, alarms and audit events of a morning, at fixed times."""
    engine.users.params = FAST
    engine.config.set("retention_days", "365")
    clock.step(5)
    account(engine, "alice", Role.ADMINISTRATOR)
    account(engine, "bob", Role.STANDARD)
    rights = Rights(replay_enabled=True, replay_scope=ReplayScope.MINE, extension="201")
    account(engine, "eve", Role.END_USER, rights)
    engine.users.add(SYSTEM, "frank", Role.END_USER, PASSWORD)
    clock.step(10)
    engine.connectors.add("NAS", "local", {"path": str(tmp_path / "nas")})
    engine.connectors.add("Offsite", "local", {"path": str(tmp_path / "offsite")}, encrypt=True)
    engine.connectors.activate("NAS")
    clock.step(30)
    engine.alarms.raise_(AlarmType.ARCHIVE_ERROR, name="Offsite", error="the disk is not mounted")
    clock.step(15)
    engine.alarms.raise_(
        AlarmType.FILE_PARSE_ERROR, file="4711003.xml", reason="The file ends early."
    )
    engine.alarms.acknowledge(
        [a["id"] for a in engine.alarms.list() if a["type"] == "CONFIGURATION_ERROR"], "alice"
    )
    clock.at = LOGIN


@pytest.fixture
def stocked(engine: Engine, clock: FixedClock, tmp_path: Path) -> MMApp:
    set_fixed_paths(engine, clock)
    stock(engine, clock, tmp_path)
    return MMApp(engine, "embedded engine")


TAB_FOCUS = {
    "connectors": "#connectors-table",
    "audit": "#audit-table",
    "alarms": "#alarms-table",
    "migration": "#migration-source",
    "configuration": "#configuration-log_level",
    "users": "#users-table",
}


def on_tab(tab: str) -> Any:
    """Log in, open ``tab`` and put the focus where a person starts working there."""

    async def before(pilot: Pilot[Any]) -> None:
        await logged_in(pilot)
        screen = pilot.app.screen
        screen.query_one(TabbedContent).active = tab
        await settle(pilot)
        for field in screen.query(Input):
            field.cursor_blink = False  # a steady cursor: the picture must not depend on when
        screen.query_one(TAB_FOCUS[tab]).focus()
        if tab == "audit":  # read again: the Recordings tab's first search (audited) may
            screen.query_one(AuditPanel).action_reload()  # have ended after the first read
        await settle(pilot)
        for table in screen.query(DataTable):
            table.scroll_home(animate=False)

    return before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("tab", list(TAB_FOCUS))
def test_tab(snap_compare: Any, stocked: MMApp, tab: str, size: tuple[int, int]) -> None:
    assert snap_compare(stocked, terminal_size=size, run_before=on_tab(tab))
