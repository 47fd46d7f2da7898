"""Accounts, roles, end-user rights and logging in (seed F11, F12; issue 3)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mm_engine.alarms import AlarmType
from mm_engine.audit import AuditAction, AuditFilter
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.passwords import DEFAULT_PARAMS, ScryptParams, verify_password
from mm_engine.principal import SYSTEM, Principal, ReplayScope, Rights, Role
from mm_engine.users import (
    LOCK_DURATION,
    AccountLocked,
    LoginFailed,
    UserChange,
    Users,
)
from tests.service_helpers import mm

# Hashing is slow on purpose; engine-level tests use a cheap cost, the CLI the real default.
FAST = ScryptParams(n=2**10, r=8, p=1)
PASSWORD = "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(engine: Engine, clock: Clock) -> Iterator[Users]:
    engine.users.params = FAST
    engine.users.clock = clock
    yield engine.users


def stored_hash(engine: Engine, name: str) -> str:
    with sqlite3.connect(engine.db.path) as raw:
        return str(
            raw.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()[0]
        )


def user_events(engine: Engine) -> list[dict[str, object]]:
    page = engine.audit.list(AuditFilter(actions=(AuditAction.USER,)), limit=100)
    return [e.details for e in reversed(page.items)]


# -- password hashes --------------------------------------------------------------------------
def test_the_hash_is_salted_scrypt_and_never_the_password(engine: Engine, users: Users) -> None:
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    users.add(SYSTEM, "bob", Role.STANDARD, PASSWORD)
    alice, bob = stored_hash(engine, "alice"), stored_hash(engine, "bob")
    assert alice != bob  # a random salt each: equal passwords do not show
    assert alice.startswith("scrypt$1024$8$1$")
    assert PASSWORD not in alice and PASSWORD.encode().hex() not in alice
    assert verify_password(PASSWORD, alice) and not verify_password("correct horsE", alice)


def test_the_production_cost_is_strong_and_stored_with_the_hash(home: Path) -> None:
    assert DEFAULT_PARAMS.n >= 2**15 and DEFAULT_PARAMS.r >= 8
    out = mm(home, "users", "add", "root", "--role", "administrator", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    with Engine(home) as engine:
        stored = stored_hash(engine, "root")
    assert stored.startswith(f"scrypt${DEFAULT_PARAMS.n}$8$1$")


def test_a_weaker_hash_is_raised_to_the_current_cost_at_login(engine: Engine, users: Users) -> None:
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    users.params = ScryptParams(n=2**11, r=8, p=1)
    users.authenticate("alice", PASSWORD)
    assert stored_hash(engine, "alice").startswith("scrypt$2048$8$1$")
    users.params = FAST  # never downgraded
    users.authenticate("alice", PASSWORD)
    assert stored_hash(engine, "alice").startswith("scrypt$2048$")


# -- logging in -------------------------------------------------------------------------------
def test_login_gives_the_principal_with_role_and_rights(users: Users) -> None:
    rights = Rights(
        replay_enabled=True,
        replay_scope=ReplayScope.MINE,
        extension="201",
        groups=("Sales",),
        others=("202", "ACC-7"),
        download=True,
    )
    users.add(SYSTEM, "Carol", "end-user", PASSWORD, rights)
    principal = users.authenticate("carol", PASSWORD)  # names ignore case
    assert principal == Principal("Carol", Role.END_USER, rights)


def test_unknown_user_and_wrong_password_fail_alike(engine: Engine, users: Users) -> None:
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    with pytest.raises(LoginFailed) as wrong:
        users.authenticate("alice", "not the password")
    with pytest.raises(LoginFailed) as unknown:
        users.authenticate("mallory", "not the password")
    assert str(wrong.value) == str(unknown.value)
    assert wrong.value.exit_code == unknown.value.exit_code == 3
    logins = engine.audit.list(AuditFilter(actions=(AuditAction.LOGIN,))).items
    assert [(e.user, e.details["result"]) for e in logins] == [
        ("mallory", "failed"),
        ("alice", "failed"),
    ]


def test_five_wrong_passwords_lock_the_account_for_15_minutes(
    engine: Engine, users: Users, clock: Clock
) -> None:
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            users.authenticate("alice", "guess")
    with pytest.raises(AccountLocked) as locked:
        users.authenticate("alice", PASSWORD)  # even the right password
    assert "locked until" in str(locked.value) and "--unlock" in str(locked.value)
    assert users.get(SYSTEM, "alice").to_dict()["locked"] is True

    alarm = next(a for a in engine.alarms.list() if a["type"] == AlarmType.ACCOUNT_LOCKED)
    assert "Account alice is locked after 5 failed logins" in alarm["message"]

    clock.now += LOCK_DURATION - timedelta(seconds=1)
    with pytest.raises(AccountLocked):
        users.authenticate("alice", PASSWORD)
    clock.now += timedelta(seconds=2)
    assert users.authenticate("alice", PASSWORD).name == "alice"
    assert users.get(SYSTEM, "alice").failed_logins == 0


def test_only_consecutive_failures_count(users: Users) -> None:
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    for _ in range(4):
        with pytest.raises(LoginFailed):
            users.authenticate("alice", "guess")
    users.authenticate("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(LoginFailed):
            users.authenticate("alice", "guess")
    assert users.authenticate("alice", PASSWORD).name == "alice"


def test_after_a_lock_expires_it_takes_five_new_failures(users: Users, clock: Clock) -> None:
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            users.authenticate("alice", "guess")
    clock.now += LOCK_DURATION + timedelta(seconds=1)
    with pytest.raises(LoginFailed):
        users.authenticate("alice", "guess")
    assert users.authenticate("alice", PASSWORD).name == "alice"


def test_an_administrator_unlocks_with_mm_users_set_unlock(
    home: Path, engine: Engine, users: Users
) -> None:
    users.clock = lambda: datetime.now(UTC)  # the CLI process runs on the real clock
    users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            users.authenticate("alice", "guess")
    with pytest.raises(AccountLocked):
        users.authenticate("alice", PASSWORD)
    out = mm(home, "users", "set", "alice", "--unlock", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["locked"] is False
    assert users.authenticate("alice", PASSWORD).name == "alice"
    assert user_events(engine)[-1] == {"op": "set", "name": "alice", "changes": {}, "unlock": True}


# -- managing accounts ------------------------------------------------------------------------
def test_names_are_unique_ignoring_case_and_validated(users: Users) -> None:
    users.add(SYSTEM, "Alice", Role.STANDARD, PASSWORD)
    with pytest.raises(Refused, match="already exists"):
        users.add(SYSTEM, "alice", Role.STANDARD, PASSWORD)
    for bad in ("", "-x", "a b", "x" * 65, "System Operator"):
        with pytest.raises(InvalidInput):
            users.add(SYSTEM, bad, Role.STANDARD, PASSWORD)
    with pytest.raises(InvalidInput, match="too short"):
        users.add(SYSTEM, "bob", Role.STANDARD, "short")
    with pytest.raises(InvalidInput, match="end-user"):
        users.add(SYSTEM, "bob", "superuser", PASSWORD)


def test_the_last_administrator_cannot_be_removed_or_demoted(users: Users) -> None:
    users.add(SYSTEM, "root", Role.ADMINISTRATOR, PASSWORD)
    with pytest.raises(Refused, match="last administrator"):
        users.remove(SYSTEM, "root")
    with pytest.raises(Refused, match="last administrator"):
        users.set(SYSTEM, "root", UserChange(role="standard"))
    users.add(SYSTEM, "root2", Role.ADMINISTRATOR, PASSWORD)
    users.set(SYSTEM, "root", UserChange(role="standard"))
    with pytest.raises(Refused, match="last administrator"):
        users.remove(SYSTEM, "ROOT2")
    users.remove(SYSTEM, "root")
    with pytest.raises(NotFound):
        users.get(SYSTEM, "root")


def test_others_is_a_validated_list_of_at_most_128_characters(users: Users) -> None:
    users.add(SYSTEM, "eve", Role.END_USER, PASSWORD)
    fits = ";".join(["1234567"] * 16)  # 16 * 7 + 15 = 127
    assert len(fits + "8") == 128
    info = users.set(SYSTEM, "eve", UserChange(others=f" {fits}8 ;"))
    assert info.rights.others[-1] == "12345678" and len(info.rights.others) == 16
    with pytest.raises(InvalidInput, match="at most 128"):
        users.set(SYSTEM, "eve", UserChange(others=fits + "89"))
    for bad in ("201;20 2", "201,202", "a/b", "x" * 33, "'; DROP TABLE users"):
        with pytest.raises(InvalidInput, match="others"):
            users.set(SYSTEM, "eve", UserChange(others=bad))
    assert users.set(SYSTEM, "eve", UserChange(others="+4930123;ACC_1;sales-2")).rights.others == (
        "+4930123",
        "ACC_1",
        "sales-2",
    )
    with pytest.raises(InvalidInput, match="extension"):
        users.set(SYSTEM, "eve", UserChange(extension="20 1"))
    with pytest.raises(InvalidInput, match="scope"):
        users.set(SYSTEM, "eve", UserChange(replay_scope="theirs"))
    assert users.set(
        SYSTEM, "eve", UserChange(groups="Sales Team; Support;Sales Team")
    ).rights.groups == (
        "Sales Team",
        "Support",
    )


def test_only_administrators_manage_accounts(users: Users) -> None:
    users.add(SYSTEM, "std", Role.STANDARD, PASSWORD)
    standard = users.authenticate("std", PASSWORD)
    for attempt in (
        lambda: users.add(standard, "x1", Role.ADMINISTRATOR, PASSWORD),
        lambda: users.list(standard),
        lambda: users.set(standard, "std", UserChange(role="administrator")),
        lambda: users.remove(standard, "std"),
        lambda: users.passwd(standard, "other", PASSWORD),
        lambda: users.get(standard, "other"),
    ):
        with pytest.raises(Refused, match="only administrators"):
            attempt()
    users.passwd(standard, "std", "a new password")  # their own
    assert users.get(standard, "STD").name == "std"
    assert users.authenticate("std", "a new password") == standard


def test_every_account_change_is_audited_without_the_password(engine: Engine, users: Users) -> None:
    users.add(SYSTEM, "eve", Role.END_USER, PASSWORD)
    users.set(SYSTEM, "eve", UserChange(replay_enabled=True, others="201;202", role="standard"))
    users.passwd(SYSTEM, "eve", "another password")
    users.remove(SYSTEM, "eve")
    events = user_events(engine)
    assert [e["op"] for e in events] == ["add", "set", "passwd", "remove"]
    assert events[1]["changes"] == {
        "replay_enabled": True,
        "others": ["201", "202"],
        "role": "standard",
    }
    text = json.dumps(events)
    assert PASSWORD not in text and "another password" not in text and "scrypt" not in text
    assert engine.audit.list().items[0].user == SYSTEM.name


def test_a_refused_change_leaves_no_audit_row(engine: Engine, users: Users) -> None:
    users.add(SYSTEM, "root", Role.ADMINISTRATOR, PASSWORD)
    with pytest.raises(Refused):
        users.remove(SYSTEM, "root")
    assert [e["op"] for e in user_events(engine)] == ["add"]


# -- the CLI ----------------------------------------------------------------------------------
def test_cli_users_round_trip(home: Path) -> None:
    add = mm(home, "users", "add", "root", "--role", "administrator", stdin=PASSWORD + "\n")
    assert add.returncode == 0, add.stderr
    assert PASSWORD not in add.stdout + add.stderr
    add = mm(home, "users", "add", "eve", "--role", "end-user", stdin=PASSWORD + "\n")
    assert add.returncode == 0, add.stderr
    out = mm(
        home, "users", "set", "eve", "--replay", "--scope", "mine", "--extension", "201",
        "--groups", "Sales;Support", "--others", "202;203", "--download", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    eve = json.loads(out.stdout)
    assert {k: eve[k] for k in ("role", "replay_enabled", "extension", "groups", "others")} == {
        "role": "end-user",
        "replay_enabled": True,
        "extension": "201",
        "groups": ["Sales", "Support"],
        "others": ["202", "203"],
    }
    listed = mm(home, "users", "list", "--json")
    assert [u["name"] for u in json.loads(listed.stdout)] == ["eve", "root"]
    for text in (listed.stdout, mm(home, "users", "show", "eve", "--json").stdout):
        assert "scrypt" not in text and "hash" not in text and "password" not in text
    table = mm(home, "users", "list")
    assert table.stdout.splitlines()[0].split()[:2] == ["NAME", "ROLE"]

    assert mm(home, "users", "passwd", "eve", stdin="a new password\n").returncode == 0
    with Engine(home) as engine:
        assert engine.users.authenticate("eve", "a new password").role is Role.END_USER

    assert mm(home, "users", "remove", "eve").returncode == 3  # no terminal, no --yes
    assert mm(home, "users", "remove", "eve", "--yes").returncode == 0
    last = mm(home, "users", "remove", "root", "--yes")
    assert last.returncode == 3 and "last administrator" in last.stderr


def test_cli_users_bad_input_exits_2(home: Path) -> None:
    none = mm(home, "users", "add", "root", "--role", "administrator", stdin="")
    assert none.returncode == 2 and "stdin" in none.stderr
    role = mm(home, "users", "add", "root", "--role", "boss", stdin=PASSWORD + "\n")
    assert role.returncode == 2 and "end-user" in role.stderr
    ok = mm(home, "users", "add", "eve", "--role", "end-user", stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    long = mm(home, "users", "set", "eve", "--others", ";".join(["123456789"] * 13))
    assert long.returncode == 2 and "128" in long.stderr
    assert mm(home, "users", "set", "eve").returncode == 2  # nothing to change
    assert mm(home, "users", "show", "nobody").returncode == 1
