"""The engine a CLI command works on, and who is acting: opened once per invocation.

Who is acting: ``mm --user NAME`` (or ``MM_USER``) logs in with the password from
``MM_PASSWORD``, a prompt on a terminal, or one line of stdin. Without a user, the command acts
as the local system operator, but only for the owner of the data directory: whoever can read
and write the database file directly gains nothing by being refused, and nobody else should
get administrator rights merely by being able to run ``mm``.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from mm_engine.principal import SYSTEM, Principal
from mm_engine.session import Session
from mm_tui.i18n import _

_home: Path | None = None
_user: str | None = None


def set_home(home: Path | None) -> None:
    global _home
    _home = home


def set_user(user: str | None) -> None:
    global _user
    _user = user.strip() if user and user.strip() else None


@contextmanager
def open_engine() -> Iterator[Engine]:
    """The engine without a principal: for the service and the engine's own jobs only."""
    engine = Engine(_home)
    try:
        yield engine
    finally:
        engine.close()


def read_login_password(user: str) -> str:
    """``MM_PASSWORD``, else a prompt on a terminal, else one line of stdin."""
    password = os.environ.get("MM_PASSWORD")
    if password is not None:
        return password
    if sys.stdin.isatty():
        return getpass.getpass(_("Password for {user}: ").format(user=user))
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput(
            _("No password for {user}.").format(user=user),
            _(
                "Set MM_PASSWORD, pipe the password in as the first line of stdin, or run on a "
                "terminal."
            ),
        )
    return password


def owns_data_dir(engine: Engine) -> bool:
    return os.stat(engine.data_dir.root).st_uid == os.geteuid()


def principal_for(engine: Engine) -> Principal:
    if _user is not None:
        return engine.users.authenticate(_user, read_login_password(_user))
    if owns_data_dir(engine):
        return SYSTEM
    raise Refused(
        _("Only the owner of {path} may run commands without logging in.").format(
            path=engine.data_dir.root
        ),
        _("Use --user NAME (or set MM_USER) to act as a user."),
    )


@contextmanager
def open_session() -> Iterator[Session]:
    """The engine and the logged-in principal for one command; logs out at the end."""
    with open_engine() as engine:
        session = Session(engine, principal_for(engine))
        try:
            yield session
        finally:
            if session.principal is not SYSTEM:
                session.logout()
