"""A yes/no question that must be answered before anything irreversible happens."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from mm_tui.i18n import _


class ConfirmDialog(ModalScreen[bool]):
    """Returns True only for an explicit yes; escape and "No" both mean no."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", _("Yes"), id="confirm.yes"),
        Binding("n,escape", "answer(False)", _("No"), id="confirm.no"),
    ]

    def __init__(self, title: str, question: str, yes_label: str = "") -> None:
        """``yes_label`` names the irreversible action ("Delete"); "" means "Yes"."""
        super().__init__()
        self._title = title
        self._question = question
        self._yes_label = yes_label or _("Yes")

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(self._title, id="confirm-title")
            yield Static(self._question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(self._yes_label, variant="error", id="confirm-yes")
                yield Button(_("No"), variant="primary", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
