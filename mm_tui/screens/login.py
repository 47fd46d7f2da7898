"""Who is at the keyboard: nothing else is shown until the engine accepts a name and password."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static
from textual.worker import Worker, WorkerState

from mm_engine.engine import Engine
from mm_engine.principal import Principal


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
            yield Label("Log in to mm", id="login-title")
            yield Input(placeholder="user name", id="login-user")
            yield Input(placeholder="password", password=True, id="login-password")
            yield Button("Log in", variant="primary", id="login-submit")
            yield Static("", id="login-message")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self._status
        self.query_one("#login-user", Input).focus()

    @on(Input.Submitted, "#login-user")
    def _to_password(self) -> None:
        self.query_one("#login-password", Input).focus()

    @on(Input.Submitted, "#login-password")
    @on(Button.Pressed, "#login-submit")
    def _submit(self) -> None:
        name = self.query_one("#login-user", Input).value
        password = self.query_one("#login-password", Input).value
        if not name.strip() or not password:
            self._say("Enter a user name and a password.")
            return
        self._say("Checking…")
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
            password = self.query_one("#login-password", Input)
            password.value = ""
            password.focus()
            error = event.worker.error
            self._say(str(getattr(error, "message", error)))

    def _say(self, text: str) -> None:
        self.query_one("#login-message", Static).update(text)
