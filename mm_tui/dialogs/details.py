"""Every field of one recording, from the page already fetched (no second look-up).

From here space plays the recording and w downloads it (when the person may): the dialog
closes with "play" or "download" and the list does the rest, as if pressed there.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from mm_engine.domain import Recording
from mm_tui.i18n import _

DetailsChoice = Literal["play", "download"]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if value is None or value == "":
        return "—"
    return str(value)


class RecordingDetails(ModalScreen[DetailsChoice | None]):
    CSS_PATH = "details.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "choose('play')", _("Play"), id="details.play"),
        Binding("w", "choose('download')", _("Download"), id="details.download"),
        Binding("escape,enter,q", "close", _("Close"), id="details.close"),
    ]

    def __init__(
        self, recording: Recording, *, may_play: bool = True, may_download: bool = True
    ) -> None:
        super().__init__()
        self._recording = recording
        self._may = {"play": may_play, "download": may_download}

    def compose(self) -> ComposeResult:
        fields = self._recording.to_dict()
        width = max(len(k) for k in fields)
        lines = [f"{key.ljust(width)}  {_shown(value)}" for key, value in fields.items()]
        keys = [
            text
            for choice, text in (("play", _("space plays it")), ("download", _("w downloads it")))
            if self._may[choice]
        ]
        with Vertical(id="details-box"):
            yield Label(_("Recording {id}").format(id=self._recording.id), id="details-title")
            with VerticalScroll():
                yield Static("\n".join(lines), id="details-fields", markup=False)
            yield Static(" · ".join([*keys, _("esc closes")]), id="details-note")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose":
            return self._may.get(str(parameters[0]), False)
        return True

    def action_choose(self, choice: DetailsChoice) -> None:
        self.dismiss(choice)

    def action_close(self) -> None:
        self.dismiss(None)
