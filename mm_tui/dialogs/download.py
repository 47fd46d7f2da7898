"""Download one recording or the page (F28): where to write, the warning, and what was written.

The dialog stays open after writing so the person can read the path; it returns the
:class:`Download` (or None when cancelled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from mm_engine.domain import Recording
from mm_engine.download import WARNING, Download, default_destination, file_name
from mm_engine.errors import MMError
from mm_engine.session import Session
from mm_tui.i18n import _, error_text, plural


def size_text(size: int) -> str:
    if size >= 1 << 20:
        return _("{size:.1f} MB").format(size=size / (1 << 20))
    return _("{size} KB").format(size=max(1, round(size / 1024)) if size else 0)


class DownloadDialog(ModalScreen[Download | None]):
    CSS_PATH = "download.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", _("Close"), id="download.close"),
    ]

    @dataclass
    class Written(Message):
        result: Download

    @dataclass
    class Failed(Message):
        error: MMError

    def __init__(
        self, session: Session, recording: Recording, page: Sequence[Recording] = ()
    ) -> None:
        super().__init__()
        self.session = session
        self.recording = recording
        self.page = list(page)
        self.result: Download | None = None

    def compose(self) -> ComposeResult:
        rec = self.recording
        one = _("Call {call_id} ({start}) as {file}").format(
            call_id=rec.details.call_id,
            start=f"{rec.details.start.astimezone():%Y-%m-%d %H:%M}",
            file=file_name(rec),
        )
        with Vertical(id="download-box"):
            yield Label(_("Download recordings"), id="download-title")
            if len(self.page) > 1:
                with RadioSet(id="download-which"):
                    yield RadioButton(one, value=True, id="download-one")
                    yield RadioButton(
                        plural(
                            "All {count} recordings on this page, as one zip with an index.html "
                            "that lists and plays them",
                            len(self.page),
                        ).format(count=len(self.page)),
                        id="download-page",
                    )
            else:
                yield Static(one, id="download-one-only", markup=False)
            yield Label(_("Write into the folder:"))
            yield Input(str(default_destination()), id="download-folder")
            yield Static(f"⚠ {WARNING}", id="download-warning", markup=False)
            yield Static("", id="download-result", markup=False)
            with Horizontal(id="download-buttons"):
                yield Button(_("Download"), variant="primary", id="download-go")
                yield Button(_("Cancel"), id="download-close")

    def on_mount(self) -> None:
        self.query_one("#download-folder", Input).focus()

    def chosen(self) -> list[Recording]:
        if len(self.page) > 1 and self.query_one("#download-page", RadioButton).value:
            return self.page
        return [self.recording]

    @on(Button.Pressed, "#download-go")
    @on(Input.Submitted, "#download-folder")
    def start(self) -> None:
        if self.result is not None:
            return
        go = self.query_one("#download-go", Button)
        if go.disabled:
            return
        go.disabled = True
        recordings = self.chosen()
        self._say(
            plural("Writing {count} recording(s)…", len(recordings)).format(count=len(recordings))
        )
        self._write([r.id for r in recordings], self.query_one("#download-folder", Input).value)

    @on(Button.Pressed, "#download-close")
    def action_close(self) -> None:
        self.dismiss(self.result)

    @work(thread=True, exit_on_error=False, group="download")
    def _write(self, ids: list[int], folder: str) -> None:
        try:
            result = self.session.download(ids, folder.strip() or None)
        except MMError as exc:
            self.post_message(self.Failed(exc))
            return
        self.post_message(self.Written(result))

    @on(Written)
    def _written(self, message: Written) -> None:
        result = self.result = message.result
        text = plural("Wrote {path}\n({count} recording(s), {size})", len(result.ids)).format(
            path=result.path, count=len(result.ids), size=size_text(result.size)
        )
        if result.not_verified:
            shown = ", ".join(str(i) for i in result.not_verified[:10])
            text += "\n" + _("Not verified when copied: recording(s) {ids}.").format(ids=shown)
        self._say(text)
        self.query_one("#download-go", Button).display = False
        close = self.query_one("#download-close", Button)
        close.label = _("Close")
        close.focus()

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._say(error_text(message.error), error=True)
        self.query_one("#download-go", Button).disabled = False
        self.query_one("#download-folder", Input).focus()

    def _say(self, text: str, error: bool = False) -> None:
        result = self.query_one("#download-result", Static)
        result.update(text)
        result.set_class(error, "-error")
