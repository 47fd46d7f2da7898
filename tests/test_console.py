"""The console, driven as a person would: real app, real engine, real SQLite (issue 4)."""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TabbedContent
from textual.worker import WorkerCancelled

from mm_engine.alarms import AlarmType
from mm_engine.engine import Engine
from mm_engine.errors import NotFound
from mm_engine.passwords import ScryptParams
from mm_engine.principal import SYSTEM, ReplayScope, Rights, Role
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.help import HelpDialog
from mm_tui.screens.first_run import FirstRunScreen
from mm_tui.screens.login import LoginScreen
from mm_tui.screens.main import MainScreen
from mm_tui.widgets.recordings_table import COLUMN_INDEX, RecordingsPanel, RecordingsTable
from tests.conftest import BASE_START, AddRecording


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async pilot test on its own event loop (no pytest async plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


FAST = ScryptParams(n=2**10, r=8, p=1)
PASSWORD = "correct horse"
SIZE = (100, 30)


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


def account(engine: Engine, name: str, role: Role, rights: Rights | None = None) -> None:
    engine.users.add(SYSTEM, name, role, PASSWORD, rights)


async def _workers_done(pilot: Pilot[None]) -> None:
    """Wait for the workers running now. An exclusive worker (the alarm poll, a page load) may
    be cancelled by its successor meanwhile: that is not a failure, so wait again."""
    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def settle(pilot: Pilot[None]) -> None:
    await _workers_done(pilot)
    await pilot.pause()
    await _workers_done(pilot)
    await pilot.pause()


async def log_in(pilot: Pilot[None], name: str, password: str = PASSWORD) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, LoginScreen)
    screen.query_one("#login-user", Input).value = name
    screen.query_one("#login-password", Input).value = password
    screen.query_one("#login-password", Input).focus()
    await pilot.press("enter")
    await settle(pilot)


def panel(app: MMApp) -> RecordingsPanel:
    return app.screen.query_one(RecordingsPanel)


def audit_actions(engine: Engine, user: str) -> list[str]:
    return [e.action for e in engine.audit.list(None, limit=500).items if e.user == user]


