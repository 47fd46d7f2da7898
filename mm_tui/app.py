"""The Textual console: login flow, the error dialog for failed workers, help and commands.

Screens and panels own their state; this class only moves between screens and turns its own
workers' failures into an error dialog. A widget's worker reports only to that widget (Textual's
Worker.StateChanged does not bubble), so panels call ``forms.report_failure`` for theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from mm_engine.engine import Engine
from mm_engine.errors import EngineBusy
from mm_engine.lock import EngineLock
from mm_engine.principal import Principal
from mm_engine.session import Operation, Session, allowed
from mm_tui.alarm_text import description
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.help import HelpDialog
from mm_tui.dialogs.job_progress import JobDialog
from mm_tui.i18n import _, tr
from mm_tui.keymap import Keymap, keymap
from mm_tui.screens.first_run import FirstRunScreen
from mm_tui.screens.login import LoginScreen
from mm_tui.screens.main import TABS, MainScreen
from mm_tui.widgets.alarms_table import AlarmsPanel
from mm_tui.widgets.configuration_form import ConfigurationForm
from mm_tui.widgets.recordings_table import RECORDING_COMMANDS, offered

if TYPE_CHECKING:
    from mm_engine.service import Service

log = logging.getLogger(__name__)

# what runs on the data directory while the engine is closed: (its root, progress) -> result
EngineChange = Callable[[Path, Callable[[int, int], None]], Any]

# alarm severity (F35) -> toast severity
TOAST_SEVERITY: dict[str, SeverityLevel] = {
    "info": "information",
    "warning": "warning",
    "minor": "warning",
    "major": "error",
    "critical": "error",
}


def embedded_status() -> str:
    """The header's words for a console that runs the engine role itself."""
    return _("embedded engine")


def service_status(pid: int | None) -> str:
    """The header's words for a console beside a service (process ``pid``, when known)."""
    return _("service running (pid {pid})").format(pid=pid) if pid else _("service running")


