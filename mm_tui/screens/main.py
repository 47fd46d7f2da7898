"""The console after login: one tab per area, hidden when the principal may not use it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from mm_engine.session import Operation, Session, allowed
from mm_tui.widgets.alarms_table import AlarmsPanel
from mm_tui.widgets.read_only_lists import AuditList, ConfigurationList, UsersList
from mm_tui.widgets.recordings_table import RecordingsPanel

# tab id -> (label, operation that shows it)
TABS: dict[str, tuple[str, Operation]] = {
    "recordings": ("Recordings", Operation.SEARCH),
    "connectors": ("Connectors", Operation.CONFIG_VIEW),
    "audit": ("Audit", Operation.AUDIT_VIEW),
    "alarms": ("Alarms", Operation.ALARMS_VIEW),
    "migration": ("Migration", Operation.CONFIG_VIEW),
    "configuration": ("Configuration", Operation.CONFIG_VIEW),
    "users": ("Users", Operation.USERS_MANAGE),
}

COMING = {
    "connectors": "Archive connectors (SMB, S3, GCS, Azure, Google Drive, DVD+RW) arrive with "
    "archiving.",
    "migration": "Contact Recorder migration arrives with the migration issue.",
}


class MainScreen(Screen[None]):
    CSS_PATH = "main.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "app.logout", "Log out", id="app.logout"),
        Binding("question_mark", "app.help", "Help", id="app.help"),
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
                with TabPane(TABS[tab][0], id=tab):
                    yield from self._content(tab)
        yield Footer()

    def _content(self, tab: str) -> ComposeResult:
        if tab == "recordings":
            yield RecordingsPanel(self.session, id="recordings-panel")
        elif tab == "alarms":
            yield AlarmsPanel(self.session, id="alarms-panel")
        elif tab == "audit":
            yield AuditList(self.session, id="audit-list")
        elif tab == "configuration":
            yield ConfigurationList(self.session, id="configuration-list")
        elif tab == "users":
            yield UsersList(self.session, id="users-list")
        else:
            yield Static(COMING[tab], classes="coming")

    def on_mount(self) -> None:
        p = self.session.principal
        self.sub_title = f"{p.name} ({p.role.label}) · {self._status}"

    def show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