@run_async
async def test_first_run_creates_the_first_administrator_and_logs_in(fast_engine: Engine) -> None:
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FirstRunScreen)
        app.screen.query_one("#first-user", Input).value = "boss"
        app.screen.query_one("#first-pw", Input).value = PASSWORD
        app.screen.query_one("#first-pw2", Input).value = PASSWORD
        app.screen.query_one("#first-pw2", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert "boss (administrator)" in app.screen.sub_title
        assert "embedded engine" in app.screen.sub_title
    assert [u.role for u in fast_engine.users.list(SYSTEM)] == [Role.ADMINISTRATOR]


@run_async
async def test_login_failure_shows_the_engine_message_then_success(fast_engine: Engine) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice", "wrong password")
        assert isinstance(app.screen, LoginScreen)
        message = str(app.screen.query_one("#login-message", Static).render())
        assert "unknown user name or wrong password" in message
        await log_in(pilot, "alice")
        assert isinstance(app.screen, MainScreen)
        tabs = [p.id for p in app.screen.query("TabPane")]
        assert tabs == [
            "recordings",
            "connectors",
            "audit",
            "alarms",
            "migration",
            "configuration",
            "users",
        ]
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
    assert audit_actions(fast_engine, "alice").count("logout") == 1


@run_async
async def test_recordings_show_one_page_with_the_count_and_search_narrows(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    add_recording(call_id="A1", parties=["201", "0301234567"], agents=["Ann"])
    add_recording(call_id="B2", parties=["202"], start=BASE_START + timedelta(hours=1))
    add_recording(call_id="C3", parties=["203"], start=BASE_START + timedelta(hours=2))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        table = app.screen.query_one(RecordingsTable)
        assert table.row_count == 3
        assert str(table.get_cell_at((0, COLUMN_INDEX["call_id"]))) == "C3"  # newest first
        assert panel(app).position() == "1–3 of 3"
        await pilot.press("slash")
        search = app.screen.query_one("#recordings-terms", Input)
        assert search.has_focus
        search.value = "202, 203"
        await pilot.press("enter")
        await settle(pilot)
        assert table.row_count == 2
        assert panel(app).position() == "1–2 of 2"


@run_async
async def test_paging_150_recordings_shows_100_then_50(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    for i in range(150):
        add_recording(start=BASE_START + timedelta(minutes=i))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        table = app.screen.query_one(RecordingsTable)
        assert table.row_count == 100
        assert panel(app).position().startswith("1–100 of 150")
        await pilot.press("n")
        await settle(pilot)
        assert table.row_count == 50
        assert panel(app).position() == "101–150 of 150"
        await pilot.press("p")
        await settle(pilot)
        assert table.row_count == 100


@run_async
async def test_delete_asks_then_removes_and_verify_reports(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    add_recording(call_id="KEEP", start=BASE_START)
    gone = add_recording(call_id="GONE", start=BASE_START + timedelta(hours=1))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("v")
        await settle(pilot)
        status = str(app.screen.query_one("#recordings-status", Static).render())
        assert "GONE: verified" in status
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        table = app.screen.query_one(RecordingsTable)
        assert table.row_count == 1
        assert panel(app).position() == "1–1 of 1"
    with pytest.raises(NotFound):
        fast_engine.catalogue.get(gone.id)


@run_async
async def test_a_standard_user_has_no_delete_key(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "sam", Role.STANDARD)
    add_recording(call_id="A1")
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "sam")
        actions = {b.binding.action for b in app.active_bindings.values()}
        assert "verify" in actions
        assert "delete" not in actions
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        tabs = [p.id for p in app.screen.query("TabPane")]
        assert tabs == ["recordings", "connectors", "alarms", "migration", "configuration"]
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "recordings: search" in commands
        assert "recordings: delete" not in commands
        assert all(": " in title for title in commands)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpDialog)
        keys = app.screen.query_one(DataTable)
        ids = {str(keys.get_cell_at((r, 2))) for r in range(keys.row_count)}
        assert {"recordings.verify", "app.help", "app.quit"} <= ids
        assert "recordings.delete" not in ids


@run_async
async def test_an_end_user_sees_only_recordings_and_only_theirs(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    rights = Rights(replay_enabled=True, replay_scope=ReplayScope.MINE, extension="201")
    account(fast_engine, "eve", Role.END_USER, rights)
    add_recording(call_id="MINE", parties=["201", "0301234567"])
    add_recording(call_id="OTHER", parties=["202", "0301234567"])
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "eve")
        assert [p.id for p in app.screen.query("TabPane")] == ["recordings"]
        table = app.screen.query_one(RecordingsTable)
        assert table.row_count == 1
        assert str(table.get_cell_at((0, COLUMN_INDEX["call_id"]))) == "MINE"


@run_async
async def test_alarms_are_listed_and_acknowledged(fast_engine: Engine) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.alarms.raise_(
        AlarmType.INTERNAL_SERVICE_ERROR, action="run", service="test", reason="boom"
    )
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        app.screen.query_one(TabbedContent).active = "alarms"
        await pilot.pause()
        alarms = app.screen.query_one("#alarms-table", DataTable)
        alarms.focus()
        await settle(pilot)
        assert alarms.row_count == 1
        assert str(alarms.get_cell_at((0, 4))) == "new"
        await pilot.press("a")
        await settle(pilot)
        assert str(alarms.get_cell_at((0, 4))) == "ack by alice"
    assert all(a["acknowledged"] for a in fast_engine.alarms.list())


# -- the real terminal ------------------------------------------------------------------------
def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)


def _wait_for(socket: str, text: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "mm").stdout
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; screen:\n{screen}")


def test_mm_opens_the_console_in_a_terminal_and_quits(home: Path) -> None:
    """Plain `mm` in tmux: log in, see the Recordings tab and the footer, quit with ctrl+q."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: ./scripts/test installs it (Debian package tmux)")
    mm = str(Path(sys.executable).with_name("mm"))
    subprocess.run(
        [mm, "users", "add", "admin", "--role", "administrator"],
        input=f"{PASSWORD}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    socket = f"mm-test-{uuid.uuid4().hex[:8]}"
    env = {"MM_HOME": str(home), "TERM": "xterm-256color"}
    started = _tmux(
        socket,
        "new-session",
        "-d",
        "-s",
        "mm",
        "-x",
        "100",
        "-y",
        "30",
        *(a for k, v in env.items() for a in ("-e", f"{k}={v}")),
        mm,
    )
    assert started.returncode == 0, started.stderr
    try:
        _wait_for(socket, "Log in to mm")
        _tmux(socket, "send-keys", "-t", "mm", "admin", "Tab")
        _tmux(socket, "send-keys", "-t", "mm", PASSWORD, "Enter")
        screen = _wait_for(socket, "Recordings")
        screen = _wait_for(socket, "Next")
        assert "embedded engine" in screen
        _tmux(socket, "send-keys", "-t", "mm", "C-q")
        deadline = time.monotonic() + 15
        while _tmux(socket, "has-session", "-t", "mm").returncode == 0:
            assert time.monotonic() < deadline, "the console did not quit on ctrl+q"
            time.sleep(0.2)
    finally:
        _tmux(socket, "kill-server")
    assert any(a["type"] == "SYSTEM_RESTART" for a in Engine(home).alarms.list())
