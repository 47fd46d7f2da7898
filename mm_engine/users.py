"""Accounts (seed F11, F12): who may log in, with which role and which self-service rights.

Every change is written to the audit trail in the same transaction as the change itself, so
there is never an account change without its audit row, nor an audit row for a change that
was rolled back. Password hashing is slow by design and always runs outside the single writer.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.audit import Audit, AuditAction
from mm_engine.db import Database
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.passwords import (
    DEFAULT_PARAMS,
    ScryptParams,
    check_new_password,
    hash_password,
    needs_rehash,
    spend_like_verify,
    verify_password,
)
from mm_engine.principal import SYSTEM, Principal, ReplayScope, Rights, Role
from mm_engine.text import N_, msg, msgn

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
MAX_OTHERS_CHARS = 128
MAX_GROUPS = 50
MAX_GROUP_CHARS = 64
MAX_ITEM_CHARS = 32

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# a line number, account code or extension: digits (optionally +), or a plain code
NUMBER = re.compile(r"^(\+?[0-9]+|[A-Za-z0-9_-]+)$")
LOGIN_FAILED = msg("Login failed: unknown user name or wrong password.")


class LoginFailed(Refused):
    title = N_("Login failed")


class AccountLocked(Refused):
    title = N_("Account locked")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# -- validation -------------------------------------------------------------------------------
def check_name(name: str) -> str:
    name = name.strip()
    if name.lower() == SYSTEM.name:
        raise InvalidInput(
            msg("User name {name!r} is reserved for the local system operator.", name=name)
        )
    if not NAME.match(name):
        raise InvalidInput(
            msg("User name {name!r} is not valid.", name=name),
            msg("Use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit."),
        )
    return name


def _split(value: str | Sequence[str]) -> list[str]:
    items = value.split(";") if isinstance(value, str) else list(value)
    return [i.strip() for i in items if i.strip()]


def parse_extension(value: str) -> str:
    value = value.strip()
    if value and (len(value) > MAX_ITEM_CHARS or not NUMBER.match(value)):
        raise InvalidInput(
            msg("extension: {value!r} is not a number or code.", value=value),
            msg("Use digits, letters, '_' or '-' (at most {max}).", max=MAX_ITEM_CHARS),
        )
    return value


def parse_others(value: str | Sequence[str]) -> tuple[str, ...]:
    """F12's "others' recordings": line numbers, account codes, extensions, ≤ 128 characters."""
    items = _split(value)
    bad = [i for i in items if len(i) > MAX_ITEM_CHARS or not NUMBER.match(i)]
    if bad:
        raise InvalidInput(
            msg(
                "others: {items} is not a line number, account code or extension.",
                items=", ".join(repr(b) for b in bad),
            ),
            msg("Use digits, letters, '_' or '-', separated by ';' (e.g. 201;202;0301234567)."),
        )
    joined = ";".join(items)
    if len(joined) > MAX_OTHERS_CHARS:
        raise InvalidInput(
            msg(
                "others: the list is {length} characters long; at most {max} are allowed.",
                length=len(joined),
                max=MAX_OTHERS_CHARS,
            )
        )
    return tuple(items)


def parse_groups(value: str | Sequence[str]) -> tuple[str, ...]:
    items = _split(value)
    bad = [g for g in items if len(g) > MAX_GROUP_CHARS or not g.isprintable() or "," in g]
    if bad:
        raise InvalidInput(
            msg("groups: {items} is not a hunt group name.", items=", ".join(repr(b) for b in bad)),
            msg(
                "Separate names with ';'; each at most {max} printable characters.",
                max=MAX_GROUP_CHARS,
            ),
        )
    if len(items) > MAX_GROUPS:
        raise InvalidInput(
            msg("groups: at most {max} groups; got {count}.", max=MAX_GROUPS, count=len(items))
        )
    return tuple(dict.fromkeys(items))


