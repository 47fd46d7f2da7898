"""How every failure reaches a person: the error's title, what happened, and what to do."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from mm_engine.errors import MMError
from mm_tui.i18n import _, tr


class ErrorDialog(ModalScreen[None]):
    CSS_PATH = "error.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", _("Close"), id="error.close")
    ]

    def __init__(self, title: str, message: str, hint: str = "") -> None:
        """``title`` as shown; ``message`` and ``hint`` may be the engine's sentences
        (:class:`mm_engine.text.Msg`), said in the console's language."""
        super().__init__()
        self._title = title
        self._message = tr(message)
        self._hint = tr(hint)

    @classmethod
    def for_exception(cls, error: BaseException) -> ErrorDialog:
        """Engine errors carry their own title and hint; anything else is a bug to report."""
        if isinstance(error, MMError):
            return cls(_(error.title), error.message, error.hint)
        return cls(
            _("Unexpected error"),
            f"{type(error).__name__}: {tr(error)}",
            _("This is a bug in mm; the console keeps running. Please report what you did."),
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Label(self._title, id="error-title")
            yield Static(self._message, id="error-message")
            if self._hint:
                yield Static(self._hint, id="error-hint")
            yield Button(_("OK"), variant="primary", id="error-ok")

    def on_mount(self) -> None:
        self.query_one("#error-ok", Button).focus()

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
