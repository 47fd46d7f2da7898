"""The recordings filters (F26): every filter in one panel, opened over the list with `f`.

A modal rather than a strip above the table: at 80x24 the list has about a dozen rows, and
nine filters would leave it two or three; the panel takes the whole screen only while it is
open, and a one-line summary of what is applied stays beside the search box.

Each value is checked by the engine's own parsers (``parse_length``, ``compile_query``) before
the panel closes, and a refusal is shown beside its field, so nothing changes until every
filter is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from mm_engine.domain import Direction
from mm_engine.errors import InvalidInput
from mm_engine.search import SearchQuery, compile_query, parse_length, split_values
from mm_tui.i18n import N_, _, error_text
from mm_tui.widgets.forms import Form, FormField

DATE_HINT = N_("Use YYYY-MM-DD or YYYY-MM-DD HH:MM.")


def parse_moment(text: str, *, end: bool) -> datetime | None:
    """A typed date or time in this server's zone. A bare date as the end means up to the end
    of that day (the engine's "to" is exclusive)."""
    text = text.strip()
    if not text:
        return None
    name = _("To") if end else _("From")
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            value = datetime(day.year, day.month, day.day) + timedelta(days=1 if end else 0)
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            _("{name}: {text!r} is not a date or time.").format(name=name, text=text), _(DATE_HINT)
        ) from None
    return value if value.tzinfo is not None else value.astimezone()


@dataclass(frozen=True)
class Filters:
    """The filters as typed (text, so the panel shows them again exactly)."""

    start_from: str = ""
    start_to: str = ""
    length: str = ""
    direction: str = ""
    parties: str = ""
    agents: str = ""
    target: str = ""
    skill: str = ""
    call_id: str = ""

    @classmethod
    def from_values(cls, values: dict[str, str]) -> Filters:
        return cls(**{f.name: values.get(f.name, "").strip() for f in fields(cls)})

    def values(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def query(self, terms: list[str] | None = None, limit: int = 100) -> SearchQuery:
        """The engine query for these filters and the search box's ``terms``; an
        InvalidInput names what is wrong."""
        return SearchQuery(
            terms=list(terms or []),
            start_from=parse_moment(self.start_from, end=False),
            start_to=parse_moment(self.start_to, end=True),
            length=parse_length(self.length) if self.length else None,
            direction=self.direction or None,
            parties=split_values(self.parties),
            agents=split_values(self.agents),
            target=self.target or None,
            skill=self.skill or None,
            call_id=self.call_id or None,
            limit=limit,
        )

    def problems(self) -> dict[str, str]:
        """The engine's message for each field it refuses, checked one at a time (so each
        lands beside its own field), then together (an empty date range: beside "to")."""
        found: dict[str, str] = {}
        for name, value in self.values().items():
            if not value:
                continue
            try:
                compile_query(replace(Filters(), **{name: value}).query())
            except InvalidInput as exc:
                found[name] = error_text(exc)
        if not found:
            try:
                compile_query(self.query())
            except InvalidInput as exc:
                found["start_to"] = error_text(exc)
        return found

    def describe(self) -> str:
        """What is applied, in the panel's order, for the line beside the search box."""
        parts: list[str] = []
        if self.start_from or self.start_to:
            parts.append(f"{self.start_from or '…'} – {self.start_to or '…'}")
        if self.length:
            parts.append(_("length {length}").format(length=_length_text(self.length)))
        if self.direction:
            parts.append(_(self.direction))
        for label, value in (
            (_("party {value}"), self.parties),
            (_("agent {value}"), self.agents),
            (_("target {value}"), self.target),
            (_("skill {value}"), self.skill),
            (_("call {value}"), self.call_id),
        ):
            if value:
                parts.append(label.format(value=value))
        return " · ".join(parts)


def _length_text(text: str) -> str:
    try:
        return f"{parse_length(text)}s"
    except InvalidInput:
        return text


# the engine's direction values, for the catalogs: "inbound", "outbound", "internal"
DIRECTION_NAMES = (N_("inbound"), N_("outbound"), N_("internal"))


def directions() -> tuple[tuple[str, str], ...]:
    return ((_("any direction"), ""), *((_(d.value), d.value) for d in Direction))


def filter_fields(current: Filters) -> list[FormField]:
    v = current.values()
    return [
        FormField("start_from", _("From"), v["start_from"], placeholder=_("YYYY-MM-DD [HH:MM]")),
        FormField(
            "start_to", _("To"), v["start_to"], placeholder=_("YYYY-MM-DD [HH:MM], inclusive")
        ),
        FormField("length", _("Length"), v["length"], placeholder=_("seconds: >=600, <30, =45")),
        FormField("direction", _("Direction"), v["direction"], "choice", choices=directions()),
        FormField("parties", _("Parties"), v["parties"], placeholder=_("all of: 201, 0301234567")),
        FormField("agents", _("Agents"), v["agents"], placeholder=_("all of: Ann, Bob")),
        FormField("target", _("Target"), v["target"], placeholder=_("called number, exact")),
        FormField("skill", _("Skill"), v["skill"], placeholder=_("skill group, exact")),
        FormField("call_id", _("Call ID"), v["call_id"], placeholder=_("exact")),
    ]


@dataclass(frozen=True)
class FilterChoice:
    """What the panel closed with: the filters to apply, and whether the search box is
    cleared too ("show all")."""

    filters: Filters
    show_all: bool = False


class FilterPanel(ModalScreen[FilterChoice | None]):
    CSS_PATH = "filter_panel.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", _("Apply"), id="filters.apply"),
        Binding("ctrl+r", "show_all", _("Show all"), id="filters.show_all"),
        Binding("escape", "cancel", _("Cancel"), id="filters.cancel"),
    ]

    def __init__(self, current: Filters) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="filters-box"):
            yield Label(_("Filter recordings (all must match)"), id="filters-title")
            yield Form(
                filter_fields(self.current),
                id="filters",
                submit=None,
                cancel=None,
                label_width=11,
            )
            with Horizontal(id="filters-buttons"):
                yield Button(_("Apply ^s"), variant="primary", id="filters-apply", compact=True)
                yield Button(_("Show all ^r"), id="filters-show-all", compact=True)
                yield Button(_("Cancel esc"), id="filters-cancel", compact=True)

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    def on_mount(self) -> None:
        self.form.focus_field()

    def action_apply(self) -> None:
        self.form.submit()

    def action_show_all(self) -> None:
        self.dismiss(FilterChoice(Filters(), show_all=True))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#filters-apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#filters-show-all")
    def _show_all_pressed(self) -> None:
        self.action_show_all()

    @on(Button.Pressed, "#filters-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Form.Submitted)
    def _submitted(self, event: Form.Submitted) -> None:
        filters = Filters.from_values(event.values)
        problems = filters.problems()
        if problems:
            event.form.show_errors(problems)
            return
        self.dismiss(FilterChoice(filters))
