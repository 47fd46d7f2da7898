"""A long engine job (storage migration, archive run, backup…) with a progress bar.

The job is any engine call that takes a ``progress(done, total)`` callback. It runs in a
thread worker; progress is posted at most a few times a second (each message replaces the
one still queued), so the screen never waits on the job. The dialog closes with the job's
result, or None when it failed (the failure is shown in the error dialog).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static
from textual.worker import Worker

from mm_tui.dialogs.verify_progress import time_left
from mm_tui.widgets.forms import report_failure

POST_EVERY_S = 0.2
Job = Callable[[Callable[[int, int], None]], Any]


class JobDialog(ModalScreen[Any]):
    CSS_PATH = "job_progress.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close when done", id="job.close"),
    ]

    @dataclass
    class Progressed(Message):
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, JobDialog.Progressed)

    @dataclass
    class Finished(Message):
        result: Any

    def __init__(self, title: str, job: Job, describe: Callable[[Any], str] = str) -> None:
        """``describe`` turns the job's result into the closing summary."""
        super().__init__()
        self.title_text = title
        self.job = job
        self.describe = describe
        self.result: Any = None
        self.finished = False
        self._started = time.monotonic()

    def compose(self) -> ComposeResult:
        with Vertical(id="job-box"):
            yield Label(self.title_text, id="job-title")
            yield ProgressBar(total=None, show_eta=False, id="job-bar")
            yield Static("Starting…", id="job-counts", markup=False)
            yield Static("", id="job-summary", markup=False)
            with Horizontal(id="job-buttons"):
                yield Button("Close", variant="primary", id="job-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#job-close", Button).disabled = True
        self._run()

    @work(thread=True, exit_on_error=False, group="job")
    def _run(self) -> None:
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= POST_EVERY_S or done >= total:
                last = now
                self.post_message(self.Progressed(done, total))

        self.post_message(self.Finished(self.job(progress)))

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        bar = self.query_one("#job-bar", ProgressBar)
        bar.update(total=max(message.total, 1), progress=message.done)
        left = time_left(time.monotonic() - self._started, message.done, message.total)
        self.query_one("#job-counts", Static).update(
            f"{message.done:,} of {message.total:,} · {left} left"
        )

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.finished = True
        self.result = message.result
        self.query_one("#job-summary", Static).update(self.describe(message.result))
        close = self.query_one("#job-close", Button)
        close.disabled = False
        close.focus()

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self.finished = True
            self.query_one("#job-summary", Static).update("Stopped: see the error.")
            self.query_one("#job-close", Button).disabled = False

    def action_close(self) -> None:
        if self.finished:
            self.dismiss(self.result)

    @on(Button.Pressed, "#job-close")
    def _close(self) -> None:
        self.action_close()
