"""The Users tab (F11, F12; administrators only): accounts, and adding, changing, removing them.

Every change goes through the session (which checks, and audits in the same transaction); the
dialogs do the typing, this panel the list and the confirmation before a removal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker

from mm_engine.principal import ReplayScope, Role
from mm_engine.session import Session
from mm_engine.users import UserInfo
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.user_edit import AddUserDialog, EditUserDialog, PasswordDialog
from mm_tui.i18n import N_, _, plural, role_name
from mm_tui.widgets.forms import report_failure

COLUMNS = (N_("name"), N_("role"), N_("rights"), N_("locked"), N_("last login"))


def rights_summary(user: UserInfo) -> str:
    """One line: what this account may do with recordings."""
    if user.role is Role.ADMINISTRATOR:
        return _("everything")
    if user.role is Role.STANDARD:
        return _("recordings; sees settings")
    r = user.rights
    if not r.replay_enabled:
        return _("no replay")
    if r.replay_scope is ReplayScope.ALL:
        parts = [_("replay all")]
    else:
        parts = [
            _("replay mine ({extension})").format(extension=r.extension)
            if r.extension
            else _("replay mine")
        ]
    if r.groups:
        parts.append(_("groups {groups}").format(groups=";".join(r.groups)))
    if r.others:
        parts.append(_("others {others}").format(others=";".join(r.others)))
    if r.download:
        parts.append(_("download"))
    return ", ".join(parts)


def _moment(text: str | None) -> str:
    return text[:16].replace("T", " ") if text else ""


def row_of(user: UserInfo) -> tuple[str, ...]:
    locked = (
        _("until {moment}").format(moment=_moment(user.locked_until)) if user.locked_until else ""
    )
    return (
        user.name,
        role_name(user.role),
        rights_summary(user),
        locked,
        _moment(user.last_login_at) or _("never"),
    )


class UsersPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", _("Add"), id="users.add"),
        Binding("e", "edit", _("Edit rights"), id="users.edit"),
        Binding("p", "password", _("Password"), id="users.password"),
        Binding("x,delete", "remove", _("Remove"), id="users.remove"),
        Binding("r", "reload", _("Refresh"), id="users.refresh"),
    ]

    @dataclass
    class Loaded(Message):
        users: list[UserInfo]
        select: str | None = None

    @dataclass
    class Removed(Message):
        name: str

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.users: list[UserInfo] = []
        self.last_change = ""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="users-table")
        table.add_columns(*(_(c) for c in COLUMNS))
        yield table
        yield Static("", id="users-status")

    def on_mount(self) -> None:
        self._load()

    def selected(self) -> UserInfo | None:
        row = self.query_one(DataTable).cursor_row
        return self.users[row] if 0 <= row < len(self.users) else None

    # -- what the person asks for --------------------------------------------------------------
    def action_reload(self) -> None:
        self._load()

    def action_add(self) -> None:
        self.app.push_screen(AddUserDialog(self.session), self._changed(_("Added {name}.")))

    @on(DataTable.RowSelected, "#users-table")
    def _row_chosen(self) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        if (user := self.selected()) is not None:
            self.app.push_screen(
                EditUserDialog(self.session, user), self._changed(_("Changed {name}."))
            )

    def action_password(self) -> None:
        if (user := self.selected()) is not None:
            self.app.push_screen(
                PasswordDialog(self.session, user.name),
                self._changed(_("New password for {name}.")),
            )

    def action_remove(self) -> None:
        user = self.selected()
        if user is None:
            return
        name = user.name

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(name)

        self.app.push_screen(
            ConfirmDialog(
                _("Remove user"),
                _("Remove the {role} account {name}? They can no longer log in.").format(
                    role=role_name(user.role), name=name
                ),
                yes_label=_("Remove"),
            ),
            answered,
        )

    def _changed(self, message: str) -> Callable[[UserInfo | None], None]:
        """``message``: what was done, translated, with a {name} placeholder."""

        def done(user: UserInfo | None) -> None:
            if user is not None:
                self.last_change = message.format(name=user.name)
                self.notify(self.last_change, title=_("Users"))
                self._load(select=user.name)

        return done

    # -- I/O in threads ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="users-load")
    def _load(self, select: str | None = None) -> None:
        self.post_message(self.Loaded(self.session.users_list(), select))

    @work(thread=True, exit_on_error=False, group="users-remove")
    def _remove(self, name: str) -> None:
        self.session.users_remove(name)
        self.post_message(self.Removed(name))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    # -- state, owned here ---------------------------------------------------------------------
    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.users = message.users
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for user in self.users:
            table.add_row(*row_of(user), key=user.name)
        names = [u.name for u in self.users]
        if message.select in names:
            row = names.index(message.select)
        if self.users:
            table.move_cursor(row=min(max(row, 0), len(self.users) - 1))
        status = plural("{count} account(s)", len(self.users)).format(count=len(self.users))
        self._say(f"{status}   {self.last_change}" if self.last_change else status)

    @on(Removed)
    def _removed(self, message: Removed) -> None:
        self.last_change = _("Removed {name}.").format(name=message.name)
        self.notify(self.last_change, title=_("Users"))
        self._load()

    def _say(self, text: str) -> None:
        self.query_one("#users-status", Static).update(text)
