"""No account exists yet: make the first administrator here, then log in as them.

The account is created by the local system operator (the engine's own rule for the data
directory's owner), and only while the catalogue still has no account at all.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static
from textual.worker import Worker, WorkerState

from mm_engine.engine import Engine
from mm_engine.errors import MMError, Refused
from mm_engine.principal import SYSTEM, Principal, Role
from mm_engine.session import Session
from mm_tui.i18n import _, error_text, tr
from mm_tui.widgets.forms import Form, FormField, label_width


def fields() -> tuple[FormField, ...]:
    return (
        FormField("user", _("User name"), placeholder=_("user name"), id="first-user"),
        FormField(
            "password",
            _("Password"),
            kind="password",
            placeholder=_("at least 8 characters"),
            id="first-pw",
        ),
        FormField(
            "again", _("Again"), kind="password", placeholder=_("password again"), id="first-pw2"
        ),
    )


class FirstRunScreen(Screen[Principal]):
    CSS_PATH = "first_run.tcss"

    def __init__(self, engine: Engine, status: str) -> None:
        super().__init__()
        self._engine = engine
        self._status = status

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="first-box"):
            yield Label(_("Welcome to mm"), id="first-title")
            yield Static(
                _("No account exists yet. Create the first administrator."), id="first-explain"
            )
            shown = fields()
            yield Form(
                shown,
                id="first",
                submit=_("Create administrator"),
                cancel=None,
                compact=False,
                label_width=label_width(shown, 11),
            )
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self._status
        self.query_one(Form).focus_field("user")

    @on(Form.Submitted, "#first")
    def _submit(self, event: Form.Submitted) -> None:
        form, values = event.form, event.values
        if values["password"] != values["again"]:
            form.set_values({"password": "", "again": ""})
            form.show_errors({"again": _("The two passwords differ; type them again.")})
            form.focus_field("password")
            form.say("")
            return
        form.say(_("Creating…"))
        self._create(values["user"], values["password"])

    @work(thread=True, exclusive=True, exit_on_error=False, name="first-run")
    def _create(self, name: str, password: str) -> Principal:
        if self._engine.users.count() != 0:
            raise Refused(
                _("An account was created meanwhile (from another console or the CLI)."),
                _("Restart mm and log in."),
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
            said = error_text(error) if isinstance(error, MMError) else tr(error)
            self.query_one(Form).say(said)
