"""The Recordings tab (F24–F30): search box, a few filters, and one page of rows at a time.

A catalogue may hold millions of recordings and a DataTable keeps every row it is given, so the
table only ever holds the current page; paging walks the engine's keyset cursors (a stack of
them, to go back) and the count comes from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static
from textual.worker import get_current_worker

from mm_engine.catalogue import Page, SearchQuery
from mm_engine.domain import Direction, Recording, Verification
from mm_engine.errors import InvalidInput
from mm_engine.principal import Role
from mm_engine.search import split_values
from mm_engine.session import END_USER_MAX_RESULTS, Operation, Session, allowed
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.details import RecordingDetails
from mm_tui.dialogs.error import ErrorDialog

PAGE_SIZE = 100
COLUMNS = (
    "call date",
    "length",
    "parties",
    "direction",
    "agent",
    "initiator",
    "target",
    "skill",
    "call ID",
    "auth",
)


def _length(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def row_of(rec: Recording) -> tuple[str, ...]:
    d = rec.details
    return (
        f"{d.start.astimezone():%Y-%m-%d %H:%M}",
        _length(rec.duration_s),
        ", ".join(d.parties),
        d.direction.value,
        ", ".join(d.agents),
        d.owner,
        d.target,
        d.skill,
        d.call_id,
        "✓" if d.authenticated else "",
    )


def _date(text: str, field: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field}: {text!r} is not a date.", "Use YYYY-MM-DD or YYYY-MM-DD HH:MM."
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


class RecordingsTable(DataTable[str]):
    """The page on screen; enter opens the selected recording's details."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", id="recordings.details"),
    ]

    class DetailsRequested(Message):
        pass

    def action_details(self) -> None:
        self.post_message(self.DetailsRequested())


class RecordingsPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", id="recordings.search"),
        Binding("n", "next_page", "Next page", id="recordings.next_page"),
        Binding("p", "previous_page", "Prev page", id="recordings.previous_page"),
        Binding("v", "verify", "Verify", id="recordings.verify"),
        Binding("d", "delete", "Delete", id="recordings.delete"),
    ]

    @dataclass
    class PageLoaded(Message):
        cursors: tuple[str | None, ...]
        page: Page
        total: int | None  # None: same query, count unchanged

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
        self.query_base = SearchQuery(limit=PAGE_SIZE)
        self.cursors: tuple[str | None, ...] = (None,)
        self.next_cursor: str | None = None
        self.total = 0
        self.rows: list[Recording] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="recordings-filters"):
            yield Input(placeholder="/ search: values separated by ','", id="recordings-terms")
            yield Input(placeholder="from", id="recordings-from")
            yield Input(placeholder="to", id="recordings-to")
            yield Select(
                [(d.value, d.value) for d in Direction],
                prompt="direction",
                id="recordings-direction",
            )
        table = RecordingsTable(cursor_type="row", zebra_stripes=True, id="recordings-table")
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="recordings-status")

    def on_mount(self) -> None:
        self._load(self.query_base, (None,), count=True)
        self.query_one(RecordingsTable).focus()

    # -- what the person asks for --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete":
            return allowed(self.session.principal, Operation.DELETE)
        if action == "verify":
            return allowed(self.session.principal, Operation.VERIFY)
        return True

    def action_focus_search(self) -> None:
        self.query_one("#recordings-terms", Input).focus()

    @on(Input.Submitted)
    def apply_filters(self) -> None:
        direction = self.query_one("#recordings-direction", Select).value
        try:
            query = SearchQuery(
                terms=split_values(self.query_one("#recordings-terms", Input).value),
                start_from=_date(self.query_one("#recordings-from", Input).value, "from"),
                start_to=self._end(self.query_one("#recordings-to", Input).value),
                direction=direction if isinstance(direction, str) else None,
                limit=PAGE_SIZE,
            )
        except InvalidInput as exc:
            self.app.push_screen(ErrorDialog.for_exception(exc))
            return
        self.query_base = query
        self._load(query, (None,), count=True)
        self.query_one(RecordingsTable).focus()

    @staticmethod
    def _end(text: str) -> datetime | None:
        """A bare date as "to" means up to the end of that day (the filter is exclusive)."""
        moment = _date(text, "to")
        if moment is not None and len(text.strip()) <= len("YYYY-MM-DD"):
            moment += timedelta(days=1)
        return moment

    def action_next_page(self) -> None:
        if self.next_cursor is not None:
            self._load(self.query_base, (*self.cursors, self.next_cursor), count=False)

    def action_previous_page(self) -> None:
        if len(self.cursors) > 1:
            self._load(self.query_base, self.cursors[:-1], count=False)

    def selected(self) -> Recording | None:
        table = self.query_one(RecordingsTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(RecordingsTable.DetailsRequested)
    def show_details(self) -> None:
        if (rec := self.selected()) is not None:
            self.app.push_screen(RecordingDetails(rec))

    def action_verify(self) -> None:
        if (rec := self.selected()) is not None:
            self._say(f"Verifying {rec.details.call_id}…")
            self._verify(rec.id)

    def action_delete(self) -> None:
        rec = self.selected()
        if rec is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and rec is not None:
                self._delete(rec.id)

        self.app.push_screen(
            ConfirmDialog(
                "Delete recording",
                f"Delete the recording of call {rec.details.call_id} "
                f"({rec.details.start.astimezone():%Y-%m-%d %H:%M})? This cannot be undone.",
                yes_label="Delete",
            ),
            answered,
        )

    # -- I/O in threads ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="recordings-page")
    def _load(self, query: SearchQuery, cursors: tuple[str | None, ...], count: bool) -> None:
        page = self.session.search(replace(query, cursor=cursors[-1], limit=PAGE_SIZE))
        total = self.session.count(query) if count else None
        if not get_current_worker().is_cancelled:
            self.post_message(self.PageLoaded(cursors, page, total))

    @work(thread=True, exit_on_error=False, group="recordings-verify")
    def _verify(self, recording_id: int) -> None:
        for result in self.session.verify([recording_id]):
            self.post_message(self.Verified(result.id, result.call_id, result.verification))

    @work(thread=True, exit_on_error=False, group="recordings-delete")
    def _delete(self, recording_id: int) -> None:
        self.post_message(self.Deleted(self.session.delete([recording_id])))

    # -- state, owned here ---------------------------------------------------------------------
    @on(PageLoaded)
    def _show_page(self, message: PageLoaded) -> None:
        self.cursors = message.cursors
        self.next_cursor = message.page.next_cursor
        if message.total is not None:
            self.total = message.total
            if self.session.principal.role is Role.END_USER:
                self.total = min(self.total, END_USER_MAX_RESULTS)
        self.rows = list(message.page.items)
        table = self.query_one(RecordingsTable)
        table.clear()
        for rec in self.rows:
            table.add_row(*row_of(rec), key=str(rec.id))
        self._say(self.position())

    def position(self) -> str:
        """ "1–100 of N", from the page number and the database's count."""
        if not self.rows:
            return "No recordings match." if self.total == 0 else f"0 of {self.total}"
        first = (len(self.cursors) - 1) * PAGE_SIZE + 1
        more = "  (n: next page)" if self.next_cursor else ""
        return f"{first}–{first + len(self.rows) - 1} of {self.total}{more}"

    @on(Verified)
    def _show_verified(self, message: Verified) -> None:
        text = f"{message.call_id}: {message.verification.value}"
        self._say(f"{self.position()}   {text}")
        ok = message.verification is Verification.VERIFIED
        self.notify(text, title="Verify", severity="information" if ok else "error")

    @on(Deleted)
    def _removed(self, message: Deleted) -> None:
        self.notify(f"Deleted {len(message.ids)} recording(s).", title="Delete")
        self._load(self.query_base, self.cursors, count=True)

    def _say(self, text: str) -> None:
        self.query_one("#recordings-status", Static).update(text)
