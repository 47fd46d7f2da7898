"""The Recordings tab (F24–F30): search box, filters, a window of pages, selection, bulk actions.

A catalogue may hold millions of recordings and a DataTable keeps every row it is given, so
the table holds at most :data:`HELD_PAGES` pages. Pressing down on the last row (or page down
near it) fetches the next page from the engine and drops the oldest held one, keeping the rows
on screen where they were, so scrolling feels continuous; up on the first row does the same
backwards. Pages come from the engine's keyset cursors (kept in a list, to go back); the count
comes from the database.

The table is a CellTable (cell_table.py): cells of fixed width, drawn without Rich's
layout, so a page change costs a few milliseconds, not a hundred. A page that takes longer
than :data:`SLOW_FETCH_S` to come shows the loading indicator over the panel.

The selection (`x`, `a`) is a set of recordings that survives paging; verify, delete and
download act on it when there is one, otherwise on the row under the cursor.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Literal

from rich.style import Style
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, RadioButton, Static
from textual.worker import Worker, WorkerState, get_current_worker

import mm_tui.dialogs.download as download_dialog
from mm_engine.catalogue import Page, SearchQuery
from mm_engine.domain import Recording, Verification
from mm_engine.errors import InvalidInput
from mm_engine.principal import Principal, Role
from mm_engine.search import compile_query, split_values
from mm_engine.session import END_USER_MAX_RESULTS, Operation, Session, allowed
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.details import DetailsChoice, RecordingDetails
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.verify_progress import Tally, VerifyDialog, verdict
from mm_tui.i18n import N_, _, ngettext, plural
from mm_tui.widgets.cell_table import Cell, CellTable
from mm_tui.widgets.charts import ChartsStrip
from mm_tui.widgets.filter_panel import FilterChoice, FilterPanel, Filters
from mm_tui.widgets.forms import report_failure

PAGE_SIZE = 100
HELD_PAGES = 2
SLOW_FETCH_S = 0.3  # a page that takes longer shows the loading indicator
MARK_ON, MARK_OFF = "●", "○"

# (key, header, width): the columns most worth seeing come first, so at 80 columns the call
# date, length, parties, direction and call ID show and the rest scroll into view (F24).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("sel", "", 1),
    ("start", N_("call date"), 16),
    ("length", N_("length"), 7),
    ("parties", N_("parties"), 20),
    ("direction", N_("direction"), 9),
    ("call_id", N_("call ID"), 10),
    ("agents", N_("agent"), 16),
    ("initiator", N_("initiator"), 12),
    ("target", N_("target"), 14),
    ("skill", N_("skill"), 14),
    ("auth", N_("auth"), 4),
)
COLUMN_INDEX = {key: n for n, (key, _, _) in enumerate(COLUMNS)}

LoadMode = Literal["replace", "append", "prepend"]

# The command palette's "recordings: <verb>" entries: (verb, what it does, panel action).
RECORDING_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("search", _("Focus the search box (values separated by ',')"), "focus_search"),
    ("filter", _("Filter by date, length, direction, parties, agents, target..."), "filters"),
    ("show all", _("Clear the search box and every filter"), "show_all"),
    ("play", _("Play the recording under the cursor"), "play_selected"),
    ("download", _("Download the selection, or the recording under the cursor"), "download"),
    ("details", _("Every field of the recording under the cursor"), "details"),
    ("select", _("Select or unselect the recording under the cursor"), "toggle_select"),
    ("select all", _("Select every recording shown (again: select none)"), "select_page"),
    ("select none", _("Clear the selection"), "clear_selection"),
    ("verify", _("Verify the selection, or the recording under the cursor"), "verify"),
    ("verify all", _("Verify every recording, with progress and a summary"), "verify_all"),
    ("delete", _("Delete the selection, or the recording under the cursor (asks)"), "delete"),
    ("next page", _("Show the next page of recordings"), "next_page"),
    ("previous page", _("Show the previous page of recordings"), "previous_page"),
    ("charts", _("Show or hide recordings per day and storage use"), "charts"),
)
_NEEDS = {
    "play_selected": Operation.REPLAY,
    "download": Operation.DOWNLOAD,
    "verify": Operation.VERIFY,
    "verify_all": Operation.VERIFY,
    "delete": Operation.DELETE,
    "charts": Operation.CONFIG_VIEW,
}


def offered(principal: Principal, action: str) -> bool:
    """Whether ``principal`` gets the panel action at all (keys, footer, palette)."""
    if action == "verify_all" and principal.role is Role.END_USER:
        return False  # the engine verifies an end user's recordings by id only
    needs = _NEEDS.get(action)
    return needs is None or allowed(principal, needs)


def _length(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_BOLD, _DIM = Style(bold=True), Style(dim=True)
_ON, _OFF = Cell(MARK_ON, _BOLD), Cell(MARK_OFF, _DIM)


def mark(selected: bool) -> Cell:
    return _ON if selected else _OFF


def row_of(rec: Recording, selected: bool = False) -> tuple[Cell, ...]:
    """The cells of one row, as fixed-width cells: a plain string would be parsed as markup
    and a Text measured and laid out, which costs more than everything else in showing a
    page."""
    d = rec.details
    cells = {
        "sel": mark(selected),
        "start": Cell(f"{d.start.astimezone():%Y-%m-%d %H:%M}"),
        "length": Cell(_length(rec.duration_s), right=True),
        "parties": Cell(_fit(", ".join(d.parties), COLUMNS[COLUMN_INDEX["parties"]][2])),
        "direction": Cell(_(d.direction.value)),
        "call_id": Cell(d.call_id),
        "agents": Cell(", ".join(d.agents)),
        "initiator": Cell(d.owner),
        "target": Cell(d.target),
        "skill": Cell(d.skill),
        "auth": Cell("✓" if d.authenticated else ""),
    }
    return tuple(cells[key] for key, _, _ in COLUMNS)


class SelectionDownload(download_dialog.DownloadDialog):
    """The download dialog for the selection: the zip of all of them is the preset choice.

    (The dialog itself speaks of "this page"; this only relabels that choice.)
    """

    CSS_PATH = str(Path(download_dialog.__file__).with_name("download.tcss"))

    def on_mount(self) -> None:
        if len(self.page) > 1:
            choice = self.query_one("#download-page", RadioButton)
            choice.label = ngettext(
                "The {count} selected recording, as one zip with an index.html "
                "that lists and plays it",
                "The {count} selected recordings, as one zip with an index.html "
                "that lists and plays them",
                len(self.page),
            ).format(count=len(self.page))
            choice.value = True


class RecordingsTable(CellTable):
    """The held rows; enter opens details, and moving past either end asks for more rows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", _("Details"), show=False, id="recordings.details"),
    ]

    class DetailsRequested(Message):
        pass

    @dataclass
    class EdgeReached(Message):
        """The cursor would leave the held rows: ``direction`` +1 below, -1 above; ``step``
        is how far it would have moved."""

        direction: int
        step: int

    @dataclass
    class TypedAhead(Message):
        """A digit or "+" typed on the list: the start of a search for a number."""

        text: str

    def action_details(self) -> None:
        self.post_message(self.DetailsRequested())

    def on_key(self, event: events.Key) -> None:
        if event.character and (event.character.isdigit() or event.character == "+"):
            event.stop()
            event.prevent_default()
            self.post_message(self.TypedAhead(event.character))

    def _page_rows(self) -> int:
        header = self.header_height if self.show_header else 0
        return max(1, self.scrollable_content_region.height - header)

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached(1, 1))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.EdgeReached(-1, 1))
            return
        super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached(1, self._page_rows()))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.EdgeReached(-1, self._page_rows()))
            return
        super().action_page_up()


class RecordingsPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    # Footer order is this order, and at 80 columns only the first few fit: most used first.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", _("Find"), id="recordings.search"),
        Binding("f", "filters", _("Filter"), id="recordings.filters"),
        Binding("space", "play_selected", _("Play"), key_display="spc", id="recordings.play"),
        Binding("x,insert", "toggle_select", _("Sel"), id="recordings.select"),
        Binding("w", "download", _("Get"), id="recordings.download"),
        Binding("v", "verify", _("Verify"), id="recordings.verify"),
        Binding("d", "delete", _("Del"), id="recordings.delete"),
        Binding("n", "next_page", _("Next"), id="recordings.next_page"),
        Binding("p", "previous_page", _("Prev"), id="recordings.previous_page"),
        Binding("question_mark", "app.help", _("Help"), id="app.help"),
        Binding("a", "select_page", _("All"), id="recordings.select_page"),
        Binding("c", "charts", _("Charts"), id="recordings.charts"),
        Binding("V", "verify_all", _("Verify all"), id="recordings.verify_all"),
        Binding("escape", "clear_selection", _("Unselect"), show=False, id="recordings.unselect"),
    ]

    @dataclass
    class PageLoaded(Message):
        serial: int  # which load this answers (only the latest is shown)
        index: int  # which page of the search
        mode: LoadMode
        page: Page
        total: int | None  # None: same query, count unchanged
        cursor_at: int | None  # replace: row to put the cursor on (-1: last), None: keep
        step: int  # append / prepend: rows the cursor moves into the new page

    @dataclass
    class Verified(Message):
        recording_id: int
        call_id: str
        verification: Verification

    @dataclass
    class Deleted(Message):
        ids: list[int]

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.terms: list[str] = []
        self.filters = Filters()
        self.query_base = SearchQuery(limit=PAGE_SIZE)
        self.serial = 0
        self.cursors: list[str | None] = [None]  # cursors[i] fetches page i of the search
        self.first_page = 0  # the first held page
        self.pages: list[list[Recording]] = []  # the held pages, in order
        self.rows: list[Recording] = []
        self.total = 0
        self.fetching = False  # a page is on its way (not Widget.loading: that covers the panel)
        self._slow_fetch: Timer | None = None
        self._page_worker: Worker[None] | None = None
        self.selection: dict[int, Recording] = {}
        self.note = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="recordings-bar"):
            yield Input(
                placeholder=_("/ search: values separated by ','"),
                id="recordings-terms",
                compact=True,
            )
            yield Static("", id="recordings-filter-summary", markup=False)
        if allowed(self.session.principal, Operation.CONFIG_VIEW):
            yield ChartsStrip(self.session, id="recordings-charts")
        table = RecordingsTable(cursor_type="row", zebra_stripes=True, id="recordings-table")
        for key, label, width in COLUMNS:
            table.add_column(_(label) if label else label, width=width, key=key)
        yield table
        yield Static("", id="recordings-status", markup=False)

    def on_mount(self) -> None:
        # Every page shown leaves garbage in reference cycles (the DataTable's caches), so
        # the collector's full pass comes every 20 or so pages; it walks every object in the
        # process, the console's own startup ones too, and added ~100 ms to that page.
        # Frozen, those are left out of it (and given back when the panel goes: log out).
        gc.freeze()
        for strip in self.query(ChartsStrip):
            strip.display = False
        self._show_filters()
        self._load(self.query_base, 0, None, "replace", count=True, fresh=True, cursor_at=0)
        self.query_one(RecordingsTable).focus()

    def on_unmount(self) -> None:
        gc.unfreeze()

    # -- what the person asks for --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return offered(self.session.principal, action)

    def action_focus_search(self) -> None:
        # at once, not after the queued keys (what focus() does): over SSH "/" and the text
        # typed after it often arrive in one burst, and the text must land in the box
        self.screen.set_focus(self.query_one("#recordings-terms", Input))

    @on(RecordingsTable.TypedAhead)
    def _typed_ahead(self, event: RecordingsTable.TypedAhead) -> None:
        """Numbers are what people search for: typing one on the list starts the search (and
        keeps the digits typed right after "/" when a fast burst outruns the focus change)."""
        box = self.query_one("#recordings-terms", Input)
        if self.screen.focused is box:
            box.insert_text_at_cursor(event.text)
            return
        box.value = event.text  # a new search: what was in the box goes
        box.cursor_position = len(box.value)
        box.select_on_focus = False  # for this focus only, or the digit would be selected
        self.screen.set_focus(box)
        box.call_later(setattr, box, "select_on_focus", True)

    @on(Input.Submitted, "#recordings-terms")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.apply(split_values(event.value), self.filters)

    def action_filters(self) -> None:
        def chosen(choice: FilterChoice | None) -> None:
            if choice is None:
                return
            if choice.show_all:
                self.action_show_all()
            else:  # with what the search box says now, submitted or not
                terms = split_values(self.query_one("#recordings-terms", Input).value)
                self.apply(terms, choice.filters)

        self.app.push_screen(FilterPanel(self.filters), chosen)

    def action_show_all(self) -> None:
        """Every filter and the search box cleared."""
        self.query_one("#recordings-terms", Input).value = ""
        self.apply([], Filters())

    def apply(self, terms: list[str], filters: Filters) -> bool:
        """Search again with ``terms`` and ``filters``; a value the engine refuses opens the
        error dialog and changes nothing."""
        try:
            query = filters.query(terms, limit=PAGE_SIZE)
            compile_query(query)
        except InvalidInput as exc:
            self.app.push_screen(ErrorDialog.for_exception(exc))
            return False
        self.terms, self.filters, self.query_base = terms, filters, query
        self.selection.clear()
        self.note = ""
        self._show_filters()
        self._load(query, 0, None, "replace", count=True, fresh=True, cursor_at=0)
        self.query_one(RecordingsTable).focus()
        return True

    def action_next_page(self) -> None:
        last = self.first_page + len(self.pages) - 1
        if last + 1 < len(self.cursors) and not self.fetching:
            self._load(self.query_base, last + 1, self.cursors[last + 1], "replace", cursor_at=0)

    def action_previous_page(self) -> None:
        if self.first_page > 0 and not self.fetching:
            index = self.first_page - 1
            self._load(self.query_base, index, self.cursors[index], "replace", cursor_at=0)

    @on(RecordingsTable.EdgeReached)
    def _edge(self, event: RecordingsTable.EdgeReached) -> None:
        if self.fetching:
            return
        if event.direction > 0:
            index = self.first_page + len(self.pages)
            if index < len(self.cursors):
                self._load(self.query_base, index, self.cursors[index], "append", step=event.step)
        elif self.first_page > 0:
            index = self.first_page - 1
            self._load(self.query_base, index, self.cursors[index], "prepend", step=event.step)

    def selected(self) -> Recording | None:
        """The recording under the cursor."""
        table = self.query_one(RecordingsTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def current_page(self) -> list[Recording]:
        """The held page the cursor is on (the download dialog offers it as a zip)."""
        row = self.query_one(RecordingsTable).cursor_row
        for page in self.pages:
            if row < len(page):
                return list(page)
            row -= len(page)
        return []

    def targets(self) -> list[Recording]:
        """What a bulk action acts on: the selection, else the row under the cursor."""
        if self.selection:
            return list(self.selection.values())
        rec = self.selected()
        return [rec] if rec is not None else []

    # -- selection ------------------------------------------------------------------------------
    def action_toggle_select(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        self._mark(rec, rec.id not in self.selection)
        table = self.query_one(RecordingsTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._say()

    def action_select_page(self) -> None:
        """All held rows selected, or, when they all are, nothing selected."""
        if self.rows and all(r.id in self.selection for r in self.rows):
            self.action_clear_selection()
            return
        for rec in self.rows:
            self._mark(rec, True)
        self._say()

    def action_clear_selection(self) -> None:
        for rec in list(self.selection.values()):
            self._mark(rec, False)
        self.selection.clear()
        self._say()

    def _mark(self, rec: Recording, on: bool) -> None:
        if on:
            self.selection[rec.id] = rec
        else:
            self.selection.pop(rec.id, None)
        table = self.query_one(RecordingsTable)
        if str(rec.id) in table.rows:
            table.update_cell(str(rec.id), "sel", mark(on))

    # -- details, verify, delete, charts ------------------------------------------------------
    def action_details(self) -> None:
        self.show_details()

    @on(RecordingsTable.DetailsRequested)
    def show_details(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        principal = self.session.principal

        async def chosen(choice: DetailsChoice | None) -> None:
            if choice == "play":
                await self.action_play_selected()
            elif choice == "download":
                await self.action_download()

        dialog = RecordingDetails(
            rec,
            may_play=allowed(principal, Operation.REPLAY),
            may_download=allowed(principal, Operation.DOWNLOAD),
        )
        self.app.push_screen(dialog, chosen)

    # play and download belong to the screen (the player panel has them too); bound here as
    # well so they sit in the footer beside the other recordings keys
    async def action_play_selected(self) -> None:
        await self.app.run_action("play_selected", self.screen)

    async def action_download(self) -> None:
        await self.app.run_action("download", self.screen)

    def action_verify(self) -> None:
        if self.selection:
            ids = list(self.selection)
            self._verify_many(
                ids, plural("the {count} selected recording(s)", len(ids)).format(count=len(ids))
            )
        elif (rec := self.selected()) is not None:
            self._say(_("Verifying {call}…").format(call=rec.details.call_id))
            self._verify(rec.id)

    def action_verify_all(self) -> None:
        self._verify_many(None, _("every recording"))

    def _verify_many(self, ids: list[int] | None, what: str) -> None:
        def done(tally: Tally | None) -> None:
            if tally is not None:
                ok = not (tally.tampered or tally.cannot)
                self.notify(
                    tally.summary(), title=_("Verify"), severity="information" if ok else "error"
                )
                self._say(
                    _("Verified {count}: {summary}").format(
                        count=f"{tally.done:,}", summary=tally.summary()
                    )
                )

        self.app.push_screen(VerifyDialog(self.session, ids, what), done)

    def action_delete(self) -> None:
        chosen = self.targets()
        if not chosen:
            return
        if len(chosen) == 1:
            d = chosen[0].details
            title = _("Delete recording")
            question = _(
                "Delete the recording of call {call} ({moment})? This cannot be undone."
            ).format(call=d.call_id, moment=f"{d.start.astimezone():%Y-%m-%d %H:%M}")
        else:
            title = _("Delete recordings")
            calls = ", ".join(r.details.call_id for r in chosen[:5])
            if len(chosen) > 5:
                calls = _("{calls} and {count} more").format(calls=calls, count=len(chosen) - 5)
            question = _(
                "Delete {count} recordings (calls {calls})? This cannot be undone."
            ).format(count=len(chosen), calls=calls)
        ids = [r.id for r in chosen]

        def answered(yes: bool | None) -> None:
            if yes:
                self._say(plural("Deleting {count} recording(s)…", len(ids)).format(count=len(ids)))
                self._delete(ids)

        self.app.push_screen(ConfirmDialog(title, question, yes_label=_("Delete")), answered)

    def action_charts(self) -> None:
        for strip in self.query(ChartsStrip):
            strip.display = not strip.display
            if strip.display:
                strip.reload()

    # -- I/O in threads ------------------------------------------------------------------------
    def _load(
        self,
        query: SearchQuery,
        index: int,
        cursor: str | None,
        mode: LoadMode,
        *,
        count: bool = False,
        fresh: bool = False,
        cursor_at: int | None = None,
        step: int = 0,
    ) -> None:
        """Fetch page ``index`` (at ``cursor``); ``fresh``: a new search, so the cursors of
        the one before are forgotten. Only the latest load's answer is shown."""
        if fresh:
            self.cursors = [None]
        self.serial += 1
        self.fetching = True
        if self._slow_fetch is None:  # a page is usually there in a few ms: no flicker for it
            self._slow_fetch = self.set_timer(SLOW_FETCH_S, self._fetch_is_slow)
        self._page_worker = self._fetch(
            self.serial, query, index, cursor, mode, count, cursor_at, step
        )

    def _fetch_is_slow(self) -> None:
        self._slow_fetch = None
        self.loading = True  # the loading indicator over the panel

    def _fetched(self) -> None:
        self.fetching = False
        if self._slow_fetch is not None:
            self._slow_fetch.stop()
            self._slow_fetch = None
        if self.loading:
            self.loading = False

    @work(thread=True, exclusive=True, exit_on_error=False, group="recordings-page")
    def _fetch(
        self,
        serial: int,
        query: SearchQuery,
        index: int,
        cursor: str | None,
        mode: LoadMode,
        count: bool,
        cursor_at: int | None,
        step: int,
    ) -> None:
        page = self.session.search(replace(query, cursor=cursor, limit=PAGE_SIZE))
        total = self.session.count(query) if count else None
        if not get_current_worker().is_cancelled:
            self.post_message(self.PageLoaded(serial, index, mode, page, total, cursor_at, step))

    @work(thread=True, exit_on_error=False, group="recordings-verify")
    def _verify(self, recording_id: int) -> None:
        for result in self.session.verify([recording_id]):
            self.post_message(self.Verified(result.id, result.call_id, result.verification))

    @work(thread=True, exit_on_error=False, group="recordings-delete")
    def _delete(self, ids: list[int]) -> None:
        self.post_message(self.Deleted(self.session.delete(ids)))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._page_worker and event.state in (
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            self._fetched()  # the latest load ended without a page
        if report_failure(self, event):
            self._say()

    # -- state, owned here ---------------------------------------------------------------------
    @on(PageLoaded)
    def _page_loaded(self, message: PageLoaded) -> None:
        if message.serial != self.serial:
            return
        self._fetched()
        items = list(message.page.items)
        index = message.index
        if message.mode != "prepend":
            del self.cursors[index + 1 :]
            if message.page.next_cursor is not None:
                self.cursors.append(message.page.next_cursor)
        if message.total is not None:
            self.total = message.total
            if self.session.principal.role is Role.END_USER:
                self.total = min(self.total, END_USER_MAX_RESULTS)
        table = self.query_one(RecordingsTable)
        row, scroll = table.cursor_row, table.scroll_y
        if message.mode == "replace" and not items and index > 0:
            # the page emptied (its rows deleted): show the one before it
            self._load(self.query_base, index - 1, self.cursors[index - 1], "replace", cursor_at=-1)
            return
        if message.mode == "replace":
            self.first_page, self.pages = index, [items]
            if message.cursor_at is None:
                row = min(row, len(items) - 1)
            else:
                row = message.cursor_at if message.cursor_at >= 0 else len(items) - 1
                scroll = 0 if message.cursor_at >= 0 else float(len(items))
        elif not items:
            self._say()
            return
        elif message.mode == "append":
            # a rebuild: cheaper than removing the oldest rows one by one (measured)
            self.pages.append(items)
            dropped = 0
            if len(self.pages) > HELD_PAGES:
                dropped = len(self.pages.pop(0))
                self.first_page += 1
            row, scroll = row - dropped + message.step, scroll - dropped
        else:
            self.pages.insert(0, items)
            self.first_page = index
            if len(self.pages) > HELD_PAGES:
                self.pages.pop()
            row, scroll = row + len(items) - message.step, scroll + len(items)
        self._fill(table, max(0, row), max(0.0, scroll))
        self._say()

    def _fill(self, table: RecordingsTable, row: int, scroll: float) -> None:
        """Show the held pages, the cursor on ``row`` and the view where it was."""
        self.rows = [rec for page in self.pages for rec in page]
        table.clear()
        for rec in self.rows:
            table.add_row(*row_of(rec, rec.id in self.selection), key=str(rec.id))
        self._place(table, row, scroll)

    def _place(self, table: RecordingsTable, row: int, scroll: float) -> None:
        if self.rows:
            table.scroll_to(y=max(0.0, scroll), animate=False, immediate=True)
            table.move_cursor(row=max(0, min(row, len(self.rows) - 1)), animate=False)

    def position(self) -> str:
        """ "1–100 of N": the held rows, from the page number and the database's count."""
        if not self.rows:
            if self.total == 0:
                return _("No recordings match.")
            return _("0 of {total}").format(total=f"{self.total:,}")
        first = self.first_page * PAGE_SIZE + 1
        return _("{first}–{last} of {total}").format(
            first=f"{first:,}", last=f"{first + len(self.rows) - 1:,}", total=f"{self.total:,}"
        )

    @on(Verified)
    def _show_verified(self, message: Verified) -> None:
        text = f"{message.call_id}: {verdict(message.verification)}"
        self._say(text)
        ok = message.verification is Verification.VERIFIED
        self.notify(text, title=_("Verify"), severity="information" if ok else "error")

    @on(Deleted)
    def _removed(self, message: Deleted) -> None:
        for rec_id in message.ids:
            self.selection.pop(rec_id, None)
        count = len(message.ids)
        self.notify(
            plural("Deleted {count} recording(s).", count).format(count=count), title=_("Delete")
        )
        self.note = _("deleted {count}").format(count=count)
        index = self.first_page
        self._load(self.query_base, index, self.cursors[index], "replace", count=True)

    def _show_filters(self) -> None:
        summary = self.filters.describe()
        self.query_one("#recordings-filter-summary", Static).update(
            _("f: {summary}").format(summary=summary) if summary else _("f: filters")
        )
        self.query_one("#recordings-filter-summary").set_class(bool(summary), "-active")

    def _say(self, note: str | None = None) -> None:
        if note is not None:
            self.note = note
        parts = [self.position()]
        if self.selection:
            parts.append(_("{count} selected").format(count=f"{len(self.selection):,}"))
        if self.note:
            parts.append(self.note)
        # one line, always as wide as the panel: no layout needed (a layout costs a page's time)
        self.query_one("#recordings-status", Static).update(" · ".join(parts), layout=False)
