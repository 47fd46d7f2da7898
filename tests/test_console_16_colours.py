"""The console in a 16-colour terminal (issue 4: "with 256 colours and with 16").

A terminal that declares 16 colours (TERM=xterm, xterm-16color, screen, linux; no COLORTERM)
gets every colour from Textual as the nearest of the 16 standard ones: Rich detects the colour
system from TERM and Textual's ``Strip.render_ansi`` sends ``color.downgrade(color_system)``.
Two theme colours can meet in one; these tests make sure what a person must tell apart still
differs: letters from their background, the row under the cursor, the focused field, an error,
the footer's keys, the active tab.

The pilot tests see the screen through a line filter doing that same downgrade on every cell,
so they read the 16 colours the terminal would get (and the SVG snapshots show them); the tmux
test runs `mm` in a terminal declaring 16 colours and checks the escape codes it was sent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem, ColorType
from rich.segment import Segment
from rich.style import Style
from textual._compositor import LayoutUpdate
from textual.color import Color
from textual.filter import LineFilter
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TabbedContent

from mm_engine.engine import Engine
from mm_tui.app import MMApp
from mm_tui.screens.login import LoginScreen
from mm_tui.screens.main import TABS
from mm_tui.widgets.configuration_form import ConfigurationForm
from tests.conftest import AddRecording
from tests.test_console import PASSWORD, log_in, run_async, settle
from tests.test_console_snapshots import (
    TAB_FOCUS,
    add_calls,
    fix_clocks,
    logged_in,
    set_fixed_paths,
    stock,
)

STANDARD = ColorSystem.STANDARD
FG, BG = "fg", "bg"  # the terminal's own default colours (a colour of 0-15 is explicit)


@lru_cache(4096)
def _downgraded(style: Style) -> Style:
    def down(color: RichColor | None) -> RichColor | None:
        return None if color is None else color.downgrade(STANDARD)

    return style + Style.from_color(down(style.color), down(style.bgcolor))


class SixteenColours(LineFilter):
    """Every colour as Textual writes it to a terminal with the standard 16 colours."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            Segment(text, _downgraded(style) if style is not None else None, control)
            for text, style, control in segments
        ]


class SixteenColourApp(MMApp):
    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), SixteenColours()]


# -- what the screen shows, cell by cell ---------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    char: str
    fg: int | str
    bg: int | str

    @property
    def readable(self) -> bool:
        return self.fg != self.bg


def _number(color: RichColor | None, default: str) -> int | str:
    if color is None or color.type is ColorType.DEFAULT:
        return default
    assert color.type is ColorType.STANDARD, f"{color} is not one of the 16 colours"
    assert color.number is not None
    return color.number


class Screen16:
    """The cells of the screen in the 16 colours a terminal would get."""

    def __init__(self, app: MMApp) -> None:
        # what App.export_screenshot renders: the screen and the ones under a dialog
        update = app.screen._compositor.render_update(
            full=True, screen_stack=app._background_screens, simplify=True
        )
        self.rows: list[list[Cell]] = []
        assert isinstance(update, LayoutUpdate)
        for line in update.strips:
            row: list[Cell] = []
            for strip in line:
                for segment in strip:
                    if segment.control:
                        continue
                    style = segment.style or Style()
                    fg, bg = _number(style.color, FG), _number(style.bgcolor, BG)
                    if style.reverse:
                        fg, bg = bg, fg
                    row.extend(Cell(char, fg, bg) for char in segment.text)
            self.rows.append(row)

    def line(self, y: int) -> str:
        return "".join(c.char for c in self.rows[y])

    def find(self, text: str) -> tuple[int, int]:
        for y in range(len(self.rows)):
            x = self.line(y).find(text)
            if x >= 0:
                return y, x
        raise AssertionError(f"{text!r} is not on the screen:\n" + self.text())

    def cells(self, text: str) -> list[Cell]:
        y, x = self.find(text)
        return [c for c in self.rows[y][x : x + len(text)] if not c.char.isspace()]

    def colours(self, text: str) -> set[tuple[int | str, int | str]]:
        return {(c.fg, c.bg) for c in self.cells(text)}

    def text(self) -> str:
        return "\n".join(self.line(y) for y in range(len(self.rows)))

    def unreadable(self) -> list[str]:
        """Each line holding a letter or digit drawn in its own background colour."""
        return [
            self.line(y)
            for y, row in enumerate(self.rows)
            if any(c.char.isalnum() and not c.readable for c in row)
        ]