# -- values -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserInfo:
    """An account as people and scripts see it: never the password hash."""

    name: str
    role: Role
    rights: Rights
    created_at: str
    updated_at: str
    last_login_at: str | None
    failed_logins: int
    locked_until: str | None  # only while the lock holds

    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.rights)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.label,
            **self.rights.to_dict(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_login_at": self.last_login_at,
            "failed_logins": self.failed_logins,
            "locked": self.locked_until is not None,
            "locked_until": self.locked_until,
        }


@dataclass(frozen=True)
class UserChange:
    """What ``mm users set`` changes; None leaves a field as it is."""

    role: Role | str | None = None
    replay_enabled: bool | None = None
    replay_scope: ReplayScope | str | None = None
    extension: str | None = None
    groups: str | Sequence[str] | None = None
    others: str | Sequence[str] | None = None
    download: bool | None = None
    unlock: bool = False

    def is_empty(self) -> bool:
        return not self.unlock and all(
            getattr(self, f.name) is None for f in fields(self) if f.name != "unlock"
        )

    def columns(self) -> dict[str, Any]:
        """Validated database columns to update."""
        out: dict[str, Any] = {}
        if self.role is not None:
            out["role"] = Role.parse(self.role).value
        if self.replay_enabled is not None:
            out["replay_enabled"] = int(self.replay_enabled)
        if self.replay_scope is not None:
            out["replay_scope"] = ReplayScope.parse(self.replay_scope).value
        if self.extension is not None:
            out["extension"] = parse_extension(self.extension)
        if self.groups is not None:
            out["groups"] = ";".join(parse_groups(self.groups))
        if self.others is not None:
            out["others"] = ";".join(parse_others(self.others))
        if self.download is not None:
            out["download"] = int(self.download)
        return out


def _rights(row: sqlite3.Row) -> Rights:
    return Rights(
        replay_enabled=bool(row["replay_enabled"]),
        replay_scope=ReplayScope(row["replay_scope"]),
        extension=row["extension"],
        groups=tuple(_split(row["groups"])),
        others=tuple(_split(row["others"])),
        download=bool(row["download"]),
    )


