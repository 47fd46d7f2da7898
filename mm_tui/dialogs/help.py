"""`?`: every key active where help was asked, with what it does and its id for remapping."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from mm_tui.i18n import _


class HelpDialog(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", _("Close"), id="help.close")
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Label(_("Keys"), id="help-title")
            table: DataTable[str] = DataTable(cursor_type="row", id="help-table")
            table.add_columns(_("key"), _("does"), _("id"))
            table.add_rows(self._rows)
            yield table
            yield Static(_("Ctrl+P lists every command as 'area: verb'."), id="help-note")

    def action_close(self) -> None:
        self.dismiss(None)