class MMApp(App[None]):
    TITLE = "mm"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", _("Quit"), id="app.quit", priority=True),
    ]

    def __init__(
        self,
        engine: Engine,
        status: str,
        *,
        service: Service | None = None,
        beside_service: bool = False,
    ) -> None:
        """``status``: where the engine runs, as shown in the header (translated).
        ``beside_service``: whether a service (another process) runs the engine role and this
        console works beside it (its long jobs then go to the service). ``service``: the
        engine role this console runs itself (embedded), if any."""
        super().__init__()
        self.engine = engine
        self.status = status
        self.beside_service = beside_service
        self.service = service
        self._opened: Engine | None = None  # opened here after a restart: closed here too
        self.session: Session | None = None
        self.alarm_poll_seconds = 3.0
        self._alarm_timer: Timer | None = None
        self._alarms_seen = 0
        self._keys_read: str | None = None  # console_keys as last applied

    def on_mount(self) -> None:
        self.apply_console_keys()
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
        self.apply_console_keys()  # changed meanwhile, from the command line or another console
        self.push_screen(MainScreen(self.session, self.status))
        self._watch_alarms(self.session)

    # -- remapped keys (console_keys) -----------------------------------------------------------
    def apply_console_keys(self) -> None:
        """The keymap of the ``console_keys`` setting; what it names wrongly is said once."""
        try:
            text = str(self.engine.config.get("console_keys"))
        except ValueError as exc:  # stored by hand, bypassing `mm config set`
            text, wanted = str(exc), Keymap({}, error=tr(exc))
        else:
            wanted = keymap(text)
        if text == self._keys_read:
            return
        self._keys_read = text
        self.set_keymap(wanted.keys)
        if wanted.problems():
            self.notify(wanted.problems(), title=_("Keys"), severity="warning", timeout=20)

    @on(ConfigurationForm.Saved)
    def _settings_saved(self, message: ConfigurationForm.Saved) -> None:
        if "console_keys" in message.saved:
            self.apply_console_keys()

    # -- alarm toasts --------------------------------------------------------------------------
    def _watch_alarms(self, session: Session) -> None:
        """Toast each alarm raised from now on; those already there are in the Alarms tab."""
        if not allowed(session.principal, Operation.ALARMS_VIEW):
            return
        self._alarms_seen = session.alarms_newest_id()
        self._alarm_timer = self.set_interval(self.alarm_poll_seconds, self._poll_alarms)

    def _stop_watching_alarms(self) -> None:
        if self._alarm_timer is not None:
            self._alarm_timer.stop()
            self._alarm_timer = None

    @work(thread=True, exclusive=True, exit_on_error=False, group="alarm-toasts")
    def _poll_alarms(self) -> None:
        session = self.session
        if session is None:
            return
        try:
            fresh = session.alarms_after(self._alarms_seen)
        except Exception:  # a busy or closing database: the next poll tries again
            log.warning("polling for new alarms failed", exc_info=True)
            return
        if fresh:
            self.call_from_thread(self._toast_alarms, session, fresh)

    def _toast_alarms(self, session: Session, alarms: list[dict[str, Any]]) -> None:
        if session is not self.session:
            return  # logged out meanwhile
        for alarm in alarms:
            if int(alarm["id"]) <= self._alarms_seen:
                continue
            self._alarms_seen = int(alarm["id"])
            severity = str(alarm["severity"])
            self.notify(
                description(alarm),
                title=_("Alarm ({severity}): {type}").format(severity=severity, type=alarm["type"]),
                severity=TOAST_SEVERITY.get(severity, "warning"),
                timeout=10 if TOAST_SEVERITY.get(severity) == "error" else None,
                markup=False,
            )
        for screen in self.screen_stack:
            for panel in screen.query(AlarmsPanel):
                panel.action_refresh_alarms()

    # -- leaving -------------------------------------------------------------------------------
    def action_logout(self) -> None:
        if self.session is not None:
            self._stop_watching_alarms()
            self._logout(self.session)
            self.session = None
            while len(self.screen_stack) > 1:
                self.pop_screen()
            self._show_login()

    @work(thread=True, exit_on_error=False)
    def _logout(self, session: Session) -> None:
        session.logout()

    # -- closing and reopening the engine (a restore from the console) -------------------------
    def restart_engine(
        self, title: str, change: EngineChange, describe: Callable[[Any], str]
    ) -> None:
        """Log out, close the engine (stopping this console's service first), run ``change`` on
        the data directory with nothing open on it, and open the engine again whatever
        happened. A progress dialog shows it; closing it shows the login screen, since the
        users may have changed."""
        session = self.session
        self._stop_watching_alarms()
        self.session = None
        while len(self.screen_stack) > 1:
            self.pop_screen()

        def job(progress: Callable[[int, int], None]) -> Any:
            if session is not None:
                session.logout()  # audited in the database being replaced
            return self._with_engine_closed(change, progress)

        self.push_screen(JobDialog(title, job, describe), lambda _result: self._show_login())

    def _with_engine_closed(
        self, change: EngineChange, progress: Callable[[int, int], None]
    ) -> Any:
        """In a worker thread: nothing of this console may touch the engine meanwhile."""
        old, service = self.engine, self.service
        root = old.data_dir.root
        if service is not None:
            service.stop()  # releases the engine lock
            self.service = None
        old.close()
        try:
            return change(root, progress)
        finally:
            self.engine = self._opened = Engine(root)
            if service is not None:
                self._start_service()

    def _start_service(self) -> None:
        from mm_engine.service import Service  # the scheduler and watchers: embedded only

        service = Service(self.engine)
        try:
            service.start()
        except EngineBusy:  # another process took the engine role meanwhile
            pid = EngineLock(self.engine.data_dir.lock).holder()
            self.status = service_status(pid)
            self.beside_service = True
        else:
            self.service = service

    def on_unmount(self) -> None:
        """What :meth:`restart_engine` opened is closed here; the original is its opener's."""
        if self._opened is not None:
            if self.service is not None:
                self.service.stop()
                self.service = None
            self._opened.close()

    async def action_quit(self) -> None:
        self._stop_watching_alarms()
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
        yield SystemCommand("app: quit", _("Log out and leave mm"), self.action_quit)
        yield SystemCommand("app: keys", _("List the keys of this screen"), self.action_help)
        yield SystemCommand("app: theme", _("Change the colours"), self.action_change_theme)
        if not isinstance(screen, MainScreen) or self.session is None:
            return
        principal = self.session.principal
        yield SystemCommand("session: log out", _("Log out (audited)"), self.action_logout)
        for tab in screen.visible_tabs():
            yield SystemCommand(
                f"{tab}: show",
                _("Open the {tab} tab").format(tab=_(TABS[tab][0])),
                lambda t=tab: screen.show_tab(t),
            )
        for verb, help_text, action in RECORDING_COMMANDS:
            if offered(principal, action):
                yield SystemCommand(
                    f"recordings: {verb}",
                    help_text,
                    lambda a=action: self._run_on(screen, "recordings-panel", "recordings", a),
                )
        if allowed(principal, Operation.ALARMS_VIEW):
            yield SystemCommand(
                "alarms: refresh",
                _("Reload the alarms"),
                lambda: self._run_on(screen, "alarms-panel", "alarms", "refresh_alarms"),
            )
        if allowed(principal, Operation.ALARMS_MANAGE):
            yield SystemCommand(
                "alarms: acknowledge",
                _("Acknowledge the selected alarm"),
                lambda: self._run_on(screen, "alarms-panel", "alarms", "acknowledge"),
            )

    def _run_on(self, screen: MainScreen, panel: str, tab: str, action: str) -> None:
        screen.show_tab(tab)
        self.call_later(self.run_action, action, screen.query_one(f"#{panel}"))
