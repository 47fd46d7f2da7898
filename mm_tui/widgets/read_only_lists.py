"""Audit, Configuration and Users as read-only lists until their forms arrive (issue 4).

Each loads once in a thread and on `r`; what they will let people change comes later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from mm_engine.session import Session

AUDIT_LIMIT = 200


class ReadOnlyList(Vertical):
    """A table filled from one session call; subclasses say which call and which columns."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Refresh", id="lists.refresh")]
    COLUMNS: tuple[str, ...] = ()
    NOTE = ""

    @dataclass
    class Loaded(Message):
        rows: list[tuple[str, ...]]

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*self.COLUMNS)
        yield table
        yield Static(self.NOTE, classes="list-note")

    def on_mount(self) -> None:
        self.action_reload()

    def fetch(self) -> list[tuple[str, ...]]:
        raise NotImplementedError

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(self.fetch()))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(message.rows)


class AuditList(ReadOnlyList):
    COLUMNS = ("time (UTC)", "user", "action", "details")
    NOTE = f"The newest {AUDIT_LIMIT} events. Filters and export arrive next; `mm audit` has them."

    def fetch(self) -> list[tuple[str, ...]]:
        page = self.session.audit_list(limit=AUDIT_LIMIT)
        return [
            (e.at[:19].replace("T", " "), e.user, e.action, json.dumps(e.details)[:200])
            for e in page.items
        ]


class ConfigurationList(ReadOnlyList):
    COLUMNS = ("setting", "value", "source", "description")
    NOTE = "Read-only here for now; `mm config set KEY VALUE` changes a setting."

    def fetch(self) -> list[tuple[str, ...]]:
        return [
            (str(s["key"]), str(s["value"]), str(s["source"]), str(s["description"]))
            for s in self.session.config_show()
        ]


class UsersList(ReadOnlyList):
    COLUMNS = ("name", "role", "last login", "failed logins", "locked until")
    NOTE = "Read-only here for now; `mm users add|set|passwd|remove` manage accounts."

    def fetch(self) -> list[tuple[str, ...]]:
        return [
            (
                u.name,
                u.role.label,
                u.last_login_at or "never",
                str(u.failed_logins),
                u.locked_until or "",
            )
            for u in self.session.users_list()
        ]
