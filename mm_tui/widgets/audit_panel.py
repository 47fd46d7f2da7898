"""The Audit tab (F31-F33; administrators only): the trail, filtered, a page at a time, and export.

The trail grows without bound, so the table holds one page and paging walks the engine's keyset
cursors (a stack of them, to go back); nothing loads the whole trail. Export streams on the
engine's side, with the same filters as the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, SelectionList, Static
from textual.worker import Worker, get_current_worker

from mm_engine.audit import AuditAction, AuditEvent, AuditFilter, AuditPage, canonical_details
from mm_engine.errors import InvalidInput
from mm_engine.session import Session
from mm_tui.dialogs.audit_export import AuditExportDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.i18n import N_, _
from mm_tui.widgets.forms import report_failure

PAGE_SIZE = 100
COLUMNS = (N_("time"), N_("user"), N_("action"), N_("details"))


def moment(text: str, *, end: bool) -> datetime | None:
    """A typed date or time in this server's zone; a bare date as the end includes that day."""
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            value = datetime(day.year, day.month, day.day) + timedelta(days=1 if end else 0)
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            (
                _("End date {text!r} is not a date.")
                if end
                else _("Start date {text!r} is not a date.")
            ).format(text=text),
            _("Use YYYY-MM-DD or YYYY-MM-DD HH:MM."),
        ) from None
    return value if value.tzinfo is not None else value.astimezone()


def row_of(event: AuditEvent) -> tuple[str, ...]:
    at = datetime.fromisoformat(event.at).astimezone()
    return (f"{at:%Y-%m-%d %H:%M:%S}", event.user, event.action, canonical_details(event.details))


def describe(filters: AuditFilter) -> str:
    parts = []
    if filters.start:
        parts.append(_("from {moment}").format(moment=f"{filters.start:%Y-%m-%d %H:%M}"))
    if filters.end:
        parts.append(_("before {moment}").format(moment=f"{filters.end:%Y-%m-%d %H:%M}"))
    if filters.actions:
        parts.append(", ".join(filters.actions))
    if filters.user_contains:
        parts.append(_("user ~ {text}").format(text=filters.user_contains))
    return "; ".join(parts) or _("all events")


