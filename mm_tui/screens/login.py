"""Who is at the keyboard: nothing else is shown until the engine accepts a name and password."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label
from textual.worker import Worker, WorkerState

from mm_engine.engine import Engine
from mm_engine.errors import MMError
from mm_engine.principal import Principal
from mm_tui.i18n import _, tr
from mm_tui.widgets.forms import Form, FormField, label_width


def fields() -> tuple[FormField, ...]:
    return (
        FormField("user", _("User name"), placeholder=_("user name"), id="login-user"),
        FormField(
            "password",
            _("Password"),
            kind="password",
            placeholder=_("password"),
            id="login-password",
        ),
    )


class LoginScreen(Screen[Principal]):
    """Dismissed with the principal; a refusal stays on this screen with the engine's words."""

    CSS_PATH = "login.tcss"

    def __init__(self, engine: Engine, status: str) -> None:
        super().__init__()
        self._engine = engine
        self._status = status

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="login-box"):
            yield Label(_("Log in to mm"), id="login-title")
            shown = fields()
            yield Form(
                shown,
                id="login",
                submit=_("Log in"),
                cancel=None,
                compact=False,
                label_width=label_width(shown, 11),
            )
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self._status
        self.query_one(Form).focus_field("user")

    @on(Form.Submitted, "#login")
    def _submit(self, event: Form.Submitted) -> None:
        name, password = event.values["user"], event.values["password"]
        if not name.strip() or not password:
            event.form.say(_("Enter a user name and a password."))
            return
        event.form.say(_("Checking…"))
        self._authenticate(name, password)

    @work(thread=True, exclusive=True, exit_on_error=False, name="login")
    def _authenticate(self, name: str, password: str) -> Principal:
        return self._engine.users.authenticate(name, password)

    @on(Worker.StateChanged)
    def _login_done(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "login":
            return
        event.stop()  # a refused login is shown here, not as an error dialog
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Principal):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            form = self.query_one(Form)
            form.set_value("password", "")
            form.focus_field("password")
            error = event.worker.error
            form.say(tr(error.message) if isinstance(error, MMError) else tr(error))
