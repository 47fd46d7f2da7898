"""Every field of one recording, from the page already fetched (no second look-up)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from mm_engine.domain import Recording


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if value is None or value == "":
        return "—"
    return str(value)


class RecordingDetails(ModalScreen[None]):
    CSS_PATH = "details.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="details.close")
    ]

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self._recording = recording

    def compose(self) -> ComposeResult:
        fields = self._recording.to_dict()
        width = max(len(k) for k in fields)
        lines = [f"{key.ljust(width)}  {_shown(value)}" for key, value in fields.items()]
        with Vertical(id="details-box"):
            yield Label(f"Recording {self._recording.id}", id="details-title")
            with VerticalScroll():
                yield Static("\n".join(lines), id="details-fields", markup=False)
            yield Static(
                "Playback arrives in a later version; use `mm recordings show` for the file.",
                id="details-note",
            )

    def action_close(self) -> None:
        self.dismiss(None)
