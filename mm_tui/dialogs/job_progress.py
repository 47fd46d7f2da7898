"""A long engine job (storage migration, archive run, backup…) with a progress bar.

Two ways to run one, with the same bar, counts, time left and closing summary:

- :class:`JobDialog`: the job is any engine call that takes a ``progress(done, total)``
  callback. It runs in a thread worker of this console; progress is posted at most a few times
  a second (each message replaces the one still queued), so the screen never waits on the job.
- :class:`QueuedJobDialog`: beside a running service the console does not do the engine's work
  itself; the job is submitted to the service through the jobs table
  (:mod:`mm_engine.job_queue`) and the dialog watches its row twice a second.

:func:`run_job` picks one of the two: the second when the app works beside a service
(``MMApp.beside_service``). Either dialog closes with the job's result, or None when it
failed (the failure is shown in the error dialog) or was cancelled. When cancelling is
offered, escape asks first and the job stops after its current item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Label, ProgressBar, Static
from textual.worker import Worker

from mm_engine.archiving import pid_alive
from mm_engine.job_queue import JobCancelled, JobState, job_kind
from mm_engine.lock import EngineLock
from mm_engine.session import Session
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.verify_progress import time_left
from mm_tui.i18n import _, tr
from mm_tui.widgets.forms import report_failure

POST_EVERY_S = 0.2
WATCH_EVERY_S = 0.5
Job = Callable[[Callable[[int, int], None]], Any]
Describe = Callable[[Any], str]
Counts = Callable[[int, int, str], str]
"""The counts line from (done, total, time left), for a job that knows more than done/total."""


class JobDialog(ModalScreen[Any]):
    CSS_PATH = "job_progress.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", _("Cancel / close"), id="job.close"),
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

    @dataclass
    class Stopped(Message):
        """The job ended without a result: cancelled (``error`` None) or failed."""

        summary: str
        error: ErrorDialog | None = None

    def __init__(
        self,
        title: str,
        job: Job,
        describe: Describe = str,
        *,
        cancellable: bool = False,
        session: Session | None = None,
        counts: Counts | None = None,
    ) -> None:
        """``describe`` turns the job's result into the closing summary. ``cancellable``: escape
        asks whether to cancel, and the job stops at its next progress call (``session``: who
        is cancelling, for the summary). ``counts`` words the counts line instead of
        "done of total · time left"."""
        super().__init__()
        self.counts = counts
        self.session = session
        self.title_text = title
        self.job = job
        self.describe = describe
        self.cancellable = cancellable
        self.cancel_requested = False
        self.result: Any = None
        self.finished = False
        self._started = time.monotonic()

    def compose(self) -> ComposeResult:
        with Vertical(id="job-box"):
            yield Label(self.title_text, id="job-title")
            yield ProgressBar(total=None, show_eta=False, id="job-bar")
            yield Static(_("Starting…"), id="job-counts", markup=False)
            yield Static("", id="job-summary", markup=False)
            with Horizontal(id="job-buttons"):
                if self.cancellable:
                    yield Button(_("Cancel job"), variant="error", id="job-cancel", compact=True)
                yield Button(_("Close"), variant="primary", id="job-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#job-close", Button).disabled = True
        self._start()

    def _start(self) -> None:
        self._run()

    @work(thread=True, exit_on_error=False, group="job")
    def _run(self) -> None:
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            if self.cancel_requested:
                raise JobCancelled(self._who())
            now = time.monotonic()
            if now - last >= POST_EVERY_S or done >= total:
                last = now
                self.post_message(self.Progressed(done, total))

        try:
            result = self.job(progress)
        except JobCancelled as exc:
            done = _("It stopped after its current item.")
            self.post_message(self.Stopped(f"{tr(exc.message)} {done}"))
            return
        self.post_message(self.Finished(result))

    def _who(self) -> str:
        return self.session.principal.name if self.session is not None else _("you")

    # -- showing -----------------------------------------------------------------------------
    def _show_progress(self, done: int, total: int, elapsed: float) -> None:
        bar = self.query_one("#job-bar", ProgressBar)
        bar.update(total=max(total, 1), progress=done)
        left = time_left(elapsed, done, total)
        self.query_one("#job-counts", Static).update(
            self.counts(done, total, left)
            if self.counts is not None
            else _("{done:,} of {total:,} · {left} left").format(done=done, total=total, left=left)
        )

    def _say(self, text: str) -> None:
        self.query_one("#job-summary", Static).update(text)

    def _end(self, summary: str) -> None:
        self.finished = True
        self._say(summary)
        if self.cancellable:
            self.query_one("#job-cancel", Button).disabled = True
        close = self.query_one("#job-close", Button)
        close.disabled = False
        close.focus()

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        self._show_progress(message.done, message.total, time.monotonic() - self._started)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.result = message.result
        self._end(self.describe(message.result))

    @on(Stopped)
    def _stopped(self, message: Stopped) -> None:
        self._end(message.summary)
        if message.error is not None:
            self.app.push_screen(message.error)

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self._end(_("Stopped: see the error."))

    # -- what the person asks for --------------------------------------------------------------
    def action_close(self) -> None:
        if self.finished:
            self.dismiss(self.result)
        elif self.cancellable and not self.cancel_requested:
            self.app.push_screen(
                ConfirmDialog(
                    _("Cancel the job?"),
                    _(
                        "{job}: it stops after the item it is working on; what is done so far "
                        "stays done."
                    ).format(job=self.title_text),
                    _("Cancel job"),
                ),
                self._confirmed,
            )

    def _confirmed(self, yes: bool | None) -> None:
        if yes and not self.finished:
            self.cancel_requested = True
            self._request_cancel()
            self._say(_("Cancelling after the current item…"))
            self.query_one("#job-cancel", Button).disabled = True

    def _request_cancel(self) -> None:
        """In this console the progress callback sees the flag; see QueuedJobDialog."""

    @on(Button.Pressed, "#job-close")
    def _close(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#job-cancel")
    def _cancel(self) -> None:
        self.action_close()


class QueuedJobDialog(JobDialog):
    """A job the service runs: submitted through the jobs table, then its row watched."""

    @dataclass
    class Watched(Message):
        state: JobState
        engine_pid: int | None  # the engine-lock holder, if alive (None: no service running)

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, QueuedJobDialog.Watched)

    def __init__(
        self,
        title: str,
        session: Session,
        kind: str,
        params: Mapping[str, Any] | None = None,
        describe: Describe = str,
        *,
        job_id: int | None = None,
    ) -> None:
        """Submit ``kind`` with ``params`` as ``session``'s principal, or follow ``job_id``."""
        super().__init__(title, _queued, describe, cancellable=True, session=session)
        self.session: Session = session
        self.kind = kind
        self.params = dict(params or {})
        self.job_id = job_id
        self._timer: Timer | None = None
        self._running_since: float | None = None

    def _start(self) -> None:
        self.query_one("#job-counts", Static).update(_("Handing the job to the service…"))
        self._submit()

    @work(thread=True, exit_on_error=False, group="job")
    def _submit(self) -> None:
        if self.job_id is None:
            self.job_id = self.session.submit_job(self.kind, **self.params)
        self.app.call_from_thread(self._watch)

    def _watch(self) -> None:
        self._timer = self.set_interval(WATCH_EVERY_S, self._poll)
        self._poll()

    @work(thread=True, exclusive=True, exit_on_error=False, group="job-watch")
    def _poll(self) -> None:
        if self.job_id is None:
            return
        state = self.session.job_state(self.job_id)
        holder = EngineLock(self.session.engine.data_dir.lock).holder()
        self.post_message(self.Watched(state, holder if pid_alive(holder) else None))

    def _request_cancel(self) -> None:
        self._send_cancel()

    @work(thread=True, exit_on_error=False, group="job-cancel")
    def _send_cancel(self) -> None:
        if self.job_id is not None:
            self.session.cancel_job(self.job_id)
            self.app.call_from_thread(self._poll)

    def _stop_watching(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    @on(Watched)
    def _watched(self, message: Watched) -> None:
        if self.finished:
            return
        state = message.state
        counts = self.query_one("#job-counts", Static)
        if state.status == "queued":
            if message.engine_pid is None:
                counts.update(
                    _(
                        "Job {id} waits: no service is running to take it. Start the service "
                        "(systemctl start mm), or cancel and open the console again to run it "
                        "here."
                    ).format(id=state.id)
                )
            else:
                counts.update(
                    _(
                        "Job {id} is queued; the service (process {pid}) starts it as soon as "
                        "it is free…"
                    ).format(id=state.id, pid=message.engine_pid)
                )
            return
        if state.status == "running":
            if state.runner_gone:
                self._stop_watching()
                self._end(
                    _(
                        "The service running job {id} stopped; it is marked failed when the "
                        "service starts again. Submit it again then."
                    ).format(id=state.id)
                )
                return
            if self._running_since is None:
                self._running_since = time.monotonic()
            if state.total:
                self._show_progress(
                    state.progress, state.total, time.monotonic() - self._running_since
                )
            else:
                counts.update(
                    _("The service (process {pid}) is running job {id}…").format(
                        pid=state.owner_pid, id=state.id
                    )
                )
            return
        self._stop_watching()
        if state.total:
            self._show_progress(state.progress, state.total, 0.0)
        if state.status == "done":
            self.result = state.result
            self._end(self.describe(state.result))
        elif state.status == "cancelled":
            self._end(tr(state.error) or _("Cancelled."))
        else:
            self._end(_("Stopped: {error}").format(error=tr(state.error)))
            self.app.push_screen(ErrorDialog(_("The job failed"), state.error, state.hint))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self._stop_watching()
            self._end(_("Stopped: see the error."))


def _queued(_progress: Callable[[int, int], None]) -> None:
    """The job a QueuedJobDialog never runs in this console (the service does)."""


def beside_service(app: App[Any]) -> bool:
    """Whether this console works beside a service, not on its own embedded engine
    (``MMApp.beside_service``; an app without it runs its engine itself)."""
    return bool(getattr(app, "beside_service", False))


def run_job(
    app: App[Any],
    session: Session,
    kind: str,
    title: str,
    describe: Describe,
    /,
    *,
    on_close: Callable[[Any], None] | None = None,
    **params: Any,
) -> None:
    """Run job ``kind`` (see :data:`mm_engine.job_queue.KINDS`) with a progress dialog: in this
    console when it runs the engine itself, else queued for the service. Either way
    ``session`` checks and audits it, ``describe`` gets the same result (a dict), escape offers
    to cancel, and ``on_close`` gets the result (None when it failed or was cancelled)."""
    if beside_service(app):
        screen: JobDialog = QueuedJobDialog(title, session, kind, params, describe)
    else:
        spec = job_kind(kind)
        args = spec.check_params(params)

        def job(progress: Callable[[int, int], None]) -> Any:
            return spec.run(session, args, progress)

        screen = JobDialog(title, job, describe, cancellable=True, session=session)
    app.push_screen(screen, on_close)
