"""The Alarms tab: newest first, with severity, type, count and description; acknowledge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker

from mm_engine.session import Operation, Session, allowed
from mm_tui.alarm_text import description
from mm_tui.i18n import _, plural
from mm_tui.widgets.forms import report_failure

ALARM_LIMIT = 200


def _state(alarm: dict[str, Any]) -> str:
    if alarm["cleared"]:
        return _("cleared")
    if alarm["acknowledged"]:
        return _("ack by {user}").format(user=alarm["acknowledged_by"])
    return _("new")


class AlarmsPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", _("Acknowledge"), id="alarms.acknowledge"),
        Binding("r", "refresh_alarms", _("Refresh"), id="alarms.refresh"),
    ]

    @dataclass
    class Loaded(Message):
        alarms: list[dict[str, Any]]

    @dataclass
    class Acknowledged(Message):
        ids: list[int]

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.alarms: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="alarms-table")
        table.add_columns(
            _("last seen"), _("severity"), _("type"), _("count"), _("state"), _("description")
        )
        yield table
        yield Static("", id="alarms-status")

    def on_mount(self) -> None:
        self._load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "acknowledge":
            return allowed(self.session.principal, Operation.ALARMS_MANAGE)
        return True

    def action_refresh_alarms(self) -> None:
        self._load()

    def action_acknowledge(self) -> None:
        table = self.query_one(DataTable)
        if 0 <= table.cursor_row < len(self.alarms):
            self._acknowledge(int(self.alarms[table.cursor_row]["id"]))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="alarms-load")
    def _load(self) -> None:
        self.post_message(self.Loaded(self.session.alarms_list(ALARM_LIMIT)))

    @work(thread=True, exit_on_error=False, group="alarms-ack")
    def _acknowledge(self, alarm_id: int) -> None:
        self.post_message(
            self.Acknowledged(self.session.alarms_acknowledge([alarm_id])["acknowledged"])
        )

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.alarms = message.alarms
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for alarm in self.alarms:
            table.add_row(
                str(alarm["last_at"])[:19].replace("T", " "),
                str(alarm["severity"]),
                str(alarm["type"]),
                str(alarm["count"]),
                _state(alarm),
                description(alarm),
                key=str(alarm["id"]),
            )
        if self.alarms:
            table.move_cursor(row=min(max(row, 0), len(self.alarms) - 1))
        unacked = sum(1 for a in self.alarms if not a["acknowledged"] and not a["cleared"])
        self.query_one("#alarms-status", Static).update(
            plural("{count} alarm(s), {unacked} not acknowledged", len(self.alarms)).format(
                count=len(self.alarms), unacked=unacked
            )
        )

    @on(Acknowledged)
    def _acknowledged(self, message: Acknowledged) -> None:
        if message.ids:
            self.notify(
                _("Acknowledged alarm {ids}.").format(ids=", ".join(map(str, message.ids))),
                title=_("Alarms"),
            )
        self._load()
