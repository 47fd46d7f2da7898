"""Signing a Google Drive connector in to a Google account from an SSH console (device flow).

The engine asks Google for a code; this dialog shows the address and the code to enter there on
any phone or computer, then waits while Google is asked at the interval it set. "Check now" asks
at once after the person has approved. Dismissed with the refresh token, or None when cancelled;
the caller decides where the token goes (a new connector's form, or the saved connector).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.worker import Worker

from mm_engine.connectors import DriveSignIn, SignInCancelled
from mm_engine.errors import MMError
from mm_engine.session import Session
from mm_tui.i18n import _, error_text, ngettext
from mm_tui.widgets.forms import report_failure


class DeviceFlowDialog(ModalScreen[str | None]):
    CSS_PATH = "device_flow.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "check_now", _("Check now"), id="device_flow.check_now"),
        Binding("r", "retry", _("Try again"), id="device_flow.retry"),
        Binding("escape", "cancel", _("Cancel"), id="device_flow.cancel"),
    ]

    @dataclass
    class Started(Message):
        flow: DriveSignIn

    @dataclass
    class Approved(Message):
        token: str

    @dataclass
    class Failed(Message):
        error: MMError

    def __init__(
        self, session: Session, settings: Mapping[str, str], connector: str | None = None
    ) -> None:
        """``settings``: the OAuth client typed in a form (client_id, client_secret,
        token_url); what is empty comes from the saved ``connector``."""
        super().__init__()
        self.session = session
        self.settings = dict(settings)
        self.connector = connector
        self.flow: DriveSignIn | None = None
        self.failed = False
        self._closed = False
        self._live: DriveSignIn | None = None  # set by the worker, so closing can stop it

    def compose(self) -> ComposeResult:
        with Vertical(id="device-flow-box"):
            yield Label(_("Sign in with Google"), id="device-flow-title")
            yield Static(_("Asking Google for a sign-in code…"), id="device-flow-steps")
            yield Static("", id="device-flow-url", markup=False)
            yield Static("", id="device-flow-code", markup=False)
            yield Static("", id="device-flow-status", markup=False)
            with Horizontal(id="device-flow-buttons"):
                yield Button(
                    _("Check now (c)"), variant="primary", id="device-flow-check", compact=True
                )
                yield Button(_("Try again (r)"), id="device-flow-retry", compact=True)
                yield Button(_("Cancel (esc)"), id="device-flow-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#device-flow-check").display = False
        self.query_one("#device-flow-retry").display = False
        self.query_one("#device-flow-cancel", Button).focus()
        self._sign_in()

    def on_unmount(self) -> None:
        self._closed = True
        if self._live is not None:
            self._live.cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "check_now":
            return self.flow is not None and not self.failed
        if action == "retry":
            return self.failed
        return True

    # -- what the person asks for --------------------------------------------------------------
    @on(Button.Pressed, "#device-flow-check")
    def action_check_now(self) -> None:
        if self.flow is not None and not self.failed:
            self._status(_("Asking Google now…"))
            self.flow.check_now()

    @on(Button.Pressed, "#device-flow-retry")
    def action_retry(self) -> None:
        if not self.failed:
            return
        self.failed = False
        self.flow = None
        self.query_one("#device-flow-retry").display = False
        self.query_one("#device-flow-steps", Static).update(_("Asking Google for a sign-in code…"))
        self.query_one("#device-flow-url", Static).update("")
        self.query_one("#device-flow-code", Static).update("")
        self._status("")
        self.refresh_bindings()
        self._sign_in()

    @on(Button.Pressed, "#device-flow-cancel")
    def action_cancel(self) -> None:
        if self.flow is not None:
            self.flow.cancel()
        self.dismiss(None)

    # -- the sign-in, in a thread --------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="device-flow")
    def _sign_in(self) -> None:
        try:
            flow = self.session.connectors_sign_in(self.settings, self.connector)
        except MMError as exc:
            self.post_message(self.Failed(exc))
            return
        self._live = flow
        if self._closed:  # closed while Google was being asked for the code
            flow.cancel()
        self.post_message(self.Started(flow))
        try:
            token = flow.wait()
        except SignInCancelled:
            return
        except MMError as exc:
            self.post_message(self.Failed(exc))
            return
        self.post_message(self.Approved(token))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self._show_failure(_("The sign-in stopped on an unexpected error."))

    # -- state, owned here ---------------------------------------------------------------------
    @on(Started)
    def _started(self, message: Started) -> None:
        flow = self.flow = message.flow
        minutes = max(1, flow.expires_in // 60)
        self.query_one("#device-flow-steps", Static).update(
            ngettext(
                "On any phone or computer, open this address, enter the code, and allow access "
                "(within {minutes} minute):",
                "On any phone or computer, open this address, enter the code, and allow access "
                "(within {minutes} minutes):",
                minutes,
            ).format(minutes=minutes)
        )
        self.query_one("#device-flow-url", Static).update(flow.verification_url)
        self.query_one("#device-flow-code", Static).update(flow.user_code)
        self._status(_("Waiting for Google… press c once you have allowed access."))
        check = self.query_one("#device-flow-check", Button)
        check.display = True
        check.focus()
        self.refresh_bindings()

    @on(Approved)
    def _approved(self, message: Approved) -> None:
        self.flow = None
        self.dismiss(message.token)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._show_failure(error_text(message.error))

    def _show_failure(self, text: str) -> None:
        self.failed = True
        self.query_one("#device-flow-check").display = False
        self.query_one("#device-flow-retry").display = True
        self.query_one("#device-flow-retry", Button).focus()
        self._status(text, error=True)
        self.refresh_bindings()

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#device-flow-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def status_text(self) -> str:
        return str(self.query_one("#device-flow-status", Static).render())
