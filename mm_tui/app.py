"""The Textual console: login flow, the error dialog for failed workers, help and commands.

Screens and panels own their state; this class only moves between screens and turns any
worker's failure into one error dialog, so no panel needs its own error handling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from mm_engine.engine import Engine
from mm_engine.principal import Principal
from mm_engine.session import Operation, Session, allowed
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.help import HelpDialog
from mm_tui.screens.first_run import FirstRunScreen
from mm_tui.screens.login import LoginScreen
from mm_tui.screens.main import MainScreen


class MMApp(App[None]):
    TITLE = "mm"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, engine: Engine, status: str) -> None:
        super().__init__()
        self.engine = engine
        self.status = status
        self.session: Session | None = None

    def on_mount(self) -> None:
        if self.engine.users.count() == 0:
            self.push_screen(FirstRunScreen(self.engine, self.status), self._logged_in)
        else:
            self._show_login()

    def _show_login(self) -> None:
        self.push_screen(LoginScreen(self.engine, self.status), self._logged_in)

    def _logged_in(self, principal: Principal | None) -> None:
        if principal is None:
            return
        self.session = Session(self.engine, principal)
        self.push_screen(MainScreen(self.session, self.status))

    # -- leaving -------------------------------------------------------------------------------
    def action_logout(self) -> None:
        if self.session is not None:
            self._logout(self.session)
            self.session = None
            while len(self.screen_stack) > 1:
                self.pop_screen()
            self._show_login()

    @work(thread=True, exit_on_error=False)
    def _logout(self, session: Session) -> None:
        session.logout()

    async def action_quit(self) -> None:
        if self.session is not None:
            self.session.logout()  # one audit row; done before the engine closes
            self.session = None
        self.exit()

    # -- errors, help, commands ----------------------------------------------------------------
    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.push_screen(ErrorDialog.for_exception(event.worker.error))

    def action_help(self) -> None:
        rows = [
            (
                active.binding.key_display or self.get_key_display(active.binding),
                active.binding.description or active.binding.action,
                active.binding.id or "",
            )
            for active in self.active_bindings.values()
            if active.enabled and active.binding.description
        ]
        self.push_screen(HelpDialog(rows))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield SystemCommand("app: quit", "Log out and leave mm", self.action_quit)
        yield SystemCommand("app: keys", "List the keys of this screen", self.action_help)
        yield SystemCommand("app: theme", "Change the colours", self.action_change_theme)
        if not isinstance(screen, MainScreen) or self.session is None:
            return
        principal = self.session.principal
        yield SystemCommand("session: log out", "Log out (audited)", self.action_logout)
        for tab in screen.visible_tabs():
            yield SystemCommand(
                f"{tab}: show", f"Open the {tab} tab", lambda t=tab: screen.show_tab(t)
            )
        recordings = "recordings-panel"
        yield SystemCommand(
            "recordings: search",
            "Focus the search box",
            lambda: self._run_on(screen, recordings, "recordings", "focus_search"),
        )
        yield SystemCommand(
            "recordings: next page",
            "Show the next page of recordings",
            lambda: self._run_on(screen, recordings, "recordings", "next_page"),
        )
        yield SystemCommand(
            "recordings: previous page",
            "Show the previous page of recordings",
            lambda: self._run_on(screen, recordings, "recordings", "previous_page"),
        )
        yield SystemCommand(
            "recordings: verify",
            "Verify the selected recording",
            lambda: self._run_on(screen, recordings, "recordings", "verify"),
        )
        if allowed(principal, Operation.DELETE):
            yield SystemCommand(
                "recordings: delete",
                "Delete the selected recording (asks first)",
                lambda: self._run_on(screen, recordings, "recordings", "delete"),
            )
        if allowed(principal, Operation.ALARMS_VIEW):
            yield SystemCommand(
                "alarms: refresh",
                "Reload the alarms",
                lambda: self._run_on(screen, "alarms-panel", "alarms", "refresh_alarms"),
            )
        if allowed(principal, Operation.ALARMS_MANAGE):
            yield SystemCommand(
                "alarms: acknowledge",
                "Acknowledge the selected alarm",
                lambda: self._run_on(screen, "alarms-panel", "alarms", "acknowledge"),
            )

    def _run_on(self, screen: MainScreen, panel: str, tab: str, action: str) -> None:
        screen.show_tab(tab)
        self.call_later(self.run_action, action, screen.query_one(f"#{panel}"))