# -- the service ------------------------------------------------------------------------------
class Users:
    def __init__(
        self,
        db: Database,
        audit: Audit,
        alarms: Alarms,
        *,
        params: ScryptParams = DEFAULT_PARAMS,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.db = db
        self.audit = audit
        self.alarms = alarms
        self.params = params
        self.clock = clock

    def _info(self, row: sqlite3.Row) -> UserInfo:
        until = _parse_iso(row["locked_until"])
        return UserInfo(
            name=row["name"],
            role=Role(row["role"]),
            rights=_rights(row),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            last_login_at=row["last_login_at"],
            failed_logins=int(row["failed_logins"]),
            locked_until=row["locked_until"] if until and until > self.clock() else None,
        )

    @staticmethod
    def _row(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM users WHERE name = ?", (name.strip(),)
        ).fetchone()
        if row is None:
            raise NotFound(
                msg("No user named {name!r}.", name=name.strip()),
                msg("`mm users list` shows them all."),
            )
        return row

    @staticmethod
    def _refuse_losing_last_admin(conn: sqlite3.Connection, name: str, refusal: str) -> None:
        """Refuse with ``refusal`` (a sentence naming the account) if ``name`` is the last
        administrator."""
        others = conn.execute(
            "SELECT count(*) FROM users WHERE role = 'administrator' AND name != ?", (name,)
        ).fetchone()[0]
        if not others:
            raise Refused(refusal, msg("Add another administrator first."))

    # -- reading --------------------------------------------------------------------------
    def list(self, by: Principal) -> list[UserInfo]:
        by.require_administrator(
            msg("{name} may not list users: only administrators may.", name=by.name)
        )
        rows = self.db.query("SELECT * FROM users ORDER BY name COLLATE NOCASE")
        return [self._info(r) for r in rows]

    def get(self, by: Principal, name: str) -> UserInfo:
        if by.name.lower() != name.strip().lower():
            by.require_administrator(
                msg("{name} may not see other users: only administrators may.", name=by.name)
            )
        with self.db.read() as conn:
            return self._info(self._row(conn, name))

    def count(self) -> int:
        """How many accounts exist (zero means the first administrator is still to be made)."""
        row = self.db.query_one("SELECT count(*) FROM users")
        return int(row[0]) if row else 0

    # -- changing -------------------------------------------------------------------------
    def add(
        self,
        by: Principal,
        name: str,
        role: Role | str,
        password: str,
        rights: Rights | None = None,
    ) -> UserInfo:
        by.require_administrator(
            msg("{name} may not add users: only administrators may.", name=by.name)
        )
        name = check_name(name)
        role = Role.parse(role)
        rights = rights or Rights()
        parse_extension(rights.extension)
        parse_groups(rights.groups)
        parse_others(rights.others)
        check_new_password(password)
        hashed = hash_password(password, self.params)
        now = _iso(self.clock())

        def apply(conn: sqlite3.Connection) -> UserInfo:
            existing = conn.execute("SELECT name FROM users WHERE name = ?", (name,)).fetchone()
            if existing:
                raise Refused(msg("A user named {name!r} already exists.", name=existing[0]))
            conn.execute(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at,"
                " replay_enabled, replay_scope, extension, groups, others, download)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    role.value,
                    hashed,
                    now,
                    now,
                    int(rights.replay_enabled),
                    rights.replay_scope.value,
                    rights.extension,
                    ";".join(rights.groups),
                    ";".join(rights.others),
                    int(rights.download),
                ),
            )
            self.audit.record(
                conn,
                by.name,
                AuditAction.USER,
                {"op": "add", "name": name, "role": role.label, **rights.to_dict()},
            )
            return self._info(self._row(conn, name))

        return self.db.write(apply)

    def set(self, by: Principal, name: str, change: UserChange) -> UserInfo:
        by.require_administrator(
            msg("{name} may not change users: only administrators may.", name=by.name)
        )
        if change.is_empty():
            raise InvalidInput(
                msg("Nothing to change."), msg("Give at least one option to change.")
            )
        columns = change.columns()
        now = _iso(self.clock())

        def apply(conn: sqlite3.Connection) -> UserInfo:
            row = self._row(conn, name)
            target = row["name"]
            if columns.get("role", Role.ADMINISTRATOR.value) != Role.ADMINISTRATOR.value and (
                row["role"] == Role.ADMINISTRATOR.value
            ):
                self._refuse_losing_last_admin(
                    conn,
                    target,
                    msg(
                        "Cannot change the role of {name}: it is the last administrator.",
                        name=target,
                    ),
                )
            updates = dict(columns)
            if change.unlock:
                updates.update(failed_logins=0, locked_until=None)
            updates["updated_at"] = now
            assignments = ", ".join(f"{column} = ?" for column in updates)
            conn.execute(
                f"UPDATE users SET {assignments} WHERE id = ?", [*updates.values(), row["id"]]
            )
            changed = {k: v for k, v in columns.items() if row[k] != v}
            if changed.get("role"):
                changed["role"] = Role(changed["role"]).label
            for flag in ("replay_enabled", "download"):
                if flag in changed:
                    changed[flag] = bool(changed[flag])
            for listed in ("groups", "others"):
                if listed in changed:
                    changed[listed] = _split(changed[listed])
            details: dict[str, Any] = {"op": "set", "name": target, "changes": changed}
            if change.unlock:
                details["unlock"] = True
            self.audit.record(conn, by.name, AuditAction.USER, details)
            return self._info(self._row(conn, target))

        return self.db.write(apply)

    def passwd(self, by: Principal, name: str, password: str) -> None:
        """Set a new password: administrators for anyone, everyone for themselves."""
        if by.name.lower() != name.strip().lower():
            by.require_administrator(
                msg(
                    "{name} may not change other users' passwords: only administrators may.",
                    name=by.name,
                )
            )
        check_new_password(password)
        hashed = hash_password(password, self.params)
        now = _iso(self.clock())

        def apply(conn: sqlite3.Connection) -> None:
            row = self._row(conn, name)
            conn.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
                (hashed, now, row["id"]),
            )
            self.audit.record(
                conn, by.name, AuditAction.USER, {"op": "passwd", "name": row["name"]}
            )

        self.db.write(apply)

    def remove(self, by: Principal, name: str) -> None:
        by.require_administrator(
            msg("{name} may not remove users: only administrators may.", name=by.name)
        )

        def apply(conn: sqlite3.Connection) -> None:
            row = self._row(conn, name)
            if row["role"] == Role.ADMINISTRATOR.value:
                self._refuse_losing_last_admin(
                    conn,
                    row["name"],
                    msg("Cannot remove {name}: it is the last administrator.", name=row["name"]),
                )
            conn.execute("DELETE FROM users WHERE id = ?", (row["id"],))
            self.audit.record(
                conn, by.name, AuditAction.USER, {"op": "remove", "name": row["name"]}
            )

        self.db.write(apply)

    # -- logging in -----------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> Principal:
        """The principal for ``name`` if ``password`` is right.

        Unknown names and wrong passwords fail alike, in message and in time, so trying names
        tells nothing. After :data:`MAX_FAILED_LOGINS` wrong passwords in a row the account is
        locked for :data:`LOCK_DURATION` and an alarm is raised.
        """
        attempted = name.strip()[:64]
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM users WHERE name = ?", (attempted,)).fetchone()
        now = self.clock()
        if row is None:
            spend_like_verify(password, self.params)
            self.audit.record(
                None, attempted, AuditAction.LOGIN, {"result": "failed", "reason": "unknown user"}
            )
            raise LoginFailed(LOGIN_FAILED)
        until = _parse_iso(row["locked_until"])
        if until is not None and until > now:
            self.audit.record(
                None, row["name"], AuditAction.LOGIN, {"result": "refused", "reason": "locked"}
            )
            raise AccountLocked(
                msgn(
                    "Account {name} is locked until {until:%Y-%m-%d %H:%M:%S %Z}"
                    " after {count} failed logins.",
                    MAX_FAILED_LOGINS,
                    name=row["name"],
                    until=until.astimezone(),
                ),
                msg(
                    "Try again then, or ask an administrator: mm users set {name} --unlock",
                    name=row["name"],
                ),
            )
        stored = str(row["password_hash"])
        if not verify_password(password, stored):
            locked = self.db.write(lambda conn: self._failed(conn, int(row["id"]), now))
            if locked:
                self.alarms.raise_(
                    AlarmType.ACCOUNT_LOCKED,
                    user=row["name"],
                    failures=MAX_FAILED_LOGINS,
                    until=_iso(now + LOCK_DURATION),
                    dedupe=f"login-locked:{row['name'].lower()}",
                )
            raise LoginFailed(LOGIN_FAILED)
        rehashed = (
            hash_password(password, self.params) if needs_rehash(stored, self.params) else None
        )

        def succeeded(conn: sqlite3.Connection) -> sqlite3.Row:
            conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?"
                " WHERE id = ?",
                (_iso(now), row["id"]),
            )
            if rehashed:
                conn.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                    (rehashed, row["id"], stored),
                )
            self.audit.record(conn, row["name"], AuditAction.LOGIN, {"result": "ok"})
            return self._row(conn, row["name"])

        return self._info(self.db.write(succeeded)).principal()

    def _failed(self, conn: sqlite3.Connection, user_id: int, now: datetime) -> bool:
        """Count one wrong password; True when this one locks the account."""
        row = conn.execute(
            "SELECT name, failed_logins, locked_until FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        if row is None:  # removed meanwhile
            return False
        until = _parse_iso(row["locked_until"])
        failures = (0 if until is not None and until <= now else int(row["failed_logins"])) + 1
        locked = failures >= MAX_FAILED_LOGINS
        conn.execute(
            "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
            (failures, _iso(now + LOCK_DURATION) if locked else None, user_id),
        )
        details: dict[str, Any] = {"result": "failed", "reason": "wrong password"}
        if locked:
            details["locked_until"] = _iso(now + LOCK_DURATION)
        self.audit.record(conn, row["name"], AuditAction.LOGIN, details)
        return locked

    def logout(self, principal: Principal) -> None:
        self.audit.record(None, principal.name, AuditAction.LOGOUT, {})
