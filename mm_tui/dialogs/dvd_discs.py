"""The disc catalogue (F16): every disc the DVD connectors wrote, where it is and what it holds.

One row per disc: its label and sequence number (the volume id written on it is
``LABEL-0003``), its state (in the drive, ejected, full, blanked), how many recordings and bytes
it holds, and the first and last call on it. The line under the list says the same for the
highlighted disc in full, so a technician looking for a disc on the shelf knows what is on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static
from textual.worker import Worker

from mm_engine.session import Session
from mm_tui.i18n import N_, _, plural
from mm_tui.widgets.forms import report_failure

# narrow enough for 80 columns ("recs": recordings); the line under the list spells it out
COLUMNS = (
    N_("disc"),
    N_("label"),
    N_("seq"),
    N_("state"),
    N_("recs"),
    N_("size"),
    N_("first call"),
    N_("last call"),
)
# a disc's state (the catalogue's value) as people read it
STATES = {
    "in_drive": N_("in drive"),
    "ejected": N_("ejected"),
    "full": N_("full"),
    "blanked": N_("blanked"),
}


def size_text(n: int) -> str:
    """Bytes as people read them on a disc: "820 KB", "1.4 MB", "4.38 GB"."""
    if n < 1_000_000:
        return f"{n / 1000:.0f} KB"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000_000_000:.2f} GB"


def when(stamp: str | None, *, day_only: bool = False) -> str:
    """A call's ISO start time as local "YYYY-MM-DD HH:MM" (or just the day)."""
    if not stamp:
        return "—"
    try:
        local = datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return stamp[:10] if day_only else stamp[:16].replace("T", " ")
    return local.strftime("%Y-%m-%d" if day_only else "%Y-%m-%d %H:%M")


def state_text(disc: dict[str, Any]) -> str:
    """ "in drive", "in drive, full", "ejected", "full", "blanked"."""
    value = str(disc["state"])
    state = _(STATES[value]) if value in STATES else value.replace("_", " ")
    if disc["full"] and value == "in_drive":
        return _("{state}, full").format(state=state)
    return state


def disc_row(disc: dict[str, Any]) -> tuple[str, ...]:
    return (
        disc["volume_id"],
        disc["label"],
        str(disc["sequence"]),
        _("full") if disc["full"] else state_text(disc),
        str(disc["recordings"]),
        size_text(disc["bytes"]),
        when(disc["first_call"], day_only=True),
        when(disc["last_call"], day_only=True),
    )


def disc_detail(disc: dict[str, Any]) -> str:
    values = {
        "volume_id": disc["volume_id"],
        "connector": disc["connector"],
        "state": state_text(disc),
        "count": disc["recordings"],
        "size": size_text(disc["bytes"]),
        "sessions": disc["sessions"],
        "used": size_text(disc["used_bytes"]),
        "capacity": size_text(disc["capacity_bytes"]),
        "first": when(disc["first_call"]),
        "last": when(disc["last_call"]),
    }
    if disc["first_call"]:
        text = plural(
            "{volume_id} ({connector}): {state}; {count} recording(s), {size} in {sessions} "
            "session(s), {used} of {capacity} used; calls {first} to {last}.",
            disc["recordings"],
        )
    else:
        text = plural(
            "{volume_id} ({connector}): {state}; {count} recording(s), {size} in {sessions} "
            "session(s), {used} of {capacity} used.",
            disc["recordings"],
        )
    return text.format(**values)


class DvdDiscsDialog(ModalScreen[None]):
    CSS_PATH = "dvd_discs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", _("Close"), id="dvd_discs.close"),
        Binding("r", "reload", _("Refresh"), id="dvd_discs.refresh"),
    ]

    @dataclass
    class Loaded(Message):
        discs: list[dict[str, Any]]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.discs: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dvd-discs-box"):
            yield Label(_("DVD discs"), id="dvd-discs-title")
            table: DataTable[str] = DataTable(
                cursor_type="row", zebra_stripes=True, id="dvd-discs-table"
            )
            table.add_columns(*(_(c) for c in COLUMNS))
            yield table
            yield Static(_("Reading the disc catalogue…"), id="dvd-discs-detail", markup=False)
            yield Static(_("r refreshes · esc closes"), id="dvd-discs-note", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._load()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dvd-discs-load")
    def _load(self) -> None:
        self.post_message(self.Loaded(self.session.dvd_discs()))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.discs = message.discs
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for disc in self.discs:
            table.add_row(*disc_row(disc), key=disc["volume_id"])
        if self.discs:
            table.move_cursor(row=min(max(row, 0), len(self.discs) - 1))
        self._detail()

    @on(DataTable.RowHighlighted, "#dvd-discs-table")
    def _highlighted(self) -> None:
        self._detail()

    def _detail(self) -> None:
        row = self.query_one(DataTable).cursor_row
        if not self.discs:
            text = _("No disc has been written yet.")
        elif 0 <= row < len(self.discs):
            text = disc_detail(self.discs[row])
        else:
            text = plural("{count} disc(s).", len(self.discs)).format(count=len(self.discs))
        self.query_one("#dvd-discs-detail", Static).update(text)

    def rows(self) -> list[list[str]]:
        table = self.query_one(DataTable)
        return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]

    def detail(self) -> str:
        return str(self.query_one("#dvd-discs-detail", Static).render())
