"""Verify the selection or every recording (F29), with a progress bar, counts and time left.

A thread worker walks the engine's results and posts progress at most a few times a second
(each message may replace the one still queued, so a million results never back up the
queue); the dialog owns the tally. Escape stops the walk between two recordings; the summary
then says how far it got. Dismissed with the tally, or None if nothing ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static
from textual.worker import Worker, get_current_worker

from mm_engine.domain import Verification
from mm_engine.session import Session
from mm_tui.i18n import N_, _
from mm_tui.widgets.forms import report_failure

POST_EVERY_S = 0.2
PROBLEMS_SHOWN = 12
VERDICTS = {
    Verification.VERIFIED: N_("verified"),
    Verification.TAMPERED: N_("tampered"),
    Verification.CANNOT_VERIFY: N_("cannot verify"),
}


def verdict(verification: Verification) -> str:
    """A verification outcome in the current language (--json keeps the engine's words)."""
    return _(VERDICTS[verification])


@dataclass
class Tally:
    """Counts by outcome, and the call IDs of the first few that did not verify."""

    done: int = 0
    total: int = 0
    verified: int = 0
    tampered: int = 0
    cannot: int = 0
    problems: list[tuple[str, Verification]] = field(default_factory=list)
    stopped: bool = False

    def add(self, call_id: str, verification: Verification) -> None:
        self.done += 1
        if verification is Verification.VERIFIED:
            self.verified += 1
            return
        if verification is Verification.TAMPERED:
            self.tampered += 1
        else:
            self.cannot += 1
        if len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append((call_id, verification))

    def copy(self) -> Tally:
        return Tally(
            self.done,
            self.total,
            self.verified,
            self.tampered,
            self.cannot,
            list(self.problems),
            self.stopped,
        )

    def summary(self) -> str:
        return _("{verified} verified · {tampered} tampered · {cannot} cannot verify").format(
            verified=f"{self.verified:,}", tampered=f"{self.tampered:,}", cannot=f"{self.cannot:,}"
        )


def time_left(elapsed_s: float, done: int, total: int) -> str:
    """What is left at the pace so far, as h:mm:ss or m:ss."""
    if done <= 0 or total <= done:
        return "–:––" if done <= 0 else "0:00"
    seconds = round(elapsed_s * (total - done) / done)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class VerifyDialog(ModalScreen[Tally | None]):
    CSS_PATH = "verify_progress.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_or_close", _("Stop / close"), id="verify.stop"),
    ]

    @dataclass
    class Progressed(Message):
        tally: Tally

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, VerifyDialog.Progressed)

    @dataclass
    class Finished(Message):
        tally: Tally

    def __init__(self, session: Session, ids: list[int] | None, what: str) -> None:
        """``ids`` None verifies every recording; ``what`` names them for the title."""
        super().__init__()
        self.session = session
        self.ids = ids
        self.what = what
        self.tally: Tally | None = None
        self.finished = False
        self._started = time.monotonic()

    def compose(self) -> ComposeResult:
        with Vertical(id="verify-box"):
            yield Label(_("Verify {what}").format(what=self.what), id="verify-title")
            yield ProgressBar(total=None, show_eta=False, id="verify-bar")
            yield Static(_("Starting…"), id="verify-counts", markup=False)
            yield Static("", id="verify-tally", markup=False)
            yield Static("", id="verify-problems", markup=False)
            with Horizontal(id="verify-buttons"):
                yield Button(_("Stop (esc)"), variant="error", id="verify-stop", compact=True)
                yield Button(_("Close"), variant="primary", id="verify-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#verify-close").display = False
        self.query_one("#verify-problems").display = False
        self._started = time.monotonic()
        self._run()

    # -- the walk, in a thread -----------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def _run(self) -> None:
        worker = get_current_worker()
        tally = Tally(total=len(self.ids) if self.ids is not None else 0)

        def progress(done: int, total: int) -> None:
            tally.total = total

        posted = 0.0
        for result in self.session.iter_verify(self.ids, progress):
            tally.add(result.call_id, result.verification)
            if worker.is_cancelled:
                tally.stopped = tally.done < tally.total
                break
            now = time.monotonic()
            if now - posted >= POST_EVERY_S:
                posted = now
                self.post_message(self.Progressed(tally.copy()))
        self.post_message(self.Finished(tally.copy()))

    # -- state, owned here ---------------------------------------------------------------------
    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        self._show(message.tally)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        tally = self.tally = message.tally
        self.finished = True
        self._show(tally)
        done, total = f"{tally.done:,}", f"{tally.total:,}"
        how = (
            _("Stopped after {done} of {total}").format(done=done, total=total)
            if tally.stopped
            else _("Done")
        )
        self.query_one("#verify-counts", Static).update(
            _("{how}: {done} checked.").format(how=how, done=done)
        )
        if tally.problems:
            lines = [
                _("call {call}: {verdict}").format(call=call_id, verdict=verdict(v))
                for call_id, v in tally.problems
            ]
            more = tally.tampered + tally.cannot - len(tally.problems)
            if more > 0:
                lines.append(
                    _("and {count} more (mm recordings verify --json lists all)").format(
                        count=f"{more:,}"
                    )
                )
            problems = self.query_one("#verify-problems", Static)
            problems.update("\n".join(lines))
            problems.display = True
        self.query_one("#verify-stop").display = False
        close = self.query_one("#verify-close", Button)
        close.display = True
        close.focus()

    def _show(self, tally: Tally) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=max(tally.total, tally.done), progress=tally.done)
        left = time_left(time.monotonic() - self._started, tally.done, tally.total)
        self.query_one("#verify-counts", Static).update(
            _("{done} of {total} checked · {left} left").format(
                done=f"{tally.done:,}", total=f"{tally.total:,}", left=left
            )
        )
        self.query_one("#verify-tally", Static).update(tally.summary())
        self.query_one("#verify-tally").set_class(bool(tally.tampered), "-bad")

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self.finished = True
            self.query_one("#verify-counts", Static).update(_("Verification failed."))
            self.query_one("#verify-stop").display = False
            self.query_one("#verify-close").display = True

    # -- keys ----------------------------------------------------------------------------------
    def action_stop_or_close(self) -> None:
        if self.finished:
            self.dismiss(self.tally)
        else:
            self.workers.cancel_group(self, "verify")
            self.query_one("#verify-counts", Static).update(_("Stopping…"))

    @on(Button.Pressed, "#verify-stop")
    def _stop(self) -> None:
        self.action_stop_or_close()

    @on(Button.Pressed, "#verify-close")
    def _close(self) -> None:
        self.dismiss(self.tally)
