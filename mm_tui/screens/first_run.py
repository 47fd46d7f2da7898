"""No account exists yet: make the first administrator here, then log in as them.

The account is created by the local system operator (the engine's own rule for the data
directory's owner), and only while the catalogue still has no account at all.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static
from textual.worker import Worker, WorkerState

from mm_engine.engine import Engine
from mm_engine.errors import Refused
from mm_engine.principal import SYSTEM, Principal, Role
from mm_engine.session import Session


class FirstRunScreen(Screen[Principal]):
    CSS_PATH = "first_run.tcss"

    def __init__(self, engine: Engine, status: str) -> None:
        super().__init__()
        self._engine = engine
        self._status = status

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="first-box"):
            yield Label("Welcome to mm", id="first-title")
            yield Static(
                "No account exists yet. Create the first administrator.", id="first-explain"
            )
            yield Input(placeholder="user name", id="first-user")
            yield Input(
                placeholder="password (at least 8 characters)", password=True, id="first-pw"
            )
            yield Input(placeholder="password again", password=True, id="first-pw2")
            yield Button("Create administrator", variant="primary", id="first-submit")
            yield Static("", id="first-message")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self._status
        self.query_one("#first-user", Input).focus()

    @on(Input.Submitted, "#first-user")
    def _to_password(self) -> None:
        self.query_one("#first-pw", Input).focus()

    @on(Input.Submitted, "#first-pw")
    def _to_again(self) -> None:
        self.query_one("#first-pw2", Input).focus()

    @on(Input.Submitted, "#first-pw2")
    @on(Button.Pressed, "#first-submit")
    def _submit(self) -> None:
        name = self.query_one("#first-user", Input).value
        password = self.query_one("#first-pw", Input).value
        if password != self.query_one("#first-pw2", Input).value:
            self._say("The two passwords differ; type them again.")
            self.query_one("#first-pw", Input).value = ""
            self.query_one("#first-pw2", Input).value = ""
            self.query_one("#first-pw", Input).focus()
            return
        self._say("Creating…")
        self._create(name, password)

    @work(thread=True, exclusive=True, exit_on_error=False, name="first-run")
    def _create(self, name: str, password: str) -> Principal:
        if self._engine.users.count() != 0:
            raise Refused(
                "An account was created meanwhile (from another console or the CLI).",
                "Restart mm and log in.",
            )
        Session(self._engine, SYSTEM).users_add(name, Role.ADMINISTRATOR, password)
        return self._engine.users.authenticate(name, password)

    @on(Worker.StateChanged)
    def _created(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "first-run":
            return
        event.stop()
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Principal):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            message = str(getattr(error, "message", error))
            hint = str(getattr(error, "hint", ""))
            self._say(f"{message} {hint}".strip())

    def _say(self, text: str) -> None:
        self.query_one("#first-message", Static).update(text)
