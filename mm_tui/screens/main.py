"""The console after login: one tab per area, hidden when the principal may not use it."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Header, TabbedContent, TabPane

from mm_engine.domain import Recording
from mm_engine.download import Download
from mm_engine.session import Operation, Session, allowed
from mm_tui.dialogs.download import DownloadDialog
from mm_tui.i18n import N_, _, role_name
from mm_tui.widgets.alarms_table import AlarmsPanel
from mm_tui.widgets.audit_panel import AuditPanel
from mm_tui.widgets.configuration_form import ConfigurationForm
from mm_tui.widgets.connectors_panel import ConnectorsPanel
from mm_tui.widgets.footer import FittingFooter
from mm_tui.widgets.migration_panel import MigrationPanel
from mm_tui.widgets.player import PlayerPanel
from mm_tui.widgets.recordings_table import RecordingsPanel, RecordingsTable, SelectionDownload
from mm_tui.widgets.users_panel import UsersPanel

# tab id -> (label, marked: translated where shown; operation that shows it)
TABS: dict[str, tuple[str, Operation]] = {
    "recordings": (N_("Recordings"), Operation.SEARCH),
    "connectors": (N_("Connectors"), Operation.CONNECTORS_VIEW),
    "audit": (N_("Audit"), Operation.AUDIT_VIEW),
    "alarms": (N_("Alarms"), Operation.ALARMS_VIEW),
    "migration": (N_("Migration"), Operation.CONFIG_VIEW),
    "configuration": (N_("Configuration"), Operation.CONFIG_VIEW),
    "users": (N_("Users"), Operation.USERS_MANAGE),
}


class MainScreen(Screen[None]):
    CSS_PATH = "main.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "app.logout", _("Log out"), id="app.logout"),
        Binding("question_mark", "app.help", _("Help"), id="app.help"),
        Binding("space", "play_selected", _("Play"), id="recordings.play"),
        Binding("w", "download", _("Download"), id="recordings.download"),
    ]

    def __init__(self, session: Session, status: str) -> None:
        super().__init__()
        self.session = session
        self._status = status

    def visible_tabs(self) -> list[str]:
        return [tab for tab, (_, op) in TABS.items() if allowed(self.session.principal, op)]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            for tab in self.visible_tabs():
                with TabPane(_(TABS[tab][0]), id=tab):
                    yield from self._content(tab)
        yield FittingFooter(compact=True)  # at 80 columns every cell counts

    def _content(self, tab: str) -> ComposeResult:
        if tab == "recordings":
            yield RecordingsPanel(self.session, id="recordings-panel")
            yield PlayerPanel(self.session, id="player-panel")
        elif tab == "connectors":
            yield ConnectorsPanel(self.session, id="connectors-panel")
        elif tab == "alarms":
            yield AlarmsPanel(self.session, id="alarms-panel")
        elif tab == "audit":
            yield AuditPanel(self.session, id="audit-panel")
        elif tab == "configuration":
            yield ConfigurationForm(self.session, id="configuration-form")
        elif tab == "users":
            yield UsersPanel(self.session, id="users-panel")
        elif tab == "migration":
            yield MigrationPanel(self.session, id="migration-panel")

    def on_mount(self) -> None:
        p = self.session.principal
        self.sub_title = f"{p.name} ({role_name(p.role.value)}) · {self._status}"

    def show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # -- playing and downloading (F27, F28) ------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        wanted = {"play_selected": Operation.REPLAY, "download": Operation.DOWNLOAD}
        if action not in wanted:
            return True
        if not allowed(self.session.principal, wanted[action]):
            return False
        return self.query_one(TabbedContent).active == "recordings"

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def action_play_selected(self) -> None:
        rec = self.query_one(RecordingsPanel).selected()
        if rec is not None:
            self.query_one(PlayerPanel).open(rec)

    def action_download(self) -> None:
        player = self.query_one(PlayerPanel)
        if player.has_focus_within and player.recording is not None:
            self.download(player.recording)
            return
        recordings = self.query_one(RecordingsPanel)
        if recordings.selection:
            chosen = recordings.targets()
            self.download(chosen[0], chosen, selection=True)
            return
        rec = recordings.selected()
        if rec is None:
            self.notify(_("Select a recording first."), title=_("Download"))
            return
        self.download(rec, recordings.current_page())

    def download(
        self, rec: Recording, page: list[Recording] | None = None, *, selection: bool = False
    ) -> None:
        """One recording or ``page`` (or, with ``selection``, the selected ``page``)."""

        def written(result: Download | None) -> None:
            if result is not None:
                self.notify(_("Wrote {path}").format(path=result.path), title=_("Download"))

        dialog = SelectionDownload if selection else DownloadDialog
        self.app.push_screen(dialog(self.session, rec, page or []), written)

    @on(PlayerPanel.DownloadRequested)
    def _download_instead(self, message: PlayerPanel.DownloadRequested) -> None:
        self.download(message.recording)

    @on(PlayerPanel.LeaveRequested)
    def _back_to_list(self) -> None:
        self.query_one(RecordingsTable).focus()