def footer_differs(screen: Screen16, key: str, description: str) -> None:
    """The footer's key stands out from what it does, and both can be read."""
    y = len(screen.rows) - 1
    line = screen.line(y)
    at = line.index(f"{key} {description}")
    key_cells = screen.rows[y][at : at + len(key)]
    words = screen.rows[y][at + len(key) + 1 : at + len(key) + 1 + len(description)]
    assert all(c.readable for c in key_cells + words)
    assert {c.fg for c in key_cells}.isdisjoint({c.fg for c in words})


def active_tab_differs(screen: Screen16, active: str, other: str) -> None:
    assert screen.colours(active) != screen.colours(other)


# -- the pilot tests -----------------------------------------------------------------------------
@pytest.fixture
def in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times shown in UTC, as in the snapshot tests."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def full_console(
    engine: Engine,
    add_recording: AddRecording,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    in_utc: None,
) -> SixteenColourApp:
    """The snapshot tests' morning (accounts, connectors, alarms) and its 40 calls."""
    stock(engine, fix_clocks(engine, monkeypatch), tmp_path)
    add_calls(add_recording)
    return SixteenColourApp(engine, "embedded engine")


@run_async
async def test_every_tab_stays_readable_with_the_cursor_row_and_keys_standing_out(
    full_console: SixteenColourApp,
) -> None:
    app = full_console
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(pilot)
        await pilot.press("x", "down", "x")  # x moves on: rows 1 and 3 selected, cursor on 4
        await settle(pilot)
        screen = Screen16(app)
        assert screen.unreadable() == []
        table = app.screen.query_one("#recordings-table", DataTable)
        y = table.region.y + 1  # under the header
        x = screen.line(y).index("●")
        marks = [screen.rows[y + i][x] for i in range(4)]
        assert [m.char for m in marks] == ["●", "○", "●", "○"]
        assert all(m.readable for m in marks)
        assert marks[3].bg != marks[1].bg  # the cursor row
        footer_differs(screen, "/", "Find")
        active_tab_differs(screen, "Recordings", "Connectors")
        for tab, focus in TAB_FOCUS.items():
            app.screen.query_one(TabbedContent).active = tab
            await settle(pilot)
            app.screen.query_one(focus).focus()
            await settle(pilot)
            screen = Screen16(app)
            assert screen.unreadable() == [], tab
            active_tab_differs(screen, TABS[tab][0], "Recordings")
            footer_differs(screen, "^l", "Log out")
            if isinstance(found := app.screen.query_one(focus), DataTable):
                top = found.region.y + 1
                x = found.region.x + 1
                assert screen.rows[top][x].bg != screen.rows[top + 1][x].bg, tab


@pytest.fixture
def configuration_console(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_utc: None
) -> SixteenColourApp:
    clock = fix_clocks(engine, monkeypatch)
    set_fixed_paths(engine, clock)
    stock(engine, clock, tmp_path)
    return SixteenColourApp(engine, "embedded engine")


async def bad_retention(pilot: Pilot[Any]) -> None:
    """The Configuration tab after saving a retention that is not a number."""
    await logged_in(pilot)
    screen = pilot.app.screen
    screen.query_one(TabbedContent).active = "configuration"
    await settle(pilot)
    for field in screen.query(Input):
        field.cursor_blink = False
    form = screen.query_one(ConfigurationForm)
    days = screen.query_one("#configuration-retention_days", Input)
    days.value = "a year"
    days.focus()
    form.action_save()
    await settle(pilot)


@run_async
async def test_an_error_and_the_focused_field_stand_out(
    configuration_console: SixteenColourApp,
) -> None:
    app = configuration_console
    async with app.run_test(size=(100, 30)) as pilot:
        await bad_retention(pilot)
        screen = Screen16(app)
        assert screen.unreadable() == []
        error = screen.colours("is not a whole number")
        help_text = screen.colours("Days to keep calls")
        label = screen.colours("retention_days")
        assert len(error) == 1 and error.isdisjoint(help_text | label)
        focused, other = screen.colours("a year"), screen.colours("/opt/vmpro/MM/VRL")
        assert {bg for _, bg in focused}.isdisjoint({bg for _, bg in other})


@run_async
async def test_the_login_error_and_the_focused_field_stand_out(
    configuration_console: SixteenColourApp,
) -> None:
    app = configuration_console
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice", "not the password")
        assert isinstance(app.screen, LoginScreen)
        screen = Screen16(app)
        assert screen.unreadable() == []
        error = screen.colours("Login failed")
        assert error.isdisjoint(screen.colours("User name"))
        # the password field has the focus: its frame is drawn, the user field's is not seen
        user = app.screen.query_one("#login-user", Input).region
        password = app.screen.query_one("#login-password", Input).region
        frame = {screen.rows[password.y][password.x + 2].fg}
        assert frame != {screen.rows[user.y][user.x + 2].fg}
        assert frame != {screen.rows[password.y][password.x + 2].bg}


