"""`mm users`: accounts, roles and end-user rights (seed F11, F12).

Passwords are read from a terminal prompt or one line of stdin, never from the command line.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mm_engine.errors import Refused
from mm_engine.session import Operation
from mm_engine.users import UserChange, UserInfo
from mm_tui.context import open_session
from mm_tui.i18n import _, role_name
from mm_tui.output import command, print_json, print_record, print_rows
from mm_tui.prompt import read_new_password

app = typer.Typer(help=_("Add, change and remove user accounts."), no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help=_("User name (case is ignored)."))]
JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]

TABLE_COLUMNS = [
    ("name", _("NAME")),
    ("role", _("ROLE")),
    ("replay_enabled", _("REPLAY")),
    ("replay_scope", _("SCOPE")),
    ("extension", _("EXTENSION")),
    ("groups", _("GROUPS")),
    ("others", _("OTHERS")),
    ("download", _("DOWNLOAD")),
    ("locked", _("LOCKED")),
    ("last_login_at", _("LAST LOGIN")),
]


def _print_user(user: UserInfo, json_out: bool) -> None:
    data = user.to_dict()
    if json_out:
        print_json(data)
        return
    print_record(data)


@app.command(
    "add",
    help=_("Create an account; the password is prompted twice, or read as one line from stdin."),
)
@command
def add(
    name: NameArg,
    role: Annotated[
        str,
        typer.Option("--role", help=_("administrator, standard or end-user."), show_default=False),
    ],
) -> None:
    with open_session() as session:
        session.require(Operation.USERS_MANAGE, op="add", name=name)
        password = read_new_password()
        user = session.users_add(name, role, password)
    sys.stderr.write(
        _("Added {role} {name}.").format(role=role_name(user.role), name=user.name) + "\n"
    )


@app.command("list", help=_("Every account with its role, rights and lock state."))
@command
def list_(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        users = [u.to_dict() for u in session.users_list()]
    empty = _("No users yet: add one with `mm users add NAME --role administrator`.")
    print_rows(users, TABLE_COLUMNS, json_out, empty)


@app.command("show", help=_("One account in full (never its password)."))
@command
def show(name: NameArg, json_out: JsonOpt = False) -> None:
    with open_session() as session:
        user = session.users_show(name)
    _print_user(user, json_out)


@app.command(
    "set", help=_("Change an account's role or end-user rights; prints the account as it now is.")
)
@command
def set_(
    name: NameArg,
    role: Annotated[
        str | None, typer.Option("--role", help=_("administrator, standard or end-user."))
    ] = None,
    replay: Annotated[
        bool | None,
        typer.Option("--replay/--no-replay", help=_("End user may replay recordings.")),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option("--scope", help=_("all, or mine (recordings of their own extension).")),
    ] = None,
    extension: Annotated[
        str | None,
        typer.Option("--extension", help=_("The user's own extension ('' clears).")),
    ] = None,
    groups: Annotated[
        str | None,
        typer.Option("--groups", help=_("Hunt groups whose recordings they may replay: 'a;b'.")),
    ] = None,
    others: Annotated[
        str | None,
        typer.Option(
            "--others",
            help=_("Further line numbers, account codes, extensions: '201;202' (≤ 128 chars)."),
        ),
    ] = None,
    download: Annotated[
        bool | None,
        typer.Option("--download/--no-download", help=_("May download recordings.")),
    ] = None,
    unlock: Annotated[
        bool, typer.Option("--unlock", help=_("Lift a lock left by failed logins."))
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    change = UserChange(
        role=role,
        replay_enabled=replay,
        replay_scope=scope,
        extension=extension,
        groups=groups,
        others=others,
        download=download,
        unlock=unlock,
    )
    with open_session() as session:
        user = session.users_set(name, change)
    _print_user(user, json_out)


@app.command("passwd", help=_("Set a new password (prompted twice, or one line from stdin)."))
@command
def passwd(name: NameArg) -> None:
    with open_session() as session:
        session.check_passwd(name)
        password = read_new_password(_("New password"))
        session.users_passwd(name, password)
    sys.stderr.write(_("Password changed for {name}.").format(name=name) + "\n")


@app.command("remove", help=_("Remove an account. The last administrator cannot be removed."))
@command
def remove(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help=_("Remove without asking."))] = False,
) -> None:
    with open_session() as session:
        session.require(Operation.USERS_MANAGE, op="remove", name=name)
        if not yes:
            if not sys.stdin.isatty():
                raise Refused(
                    _("Not removing without confirmation: no terminal to ask on."),
                    _("Pass --yes to remove from a script."),
                )
            if not typer.confirm(_("Remove user {name}?").format(name=name), err=True):
                raise Refused(_("Nothing removed."))
        session.users_remove(name)
    sys.stderr.write(_("Removed {name}.").format(name=name) + "\n")
