"""Add an account, change its rights, or set its password (F11, F12).

Each dialog checks what it can beside the field (passwords that differ, the engine's own
parsers for the end-user lists), then calls the session in a thread; the engine's refusal opens
the error dialog over this one, so nothing typed is lost. Dismissed with the account as it now
is, or None when cancelled.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Select
from textual.worker import Worker, WorkerState

from mm_engine.errors import InvalidInput
from mm_engine.passwords import check_new_password
from mm_engine.principal import ReplayScope, Rights, Role
from mm_engine.session import Session
from mm_engine.users import (
    MAX_OTHERS_CHARS,
    UserChange,
    UserInfo,
    check_name,
    parse_extension,
    parse_groups,
    parse_others,
)
from mm_tui.i18n import _, error_text, role_name
from mm_tui.widgets.forms import NO, YES, Form, FormField, label_width, report_failure


def roles() -> tuple[tuple[str, str], ...]:
    return tuple((role_name(role), role.value) for role in Role)


def scopes() -> tuple[tuple[str, str], ...]:
    return (
        (_("all recordings"), ReplayScope.ALL.value),
        (_("mine (own extension)"), ReplayScope.MINE.value),
    )


RIGHTS_FIELDS = ("replay", "scope", "extension", "groups", "others", "download")
LABEL_WIDTH = 13


def _yes(flag: bool) -> str:
    return YES if flag else NO


def rights_fields(rights: Rights) -> list[FormField]:
    """F12's end-user rights, filled from ``rights``."""
    return [
        FormField("replay", _("Replay"), _yes(rights.replay_enabled), "check", _("may replay")),
        FormField("scope", _("Scope"), rights.replay_scope.value, "choice", choices=scopes()),
        FormField(
            "extension",
            _("Extension"),
            rights.extension,
            placeholder=_("own extension, e.g. 201"),
        ),
        FormField(
            "groups",
            _("Groups"),
            ";".join(rights.groups),
            placeholder=_("hunt groups, e.g. Sales;Support"),
        ),
        FormField(
            "others",
            _("Others"),
            ";".join(rights.others),
            placeholder=_("lines, account codes, extensions: 202;0301234567"),
            help=_("';'-separated, at most {count} characters").format(count=MAX_OTHERS_CHARS),
            max_length=MAX_OTHERS_CHARS,
        ),
        FormField("download", _("Download"), _yes(rights.download), "check", _("may download")),
    ]


def read_rights(values: dict[str, str]) -> tuple[Rights | None, dict[str, str]]:
    """The rights typed, or the engine's message beside each field it refuses."""
    problems: dict[str, str] = {}
    parsed: dict[str, object] = {}
    for name, parse in (
        ("extension", parse_extension),
        ("groups", parse_groups),
        ("others", parse_others),
    ):
        try:
            parsed[name] = parse(values[name])
        except InvalidInput as exc:
            problems[name] = error_text(exc)
    if problems:
        return None, problems
    extension = parsed["extension"]
    groups, others = parsed["groups"], parsed["others"]
    assert isinstance(extension, str) and isinstance(groups, tuple) and isinstance(others, tuple)
    return (
        Rights(
            replay_enabled=values["replay"] == YES,
            replay_scope=ReplayScope.parse(values["scope"]),
            extension=extension,
            groups=groups,
            others=others,
            download=values["download"] == YES,
        ),
        {},
    )


def password_problems(values: dict[str, str]) -> dict[str, str]:
    try:
        check_new_password(values["password"])
    except InvalidInput as exc:
        return {"password": error_text(exc)}
    if values["password"] != values["again"]:
        return {"again": _("The two passwords differ; type them again.")}
    return {}


def password_fields() -> tuple[FormField, ...]:
    return (
        FormField(
            "password", _("Password"), kind="password", placeholder=_("at least 8 characters")
        ),
        FormField("again", _("Again"), kind="password", placeholder=_("the same password again")),
    )