def test_recordings_with_two_selected_at_80x24(
    snap_compare: Any, full_console: SixteenColourApp
) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await logged_in(pilot)
        await pilot.press("x", "down", "x")
        await settle(pilot)

    assert snap_compare(full_console, terminal_size=(80, 24), run_before=before)


def test_configuration_with_an_error_at_80x24(
    snap_compare: Any, configuration_console: SixteenColourApp
) -> None:
    assert snap_compare(configuration_console, terminal_size=(80, 24), run_before=bad_retention)


# -- a real terminal that has 16 colours -----------------------------------------------------
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
STANDARD_CODES = {*range(30, 38), 39, *range(40, 48), 49, *range(90, 98), *range(100, 108)}


def colour_codes(screen: str) -> tuple[set[int], list[str]]:
    """The colour codes (30-49, 90-107) of every SGR sequence, and each sequence that asks
    for a colour outside the 16 (38;5;n, 38;2;r;g;b and their 48 backgrounds)."""
    codes: set[int] = set()
    extended: list[str] = []
    for params in SGR.findall(screen):
        numbers = [int(p) for p in re.split("[;:]", params) if p.isdigit()]
        if 38 in numbers or 48 in numbers:
            extended.append(params)
        codes.update(n for n in numbers if 30 <= n <= 49 or 90 <= n <= 107)
    return codes, extended


class Terminal:
    """``mm`` in tmux, in a terminal declaring ``term``."""

    def __init__(self, term: str, home: Path, config: Path) -> None:
        self.socket = f"mm-16-{uuid.uuid4().hex[:8]}"
        config.write_text(f'set -g default-terminal "{term}"\n', encoding="utf-8")
        self.config = config
        # what would make Textual use more colours than TERM says, or none
        hidden = ("COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM", "FORCE_COLOR", "TMUX")
        self.env = {k: v for k, v in os.environ.items() if k not in hidden}
        self.env["MM_HOME"] = str(home)

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env,
        )

    def start(self, command: str) -> None:
        started = self.tmux(
            "new-session", "-d", "-s", "mm", "-x", "100", "-y", "30", "-e", "COLORTERM=", command
        )
        assert started.returncode == 0, started.stderr

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "mm", *keys)

    def wait_for(self, text: str, seconds: float = 30) -> str:
        """The screen with its escape codes, once ``text`` shows."""
        deadline = time.monotonic() + seconds
        plain = ""
        while time.monotonic() < deadline:
            plain = self.tmux("capture-pane", "-p", "-t", "mm").stdout
            if text in plain:
                time.sleep(0.3)  # let the rest of that frame arrive
                return self.tmux("capture-pane", "-e", "-p", "-t", "mm").stdout
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; screen:\n{plain}")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal_user(home: Path) -> Path:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: ./scripts/test installs it (Debian package tmux)")
    mm = Path(sys.executable).with_name("mm")
    subprocess.run(
        [str(mm), "users", "add", "admin", "--role", "administrator"],
        input=f"{PASSWORD}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return mm


def test_mm_in_a_16_colour_terminal_sends_only_the_16_colours(
    terminal_user: Path, home: Path, tmp_path: Path
) -> None:
    term = Terminal("xterm-16color", home, tmp_path / "tmux.conf")
    term.start(str(terminal_user))
    try:
        screens = {"login": term.wait_for("Log in to mm")}
        term.keys("admin", "Tab")
        term.keys(PASSWORD, "Enter")
        screens["recordings"] = term.wait_for("Next")
        for tab, shows in (("users", "account(s)"), ("configuration", "retention_days")):
            term.keys("C-p")
            term.wait_for("Search for commands")
            term.keys(f"{tab}: show")
            term.wait_for(f"Open the {tab.capitalize()} tab")  # the tab's name as shown
            term.keys("Enter")
            screens[tab] = term.wait_for(shows)
        term.keys("?")
        screens["help"] = term.wait_for("Ctrl+P lists every command")
    finally:
        term.close()
    for name, screen in screens.items():
        codes, extended = colour_codes(screen)
        assert extended == [], f"{name}: colours beyond the 16: {extended[:5]}"
        assert codes <= STANDARD_CODES, name
        assert codes & set(range(30, 38)) | codes & set(range(90, 98)), f"{name}: no colour"


def test_the_same_console_in_a_256_colour_terminal_uses_more(
    terminal_user: Path, home: Path, tmp_path: Path
) -> None:
    """The check above can fail: given 256 colours, Textual uses them."""
    term = Terminal("xterm-256color", home, tmp_path / "tmux.conf")
    term.start(str(terminal_user))
    try:
        screen = term.wait_for("Log in to mm")
    finally:
        term.close()
    assert colour_codes(screen)[1] != []