class ActionsDialog(ModalScreen[tuple[AuditAction, ...] | None]):
    """Pick the event types to show (none picked: all of them)."""

    DEFAULT_CSS = """
    ActionsDialog { align: center middle; }
    #actions-box {
        width: 40; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    #actions-title { text-style: bold; }
    #actions-list { height: auto; max-height: 14; }
    #actions-note { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", _("Apply"), id="audit_types.apply"),
        Binding("escape", "cancel", _("Cancel"), id="audit_types.cancel"),
    ]

    def __init__(self, chosen: tuple[AuditAction, ...]) -> None:
        super().__init__()
        self._chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="actions-box"):
            yield Label(_("Event types"), id="actions-title")
            yield SelectionList[str](
                *[(a.value, a.value, a in self._chosen) for a in AuditAction], id="actions-list"
            )
            yield Static(_("space picks · ctrl+s applies · none picked = all"), id="actions-note")

    def action_apply(self) -> None:
        picked = self.query_one(SelectionList).selected
        self.dismiss(tuple(AuditAction(v) for v in picked))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AuditPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "focus_filters", _("Filter"), id="audit.filter"),
        Binding("t", "types", _("Types"), id="audit.types"),
        Binding("c", "clear", _("Clear"), id="audit.clear"),
        Binding("n", "next_page", _("Next"), id="audit.next_page"),
        Binding("p", "previous_page", _("Prev"), id="audit.previous_page"),
        Binding("e", "export", _("Export"), id="audit.export"),
        Binding("r", "reload", _("Refresh"), id="audit.refresh"),
    ]

    @dataclass
    class PageLoaded(Message):
        cursors: tuple[str | None, ...]
        page: AuditPage

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.filters = AuditFilter()
        self.actions: tuple[AuditAction, ...] = ()
        self.cursors: tuple[str | None, ...] = (None,)
        self.next_cursor: str | None = None
        self.events: list[AuditEvent] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="audit-filters"):
            yield Input(placeholder=_("from YYYY-MM-DD"), id="audit-from", compact=True)
            yield Input(placeholder=_("to YYYY-MM-DD"), id="audit-to", compact=True)
            yield Input(placeholder=_("user name contains"), id="audit-user", compact=True)
            yield Button(_("Types: {shown}").format(shown=_("all")), id="audit-types", compact=True)
            yield Button(_("Apply"), id="audit-apply", variant="primary", compact=True)
            yield Button(_("Clear"), id="audit-clear", compact=True)
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="audit-table")
        table.add_columns(*(_(c) for c in COLUMNS))
        yield table
        yield Static("", id="audit-detail", markup=False)
        yield Static("", id="audit-status")

    def on_mount(self) -> None:
        self._load(self.filters, (None,))

    # -- filters -------------------------------------------------------------------------------
    def action_focus_filters(self) -> None:
        self.query_one("#audit-from", Input).focus()

    def action_types(self) -> None:
        def chosen(actions: tuple[AuditAction, ...] | None) -> None:
            if actions is not None:
                self.actions = actions
                self._types_label()
                self.apply_filters()

        self.app.push_screen(ActionsDialog(self.actions), chosen)

    def _types_label(self) -> None:
        shown = _("all") if not self.actions else str(len(self.actions))
        if len(self.actions) == 1:
            shown = self.actions[0].value
        self.query_one("#audit-types", Button).label = _("Types: {shown}").format(shown=shown)

    @on(Input.Submitted)
    @on(Button.Pressed, "#audit-apply")
    def apply_filters(self) -> None:
        try:
            filters = AuditFilter(
                start=moment(self.query_one("#audit-from", Input).value, end=False),
                end=moment(self.query_one("#audit-to", Input).value, end=True),
                actions=self.actions,
                user_contains=self.query_one("#audit-user", Input).value.strip() or None,
            )
        except InvalidInput as exc:
            self.app.push_screen(ErrorDialog.for_exception(exc))
            return
        self.filters = filters
        self._load(filters, (None,))
        self.query_one(DataTable).focus()

    @on(Button.Pressed, "#audit-types")
    def _types_pressed(self) -> None:
        self.action_types()

    @on(Button.Pressed, "#audit-clear")
    def action_clear(self) -> None:
        for name in ("from", "to", "user"):
            self.query_one(f"#audit-{name}", Input).value = ""
        self.actions = ()
        self._types_label()
        self.apply_filters()

    # -- paging --------------------------------------------------------------------------------
    def action_next_page(self) -> None:
        if self.next_cursor is not None:
            self._load(self.filters, (*self.cursors, self.next_cursor))

    def action_previous_page(self) -> None:
        if len(self.cursors) > 1:
            self._load(self.filters, self.cursors[:-1])

    def action_reload(self) -> None:
        self._load(self.filters, self.cursors)

    def action_export(self) -> None:
        def exported(path: Path | None) -> None:
            if path is not None:
                self._say(f"{self.position()}   " + _("exported to {path}").format(path=path))

        self.app.push_screen(
            AuditExportDialog(self.session, self.filters, describe(self.filters)), exported
        )

    # -- I/O in threads ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="audit-page")
    def _load(self, filters: AuditFilter, cursors: tuple[str | None, ...]) -> None:
        page = self.session.audit_list(filters, limit=PAGE_SIZE, cursor=cursors[-1])
        if not get_current_worker().is_cancelled:
            self.post_message(self.PageLoaded(cursors, page))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    # -- state, owned here ---------------------------------------------------------------------
    @on(PageLoaded)
    def _show_page(self, message: PageLoaded) -> None:
        self.cursors = message.cursors
        self.next_cursor = message.page.next_cursor
        self.events = list(message.page.items)
        table = self.query_one(DataTable)
        table.clear()
        for event in self.events:
            table.add_row(*row_of(event), key=str(event.id))
        self._say(self.position())
        self._detail()

    def position(self) -> str:
        """ "events 101–200 (n: next page)" for the filters in force."""
        if not self.events:
            return _("No events match ({filters}).").format(filters=describe(self.filters))
        first = (len(self.cursors) - 1) * PAGE_SIZE + 1
        more = "  " + _("n: next page") if self.next_cursor else ""
        return (
            _("events {first}–{last} · {filters}").format(
                first=first, last=first + len(self.events) - 1, filters=describe(self.filters)
            )
            + more
        )

    @on(DataTable.RowHighlighted, "#audit-table")
    def _detail(self) -> None:
        row = self.query_one(DataTable).cursor_row
        text = ""
        if 0 <= row < len(self.events):
            event = self.events[row]
            text = f"#{event.id} {event.user} {event.action}: {canonical_details(event.details)}"
        self.query_one("#audit-detail", Static).update(text)

    def _say(self, text: str) -> None:
        self.query_one("#audit-status", Static).update(text)