class _AccountDialog(ModalScreen[UserInfo | None]):
    """What the three dialogs share: a title, one form, escape to cancel, ctrl+s to save."""

    CSS_PATH = "user_edit.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", _("Save"), id="user_edit.save"),
        Binding("escape", "cancel", _("Cancel"), id="user_edit.cancel"),
    ]

    def __init__(self, session: Session, title: str) -> None:
        super().__init__()
        self.session = session
        self.title_text = title

    def fields(self) -> list[FormField]:
        raise NotImplementedError

    def problems(self, values: dict[str, str]) -> dict[str, str]:
        """Messages to show beside fields before anything is sent to the engine."""
        return {}

    def apply(self, values: dict[str, str]) -> UserInfo:
        """The session call (in a thread)."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(id="user-edit-box"):
            yield Label(self.title_text, id="user-edit-title")
            fields = self.fields()
            yield Form(
                fields,
                id="user-edit",
                submit=_("Save (ctrl+s)"),
                cancel=_("Cancel (esc)"),
                scroll=True,
                label_width=label_width(fields, LABEL_WIDTH),
            )

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    def on_mount(self) -> None:
        if any(f.name == "role" for f in self.form.fields):
            self._rights_for(self.form.value("role"))
        self.form.focus_field()

    @on(Select.Changed, "#user-edit-role")
    def _role_changed(self, event: Select.Changed) -> None:
        self._rights_for(str(event.value))

    def _rights_for(self, role: str) -> None:
        """F12 rights only mean something for end users; the others see everything."""
        for name in RIGHTS_FIELDS:
            self.form.show_field(name, role == Role.END_USER.value)

    def action_save(self) -> None:
        self.form.submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Form.Cancelled)
    def _cancelled(self) -> None:
        self.dismiss(None)

    @on(Form.Submitted)
    def _submitted(self, event: Form.Submitted) -> None:
        problems = self.problems(event.values)
        if problems:
            event.form.show_errors(problems)
            return
        event.form.say(_("Saving…"))
        self._run(event.values)

    @work(thread=True, exclusive=True, exit_on_error=False, group="user-edit")
    def _run(self, values: dict[str, str]) -> UserInfo:
        return self.apply(values)

    @on(Worker.StateChanged)
    def _done(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, UserInfo):
            self.dismiss(event.worker.result)
        elif report_failure(self, event):
            self.form.say("")


class AddUserDialog(_AccountDialog):
    def __init__(self, session: Session) -> None:
        super().__init__(session, _("Add a user"))

    def fields(self) -> list[FormField]:
        return [
            FormField("name", _("Name"), placeholder=_("letters, digits, . _ @ -")),
            FormField("role", _("Role"), Role.END_USER.value, "choice", choices=roles()),
            *password_fields(),
            *rights_fields(Rights()),
        ]

    def problems(self, values: dict[str, str]) -> dict[str, str]:
        try:
            check_name(values["name"])
        except InvalidInput as exc:
            return {"name": error_text(exc)}
        return password_problems(values) or read_rights(values)[1]

    def apply(self, values: dict[str, str]) -> UserInfo:
        rights, _ = read_rights(values)
        return self.session.users_add(values["name"], values["role"], values["password"], rights)


class EditUserDialog(_AccountDialog):
    def __init__(self, session: Session, user: UserInfo) -> None:
        super().__init__(session, _("Change {name}").format(name=user.name))
        self.user = user

    def fields(self) -> list[FormField]:
        fields = [
            FormField("role", _("Role"), self.user.role.value, "choice", choices=roles()),
            *rights_fields(self.user.rights),
        ]
        if self.user.locked_until:
            until = self.user.locked_until[:16].replace("T", " ")
            fields.append(
                FormField(
                    "unlock",
                    _("Unlock"),
                    NO,
                    "check",
                    _("locked until {moment}").format(moment=until),
                )
            )
        return fields

    def problems(self, values: dict[str, str]) -> dict[str, str]:
        return read_rights(values)[1]

    def apply(self, values: dict[str, str]) -> UserInfo:
        change = UserChange(
            role=values["role"],
            replay_enabled=values["replay"] == YES,
            replay_scope=values["scope"],
            extension=values["extension"],
            groups=values["groups"],
            others=values["others"],
            download=values["download"] == YES,
            unlock=values.get("unlock") == YES,
        )
        return self.session.users_set(self.user.name, change)


class PasswordDialog(_AccountDialog):
    def __init__(self, session: Session, account: str) -> None:
        super().__init__(session, _("New password for {name}").format(name=account))
        self.account = account

    def fields(self) -> list[FormField]:
        return list(password_fields())

    def problems(self, values: dict[str, str]) -> dict[str, str]:
        return password_problems(values)

    def apply(self, values: dict[str, str]) -> UserInfo:
        self.session.users_passwd(self.account, values["password"])
        return self.session.users_show(self.account)
