"""The Recordings tab driven as a person would (F24-F30 and the charts of issue 4): filters,
selection and bulk actions, continuous paging, footer and columns at 80 columns. Real app,
real engine, real SQLite and real Opus files."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from textual import events
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, LoadingIndicator, RadioButton, Static
from textual.widgets._footer import FooterKey

from mm_engine.audit import AuditAction
from mm_engine.catalogue import Page, SearchQuery
from mm_engine.engine import Engine
from mm_engine.principal import ReplayScope, Rights, Role
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.details import RecordingDetails
from mm_tui.dialogs.download import DownloadDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.verify_progress import VerifyDialog, time_left
from mm_tui.screens.main import MainScreen
from mm_tui.widgets.charts import ChartsStrip, DayBars
from mm_tui.widgets.filter_panel import FilterPanel, Filters
from mm_tui.widgets.forms import Form
from mm_tui.widgets.recordings_table import (
    COLUMN_INDEX,
    COLUMNS,
    MARK_ON,
    RecordingsPanel,
    RecordingsTable,
)
from tests.conftest import BASE_START, AddRecording
from tests.test_console import FAST, account, log_in, run_async, settle

SMALL = (80, 24)
LARGE = (120, 40)


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dates typed into the filters and the days of the chart are the server's local ones:
    pin the zone so the expectations hold anywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition`` holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await pilot.pause(0.05)


def panel(app: MMApp) -> RecordingsPanel:
    return app.screen.query_one(RecordingsPanel)


def shown_calls(app: MMApp) -> list[str]:
    table = app.screen.query_one(RecordingsTable)
    col = COLUMN_INDEX["call_id"]
    return [str(table.get_cell_at((row, col))) for row in range(table.row_count)]


def text_of(app: MMApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def status(app: MMApp) -> str:
    return text_of(app, "#recordings-status")


def audited(engine: Engine, action: AuditAction, user: str) -> list[dict[str, object]]:
    return [
        e.details
        for e in engine.audit.list(limit=1000).items
        if e.user == user and e.action == action
    ]


async def open_filters(pilot: Pilot[None]) -> Form:
    await pilot.press("f")
    await pilot.pause()
    assert isinstance(pilot.app.screen, FilterPanel)
    return pilot.app.screen.query_one(Form)


async def apply_filters(pilot: Pilot[None], **values: str) -> None:
    form = await open_filters(pilot)
    form.set_values(values)
    await pilot.press("ctrl+s")
    await settle(pilot)


def four_calls(add_recording: AddRecording) -> None:
    """Four calls that each filter tells apart (times in UTC, the zone of these tests)."""
    day = datetime(2026, 3, 1, 10, 0).astimezone()
    add_recording(
        call_id="F-1", start=day, duration_s=30, direction="inbound",
        parties=["201", "0301111"], agents=["Ann"], target="555", skill="Sales",
    )  # fmt: skip
    add_recording(
        call_id="F-2", start=day + timedelta(days=1), duration_s=700, direction="outbound",
        parties=["202", "0302222"], agents=["Bob"], target="0302222", skill="Support",
    )  # fmt: skip
    add_recording(
        call_id="F-3", start=day + timedelta(days=2), duration_s=45, direction="internal",
        parties=["201", "202"], agents=["Ann", "Bob"], target="202", skill="Sales",
    )  # fmt: skip
    add_recording(
        call_id="F-4", start=day + timedelta(days=3), duration_s=600, direction="inbound",
        parties=["203", "0304444"], agents=["Cy"], target="555", skill="Support",
    )  # fmt: skip


# -- filters (F25, F26) -------------------------------------------------------------------------
FILTER_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({"start_from": "2026-03-02", "start_to": "2026-03-03"}, ["F-3", "F-2"]),
    ({"start_from": "2026-03-02 12:00"}, ["F-4", "F-3"]),
    ({"length": ">=600"}, ["F-4", "F-2"]),
    ({"length": "<60"}, ["F-3", "F-1"]),
    ({"length": "45"}, ["F-3"]),
    ({"parties": "201, 202"}, ["F-3"]),
    ({"agents": "Ann"}, ["F-3", "F-1"]),
    ({"target": "555"}, ["F-4", "F-1"]),
    ({"skill": "Support"}, ["F-4", "F-2"]),
    ({"call_id": "f-3"}, ["F-3"]),
    ({"direction": "inbound", "length": "<60"}, ["F-1"]),
    ({"direction": "inbound"}, ["F-4", "F-1"]),
]


@run_async
async def test_every_filter_narrows_the_rows_as_the_engine_says_and_show_all_restores(
    fast_engine: Engine, add_recording: AddRecording, utc: None
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    four_calls(add_recording)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=LARGE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        assert shown_calls(app) == ["F-4", "F-3", "F-2", "F-1"]
        for values, expected in FILTER_CASES:
            await pilot.press("f")
            await pilot.pause()
            assert isinstance(app.screen, FilterPanel)
            form = app.screen.query_one(Form)
            form.set_values({name: "" for name in Filters().values()} | values)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, MainScreen), values
            engine_says = fast_engine.catalogue.search(Filters(**values).query())
            assert shown_calls(app) == [r.details.call_id for r in engine_says.items], values
            assert shown_calls(app) == expected, values
            assert panel(app).position() == f"1–{len(expected)} of {len(expected)}"
            summary = text_of(app, "#recordings-filter-summary")
            assert summary.startswith("f: ") and summary != "f: filters"
        # the search box narrows within the filters: of the inbound calls only F-1 has either
        app.screen.query_one("#recordings-terms", Input).value = "0301111, 0302222"
        app.screen.query_one("#recordings-terms", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert shown_calls(app) == ["F-1"]

        await open_filters(pilot)
        await pilot.press("ctrl+r")  # show all: every filter and the search box cleared
        await settle(pilot)
        assert shown_calls(app) == ["F-4", "F-3", "F-2", "F-1"]
        assert app.screen.query_one("#recordings-terms", Input).value == ""
        assert text_of(app, "#recordings-filter-summary") == "f: filters"
        reopened = await open_filters(pilot)
        assert set(reopened.values().values()) == {""}
    searches = audited(fast_engine, AuditAction.SEARCH, "alice")
    assert any(s.get("length") == ">=600" for s in searches)  # the engine audits each search
    assert any(s.get("call_id") == "f-3" for s in searches)


@run_async
async def test_a_bad_filter_is_named_beside_its_field_and_changes_nothing(
    fast_engine: Engine, add_recording: AddRecording, utc: None
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    four_calls(add_recording)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        searches = len(audited(fast_engine, AuditAction.SEARCH, "alice"))
        form = await open_filters(pilot)
        form.set_values({"length": "about 5 min", "start_from": "yesterday"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, FilterPanel)  # still open, what was typed still there
        assert "Length filter 'about 5 min' is not valid" in form.error("length")
        assert ">=600" in form.error("length")  # the engine's hint says what to type
        assert "'yesterday' is not a date" in form.error("start_from")
        assert form.value("length") == "about 5 min"

        form.set_values({"length": "", "start_from": "2026-03-04", "start_to": "2026-03-01"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "The time range is empty" in form.error("start_to")
        assert form.error("length") == ""

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert shown_calls(app) == ["F-4", "F-3", "F-2", "F-1"]
        assert text_of(app, "#recordings-filter-summary") == "f: filters"

        # a search with nothing to look for: the engine's message, in the error dialog
        terms = app.screen.query_one("#recordings-terms", Input)
        terms.value = "!!, ??"
        terms.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert "has no letters or digits" in text_of(app, "#error-message")
        await pilot.press("escape")
        await settle(pilot)
        assert shown_calls(app) == ["F-4", "F-3", "F-2", "F-1"]
    assert len(audited(fast_engine, AuditAction.SEARCH, "alice")) == searches


# -- selection and bulk actions (F24, F28-F30) --------------------------------------------------
@run_async
async def test_select_two_then_delete_confirms_the_count_and_removes_exactly_those(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    recs = [
        add_recording(call_id=f"D-{i}", start=BASE_START + timedelta(minutes=i)) for i in range(4)
    ]
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        assert shown_calls(app) == ["D-3", "D-2", "D-1", "D-0"]
        await pilot.press("x")  # D-3, and the cursor moves on
        await pilot.press("down")  # skip D-2
        await pilot.press("insert")  # D-1
        await pilot.pause()
        table = app.screen.query_one(RecordingsTable)
        marks = [str(table.get_cell_at((r, COLUMN_INDEX["sel"]))) for r in range(4)]
        assert marks == [MARK_ON, "○", MARK_ON, "○"]
        assert "2 selected" in status(app)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = text_of(app, "#confirm-question")
        assert "Delete 2 recordings" in question and "D-3" in question and "D-1" in question
        await pilot.press("y")
        await settle(pilot)
        await until(pilot, lambda: shown_calls(app) == ["D-2", "D-0"], "the rows go")
        assert panel(app).position() == "1–2 of 2"
        assert "selected" not in status(app)
    gone = {e["call_id"] for e in audited(fast_engine, AuditAction.DELETE, "alice")}
    assert gone == {"D-3", "D-1"}
    assert sorted(
        r.details.call_id for r in fast_engine.catalogue.search(Filters().query()).items
    ) == [
        "D-0",
        "D-2",
    ]
    assert not (fast_engine.store().root / recs[3].path).exists()


@run_async
async def test_a_selects_the_page_then_none_and_a_selection_survives_paging(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    for i in range(120):
        add_recording(call_id=f"S-{i:03d}", start=BASE_START + timedelta(minutes=i))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("a")
        await pilot.pause()
        assert "100 selected" in status(app)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert "101 selected" in status(app)
        await pilot.press("p")
        await settle(pilot)
        table = app.screen.query_one(RecordingsTable)
        assert str(table.get_cell_at((0, COLUMN_INDEX["sel"]))) == MARK_ON  # still marked
        await pilot.press("a")  # all on the page already: select none
        await pilot.pause()
        assert "selected" not in status(app)
        await pilot.press("x", "escape")  # escape clears too
        await pilot.pause()
        assert "selected" not in status(app)


@run_async
async def test_verify_the_selection_shows_each_outcome(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    good = add_recording(call_id="V-GOOD", start=BASE_START)
    bad = add_recording(call_id="V-BAD", start=BASE_START + timedelta(minutes=1))
    add_recording(call_id="V-OTHER", start=BASE_START + timedelta(minutes=2))
    fast_engine.store().put(bad.path, io.BytesIO(b"not the recorded audio"))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("down", "x", "x")  # V-BAD and V-GOOD
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, VerifyDialog)
        dialog = app.screen
        await until(pilot, lambda: dialog.finished, "verification ends")
        assert dialog.tally is not None
        assert (dialog.tally.verified, dialog.tally.tampered, dialog.tally.cannot) == (1, 1, 0)
        assert "1 verified · 1 tampered · 0 cannot verify" in text_of(app, "#verify-tally")
        assert "call V-BAD: tampered" in text_of(app, "#verify-problems")
        assert "Done: 2 checked" in text_of(app, "#verify-counts")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "1 verified · 1 tampered" in status(app)
    assert good.id != bad.id


@run_async
async def test_verify_all_runs_with_progress_and_a_summary(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    recs = [add_recording(start=BASE_START + timedelta(minutes=i)) for i in range(30)]
    fast_engine.store().put(recs[3].path, io.BytesIO(b"changed"))
    fast_engine.store().remove(recs[7].path)
    seen: list[Message] = []
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL, message_hook=seen.append) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("V")
        await pilot.pause()
        assert isinstance(app.screen, VerifyDialog)
        dialog = app.screen
        assert "every recording" in text_of(app, "#verify-title")
        await until(pilot, lambda: dialog.finished, "verification ends")
        progressed = [m for m in seen if isinstance(m, VerifyDialog.Progressed)]
        assert progressed and progressed[0].tally.done >= 1
        bar = dialog.query_one("#verify-bar")
        assert (bar.total, bar.progress) == (30, 30)  # type: ignore[attr-defined]
        assert text_of(app, "#verify-tally") == "28 verified · 1 tampered · 1 cannot verify"
        problems = text_of(app, "#verify-problems")
        assert f"call {recs[3].details.call_id}: tampered" in problems
        assert f"call {recs[7].details.call_id}: cannot verify" in problems
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_download_of_the_selection_writes_a_zip_of_those_recordings(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    for i in range(3):
        add_recording(call_id=f"W-{i}", start=BASE_START + timedelta(minutes=i))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("x", "down", "x")  # W-2 and W-0
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, DownloadDialog)
        choice = app.screen.query_one("#download-page", RadioButton)
        assert choice.value and "The 2 selected recordings" in str(choice.label)
        app.screen.query_one("#download-folder", Input).value = str(tmp_path)
        await pilot.press("enter")
        await settle(pilot)
        await until(pilot, lambda: "Wrote" in text_of(app, "#download-result"), "written")
    (written,) = tmp_path.glob("mm-recordings-*.zip")
    with zipfile.ZipFile(written) as archive:
        assert sorted(archive.namelist()) == ["W-0-1.opus", "W-2-1.opus", "index.html"]
    assert len(audited(fast_engine, AuditAction.DOWNLOAD, "alice")) == 2


@run_async
async def test_details_offer_play_and_download_keys(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    add_recording(call_id="DET-1")
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RecordingDetails)
        note = text_of(app, "#details-note")
        assert "space plays it" in note and "w downloads it" in note
        assert "later version" not in note
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, DownloadDialog)
        assert "DET-1" in text_of(app, "#download-one-only")


# -- paging through a big catalogue -------------------------------------------------------------
@run_async
async def test_down_at_the_last_row_loads_the_next_page_and_up_at_the_top_the_one_before(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    for i in range(250):
        add_recording(call_id=f"P-{i:03d}", start=BASE_START + timedelta(minutes=i))
    newest_first = [f"P-{i:03d}" for i in reversed(range(250))]
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        table = app.screen.query_one(RecordingsTable)
        assert table.row_count == 100
        table.move_cursor(row=99)
        await pilot.pause()
        assert panel(app).selected().details.call_id == newest_first[99]  # type: ignore[union-attr]
        on_screen = table.cursor_row - table.scroll_y  # the cursor's line in the view
        await pilot.press("down")
        await settle(pilot)
        assert table.cursor_row - table.scroll_y == on_screen  # the view moved one row on
        # the next page follows the first; the cursor is on the 101st call, one row lower
        assert table.row_count == 200
        assert table.cursor_row == 100
        assert panel(app).selected().details.call_id == newest_first[100]  # type: ignore[union-attr]
        assert panel(app).position() == "1–200 of 250"
        assert table.region.contains(table.region.x, table.region.y)  # still on screen
        table.move_cursor(row=199)
        await pilot.pause()
        await pilot.press("pagedown")  # at the end: the third page comes, the first goes
        await settle(pilot)
        assert panel(app).position() == "101–250 of 250"
        assert table.row_count == 150
        assert panel(app).selected().details.call_id in newest_first[200:]  # type: ignore[union-attr]
        assert shown_calls(app) == newest_first[100:]
        table.move_cursor(row=0)
        await pilot.pause()
        assert table.scroll_y == 0
        await pilot.press("up")  # at the top: the first page comes back above
        await settle(pilot)
        assert table.cursor_row - table.scroll_y == 0  # still the top line of the view
        assert panel(app).position() == "1–200 of 250"
        assert panel(app).selected().details.call_id == newest_first[99]  # type: ignore[union-attr]
        assert shown_calls(app) == newest_first[:200]


@run_async
async def test_150_recordings_down_at_row_100_shows_the_other_50(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    for i in range(150):
        add_recording(start=BASE_START + timedelta(minutes=i))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        table = app.screen.query_one(RecordingsTable)
        await pilot.press("ctrl+end")  # the last held row
        await pilot.pause()
        assert table.cursor_row == 99
        await pilot.press("down")
        await settle(pilot)
        assert table.row_count == 150 and table.cursor_row == 100
        assert panel(app).position() == "1–150 of 150"
        await pilot.press("ctrl+end", "down")  # nothing after the last: nothing happens
        await settle(pilot)
        assert table.row_count == 150 and table.cursor_row == 149


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
@run_async
async def test_the_table_draws_every_line_as_a_data_table_would(
    fast_engine: Engine, add_recording: AddRecording, size: tuple[int, int]
) -> None:
    """The list draws its rows its own quick way (cell_table.py): the very segments, styles
    and click targets a DataTable would draw, for zebra rows, marks, the cursor, the hover
    highlight, focus and sideways scrolling, with text too wide or not one line."""
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    for i in range(30):
        add_recording(
            call_id=f"D-{i:02d}\tx", start=BASE_START + timedelta(minutes=i), duration_s=3725,
            parties=["+31205550049", "日本語の名前がとても長い"], agents=["Ann\nBob"],
            target="0123456789012345678901234567890", direction="outbound",
        )  # fmt: skip
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        table = app.screen.query_one(RecordingsTable)
        await pilot.press("x", "down", "down")  # a mark, and the cursor on the third row
        await pilot.pause()

        async def same_as_a_data_table(what: str) -> None:
            await pilot.pause()
            table.render_lines(table.region.reset_offset)  # as a repaint: styles worked out
            for y in range(table.size.height):
                ours, theirs = table.render_line(y), DataTable.render_line(table, y)
                assert list(ours) == list(theirs), f"{what}, line {y}"
                assert ours.cell_length == table.size.width

        await same_as_a_data_table("focused")
        await pilot.hover(RecordingsTable, offset=(10, 5))  # the row on line 5
        await same_as_a_data_table("hovered")
        assert table.hover_coordinate.row == 4 + round(table.scroll_y)
        await pilot.click(RecordingsTable, offset=(10, 6))  # a click puts the cursor there
        await same_as_a_data_table("clicked")
        assert table.cursor_row == 5 + round(table.scroll_y)
        for x in range(0, table.max_scroll_x + 1, 7):
            table.scroll_to(x=x, y=3, animate=False, immediate=True)
            await same_as_a_data_table(f"scrolled to {x}")
        table.scroll_to(x=table.max_scroll_x, animate=False, immediate=True)
        await same_as_a_data_table("scrolled to the end")
        app.screen.query_one("#recordings-terms", Input).focus()
        await same_as_a_data_table("not focused")
        lines = [line.text for line in table.render_lines(table.region.reset_offset)]
        assert all("\t" not in line and "\n" not in line for line in lines)


@run_async
async def test_a_page_slow_to_come_shows_the_loading_indicator_until_it_is_there(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    """A page usually comes in a few milliseconds and the list just changes; one that takes
    longer (a busy disk) covers the list with the loading indicator until it is there."""
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    for i in range(150):
        add_recording(call_id=f"S-{i:03d}", start=BASE_START + timedelta(minutes=i))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        recordings = panel(app)
        assert not recordings.loading and status(app).startswith("1–100 of 150")
        disk = threading.Event()
        search = recordings.session.search

        def slow_search(query: SearchQuery) -> Page:
            disk.wait(30)  # until the test lets the disk answer
            return search(query)

        recordings.session.search = slow_search  # type: ignore[method-assign]
        await pilot.press("n")
        await until(pilot, lambda: recordings.loading, "the loading indicator")
        assert isinstance(app.screen.get_widget_at(40, 10)[0], LoadingIndicator)
        await pilot.press("n")  # asked again while waiting: still the one page
        disk.set()
        await until(pilot, lambda: status(app).startswith("101–150 of 150"), "the next page")
        await settle(pilot)
        assert not recordings.loading
        assert app.screen.get_widget_at(40, 10)[0] is app.screen.query_one(RecordingsTable)
        assert shown_calls(app)[0] == "S-049"


# -- 80 columns: footer and columns -------------------------------------------------------------
IMPORTANT_KEYS = {
    "focus_search",
    "filters",
    "play_selected",
    "toggle_select",
    "download",
    "verify",
    "delete",
    "next_page",
    "previous_page",
}


@run_async
async def test_at_80_columns_the_important_keys_and_columns_show(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    add_recording(call_id="1234567890", parties=["+31205550049", "229"], duration_s=3725)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.pause()
        shown = {
            key.action
            for key in app.screen.query(FooterKey)
            if key.region.width and key.region.right <= SMALL[0]
        }
        assert shown >= IMPORTANT_KEYS, IMPORTANT_KEYS - shown
        table = app.screen.query_one(RecordingsTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[1:] == [
            "call date", "length", "parties", "direction", "call ID",
            "agent", "initiator", "target", "skill", "auth",
        ]  # fmt: skip
        widths = [c.get_render_width(table) for c in table.columns.values()]
        visible = table.scrollable_content_region.width
        assert sum(widths[: COLUMN_INDEX["call_id"] + 1]) <= visible
        assert sum(widths) > visible  # the rest scrolls into view
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[COLUMN_INDEX["length"]] == "1:02:05"
        assert row[COLUMN_INDEX["parties"]] == "+31205550049, 229"
    assert len(COLUMNS) == 11


@run_async
async def test_the_palette_lists_recordings_actions_as_area_verb(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    rights = Rights(replay_enabled=True, replay_scope=ReplayScope.MINE, extension="201")
    account(fast_engine, "eve", Role.END_USER, rights)
    add_recording(call_id="PAL-1", parties=["201"])
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        wanted = {"play", "download", "verify", "verify all", "delete", "filter", "show all"}
        assert {f"recordings: {verb}" for verb in wanted | {"select", "charts"}} <= set(commands)
        commands["recordings: select"].callback()
        await settle(pilot)
        assert "1 selected" in status(app)
        commands["recordings: filter"].callback()
        await settle(pilot)
        assert isinstance(app.screen, FilterPanel)
        await pilot.press("escape")
        await pilot.press("ctrl+l")
        await settle(pilot)
        await log_in(pilot, "eve")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "recordings: play" in titles and "recordings: download" not in titles
        assert "recordings: verify all" not in titles and "recordings: charts" not in titles
        assert "recordings: delete" not in titles


# -- charts (issue 4) ---------------------------------------------------------------------------
@run_async
async def test_charts_show_recordings_per_day_and_storage_use(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    today = date.today()

    def noon(days_ago: int) -> datetime:
        return (
            datetime.combine(today - timedelta(days=days_ago), datetime.min.time())
            .replace(hour=12)
            .astimezone()
        )

    for days_ago, count in ((0, 2), (1, 5), (6, 1), (29, 3), (31, 4)):
        for _ in range(count):
            add_recording(start=noon(days_ago))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        strip = app.screen.query_one(ChartsStrip)
        assert not strip.display
        await pilot.press("c")
        await settle(pilot)
        await until(pilot, lambda: strip.storage is not None, "storage measured")
        assert strip.display
        counts = app.screen.query_one(DayBars).counts
        expected = [0] * 30
        expected[-1], expected[-2], expected[-7], expected[0] = 2, 5, 1, 3
        assert counts == expected
        title = text_of(app, "#charts-days-title")
        assert "11 · today 2" in title and f"peak 5 on {today - timedelta(days=1):%m-%d}" in title
        assert "B used" in text_of(app, "#charts-storage-used")
        assert "free" in text_of(app, "#charts-storage-used")
        assert " left at " in text_of(app, "#charts-storage-left")  # a few KB a day
        bars = app.screen.query_one(DayBars).render()
        assert "█" in str(bars)
        await pilot.press("c")
        await pilot.pause()
        assert not strip.display


@run_async
async def test_an_end_user_has_no_charts_and_no_verify_all(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    rights = Rights(replay_enabled=True, replay_scope=ReplayScope.MINE, extension="201")
    account(fast_engine, "eve", Role.END_USER, rights)
    add_recording(call_id="MINE", parties=["201"])
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "eve")
        assert not app.screen.query(ChartsStrip)
        actions = {b.binding.action for b in app.active_bindings.values()}
        assert "verify" in actions
        assert not {"verify_all", "charts"} & actions
        await pilot.press("V", "c")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    assert audited(fast_engine, AuditAction.VERIFY, "eve") == []


@run_async
async def test_typing_a_number_on_the_list_starts_a_search_for_it(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    add_recording(call_id="N-1", parties=["4201"])
    add_recording(call_id="N-2", parties=["+4202"], start=BASE_START + timedelta(minutes=1))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        # "/" and the digits in one burst, as they often arrive over SSH
        app.simulate_key("slash")
        for key in "4201":
            app.simulate_key(key)
        await pilot.pause()
        box = app.screen.query_one("#recordings-terms", Input)
        assert box.value == "4201" and box.has_focus
        await pilot.press("enter")
        await settle(pilot)
        assert shown_calls(app) == ["N-1"]
        app.screen.query_one(RecordingsTable).focus()  # "4201" is still in the box
        await pilot.pause()
        app.post_message(events.Key("plus", "+"))  # as a terminal sends it (pilot has no "+")
        await pilot.press("4", "2", "0", "2", "enter")
        await settle(pilot)
        assert box.value == "+4202"
        assert shown_calls(app) == ["N-2"]


def test_time_left_reads_as_a_clock_at_the_pace_so_far() -> None:
    assert time_left(10.0, 1, 4) == "0:30"
    assert time_left(3600.0, 1, 3) == "2:00:00"
    assert time_left(5.0, 0, 10) == "–:––"  # nothing done yet: no pace to go by
    assert time_left(5.0, 10, 10) == "0:00"
