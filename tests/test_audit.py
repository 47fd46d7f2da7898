"""The audit trail: hash chain, retention, filtered view, encrypted export (seed F31-F33)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pyzipper  # type: ignore[import-untyped]

from mm_engine.audit import Audit, AuditAction, AuditFilter, row_hash
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from tests.service_helpers import mm

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EXPORT_PASSWORD = "zip pass 123"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(engine: Engine) -> Clock:
    c = Clock()
    engine.audit.clock = c
    return c


@pytest.fixture
def audit(engine: Engine, clock: Clock) -> Audit:
    return engine.audit


def raw(engine: Engine) -> closing[sqlite3.Connection]:
    """A plain sqlite3 connection on the database file, as someone tampering would use."""
    conn = sqlite3.connect(engine.db.path, isolation_level=None)
    return closing(conn)


def record_many(audit: Audit, clock: Clock, n: int, step: timedelta = timedelta(minutes=1)) -> None:
    # F31's eight event types, in a fixed cycle (the enum has since gained refusal-only ones)
    actions = list(AuditAction)[:8]
    for i in range(n):
        audit.record(None, f"user{i % 3}", actions[i % len(actions)], {"n": i, "terms": "ä;1"})
        clock.now += step


@pytest.fixture
def ten(audit: Audit, clock: Clock) -> Iterator[Audit]:
    record_many(audit, clock, 10)
    assert audit.verify().ok
    yield audit


# -- recording --------------------------------------------------------------------------------
def test_an_event_commits_or_rolls_back_with_the_write_it_belongs_to(
    engine: Engine, audit: Audit
) -> None:
    def fails(conn: sqlite3.Connection) -> None:
        audit.record(conn, "alice", AuditAction.DELETE, {"ids": [1]})
        raise RuntimeError("the delete failed")

    with pytest.raises(RuntimeError):
        engine.db.write(fails)
    assert audit.list().items == []
    engine.db.write(lambda conn: audit.record(conn, "alice", "delete", {"ids": [2]}))
    audit.record(None, "alice", AuditAction.LOGOUT)
    events = audit.list().items
    assert [(e.id, e.action, e.details) for e in events] == [
        (2, "logout", {}),
        (1, "delete", {"ids": [2]}),
    ]
    assert events[1].at == "2026-03-02T08:00:00.000000+00:00"
    assert audit.verify().ok


def test_the_hash_formula_is_the_documented_one(engine: Engine, audit: Audit) -> None:
    audit.record(None, "alice", "search", {"terms": "201", "results": 3})
    audit.record(None, "bob", "replay", {"id": 7})
    with raw(engine) as conn:
        rows = conn.execute("SELECT id, at, user, action, details, prev_hash, hash FROM audit")
        prev = "0" * 64
        for event_id, at, user, action, details, prev_hash, digest in rows:
            assert prev_hash == prev
            assert digest == row_hash(prev, event_id, at, user, action, details)
            prev = digest
    assert json.loads(details) == {"id": 7}


# -- tampering --------------------------------------------------------------------------------
def test_editing_a_row_is_found_at_that_row(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        conn.execute("UPDATE audit SET user = 'someone else' WHERE id = 4")
    report = ten.verify()
    assert (report.ok, report.first_broken_id, report.checked) == (False, 4, 4)
    assert "changed" in report.reason


def test_editing_a_row_and_its_hash_is_found_at_the_next_row(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        at, user, action, prev = conn.execute(
            "SELECT at, user, action, prev_hash FROM audit WHERE id = 4"
        ).fetchone()
        forged = row_hash(prev, 4, at, user, action, "{}")
        conn.execute("UPDATE audit SET details = '{}', hash = ? WHERE id = 4", (forged,))
    report = ten.verify()
    assert (report.ok, report.first_broken_id) == (False, 5)


def test_deleting_a_row_in_the_middle_is_found(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        conn.execute("DELETE FROM audit WHERE id = 6")
    report = ten.verify()
    assert (report.ok, report.first_broken_id) == (False, 7)
    assert "removed" in report.reason


def test_deleting_a_row_and_renumbering_the_rest_is_found(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        conn.execute("DELETE FROM audit WHERE id = 6")
        conn.execute("UPDATE audit SET id = id - 1 WHERE id > 6")
    assert ten.verify().first_broken_id == 6


def test_reordering_rows_is_found(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        columns = "at, user, action, details, prev_hash, hash"
        three = conn.execute(f"SELECT {columns} FROM audit WHERE id = 3").fetchone()
        four = conn.execute(f"SELECT {columns} FROM audit WHERE id = 4").fetchone()
        assign = ", ".join(f"{c.strip()} = ?" for c in columns.split(","))
        conn.execute(f"UPDATE audit SET {assign} WHERE id = 3", four)
        conn.execute(f"UPDATE audit SET {assign} WHERE id = 4", three)
    report = ten.verify()
    assert (report.ok, report.first_broken_id) == (False, 3)


def test_removing_the_newest_rows_is_found(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        conn.execute("DELETE FROM audit WHERE id >= 9")
    report = ten.verify()
    assert (report.ok, report.first_broken_id) == (False, 9)
    ten.record(None, "alice", "login")  # new events do not paper over the gap
    assert ten.verify().first_broken_id == 11


def test_removing_the_oldest_rows_is_found(engine: Engine, ten: Audit) -> None:
    with raw(engine) as conn:
        conn.execute("DELETE FROM audit WHERE id <= 2")
    assert ten.verify().first_broken_id == 3


def test_mm_audit_verify_exits_1_naming_the_first_broken_event(
    home: Path, engine: Engine, ten: Audit
) -> None:
    ok = mm(home, "audit", "verify")
    assert ok.returncode == 0 and "10 event(s)" in ok.stdout
    with raw(engine) as conn:
        conn.execute("UPDATE audit SET details = '{\"n\":99}' WHERE id = 7")
    broken = mm(home, "audit", "verify")
    assert broken.returncode == 1
    assert "broken at event 7" in broken.stderr
    as_json = mm(home, "audit", "verify", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["first_broken_id"] == 7


# -- retention --------------------------------------------------------------------------------
def test_pruning_keeps_the_retention_days_and_the_chain_verifiable(
    engine: Engine, audit: Audit, clock: Clock
) -> None:
    record_many(audit, clock, 6, step=timedelta(days=50))  # days 0, 50, ..., 250
    now = T0 + timedelta(days=260)
    assert audit.prune(now) == 2  # 260 and 210 days old; the default keeps 180
    assert [e.id for e in audit.list().items] == [6, 5, 4, 3]
    assert audit.verify().ok and audit.verify().first_id == 3

    engine.config.set("audit_retention_days", "30")
    assert audit.prune(now) == 3
    clock.now = now
    audit.record(None, "alice", "login")
    report = audit.verify()
    assert report.ok and (report.first_id, report.last_id, report.checked) == (6, 7, 2)

    with raw(engine) as conn:  # the anchor still guards the new first row
        conn.execute("DELETE FROM audit WHERE id = 6")
    assert audit.verify().first_broken_id == 7


def test_pruning_everything_then_recording_still_verifies(audit: Audit, clock: Clock) -> None:
    record_many(audit, clock, 3)
    assert audit.prune(T0 + timedelta(days=400)) == 3
    assert audit.verify().ok
    audit.record(None, "alice", "logout")
    assert [e.id for e in audit.list().items] == [4]
    assert audit.verify().ok


def test_pruning_stops_at_the_first_young_event(audit: Audit, clock: Clock) -> None:
    audit.record(None, "a", "login")
    clock.now = T0 + timedelta(days=300)
    audit.record(None, "b", "login")
    clock.now = T0 + timedelta(days=1)  # the clock was set back
    audit.record(None, "c", "login")
    assert audit.prune(T0 + timedelta(days=300)) == 1
    assert [e.user for e in audit.list().items] == ["c", "b"]


# -- the filtered view ------------------------------------------------------------------------
def test_list_filters_by_time_action_and_user(audit: Audit, clock: Clock) -> None:
    record_many(audit, clock, 10)  # 08:00 .. 08:09, users user0..user2
    audit.record(None, "Big_Boss", "delete", {"ids": [1]})
    ids = lambda f: [e.id for e in audit.list(f, limit=100).items]  # noqa: E731
    assert ids(AuditFilter()) == list(range(11, 0, -1))
    assert ids(AuditFilter(start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=5))) == [
        5,
        4,
    ]
    assert ids(AuditFilter(actions=(AuditAction.LOGIN, AuditAction.DELETE))) == [11, 9, 6, 1]
    assert ids(AuditFilter(user_contains="USER1")) == [8, 5, 2]
    assert ids(AuditFilter(user_contains="g_b")) == [11]
    assert ids(AuditFilter(user_contains="r%")) == []  # % is a character, not a wildcard
    assert ids(AuditFilter(actions=(AuditAction.SEARCH,), user_contains="user2")) == [3]


def test_list_pages_newest_first_without_gaps(audit: Audit, clock: Clock) -> None:
    record_many(audit, clock, 23)
    seen: list[int] = []
    cursor = None
    while True:
        page = audit.list(AuditFilter(user_contains="user"), limit=5, cursor=cursor)
        seen += [e.id for e in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
        audit.record(None, "user9", "login")  # new events do not shift the pages
    assert seen == list(range(23, 0, -1))
    with pytest.raises(InvalidInput, match="different set of filters"):
        audit.list(AuditFilter(user_contains="other"), limit=5, cursor=cursor)
    with pytest.raises(InvalidInput, match="not valid"):
        audit.list(cursor="garbage!")
    with pytest.raises(InvalidInput):
        audit.list(limit=0)


def test_mm_audit_list(home: Path, audit: Audit, clock: Clock) -> None:
    record_many(audit, clock, 12)
    out = mm(home, "audit", "list", "--action", "login,logout", "--action", "delete", "--json")
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)
    assert [(e["id"], e["action"]) for e in events] == [
        (10, "logout"),
        (9, "login"),
        (6, "delete"),
        (2, "logout"),
        (1, "login"),
    ]
    assert set(events[0]) == {"id", "at", "user", "action", "details"}
    paged = mm(home, "audit", "list", "--limit", "5", "--user", "user0")
    assert paged.returncode == 0 and "Next page: --cursor" not in paged.stderr
    assert len(paged.stdout.splitlines()) == 1 + 4
    first = mm(home, "audit", "list", "--limit", "5")
    cursor = first.stderr.split("--cursor ")[1].strip()
    second = mm(home, "audit", "list", "--limit", "5", "--cursor", cursor, "--json")
    assert [e["id"] for e in json.loads(second.stdout)] == [7, 6, 5, 4, 3]
    day = mm(home, "audit", "list", "--from", "2026-03-02", "--to", "2026-03-02", "--json")
    assert len(json.loads(day.stdout)) == 12
    assert mm(home, "audit", "list", "--to", "2026-03-01", "--json").stdout.strip() == "[]"
    assert mm(home, "audit", "list", "--action", "dance").returncode == 2
    assert mm(home, "audit", "list", "--from", "yesterday").returncode == 2


# -- export -----------------------------------------------------------------------------------
def read_zip(path: Path, password: str) -> tuple[str, list[list[str]]]:
    with pyzipper.AESZipFile(path) as zf:
        zf.setpassword(password.encode())
        (name,) = zf.namelist()
        text = zf.read(name).decode("utf-8")
    return name, list(csv.reader(io.StringIO(text)))


def test_export_writes_only_the_filtered_view_into_an_aes_zip(
    tmp_path: Path, audit: Audit, clock: Clock
) -> None:
    record_many(audit, clock, 16)
    target = tmp_path / "audit.zip"
    count = audit.export(target, EXPORT_PASSWORD, AuditFilter(actions=(AuditAction.DELETE,)))
    assert count == 2
    name, rows = read_zip(target, EXPORT_PASSWORD)
    assert name == "audit.csv"
    assert rows[0] == ["id", "time", "user", "action", "details"]
    assert [(r[0], r[3]) for r in rows[1:]] == [("14", "delete"), ("6", "delete")]
    assert json.loads(rows[1][4]) == {"n": 13, "terms": "ä;1"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pyzipper.AESZipFile(target) as zf:
        assert zf.infolist()[0].flag_bits & 0x1  # encrypted
        with pytest.raises(RuntimeError):
            zf.read(name, pwd=b"wrong password")


def test_7zip_opens_the_export_with_the_password_only(
    tmp_path: Path, audit: Audit, clock: Clock
) -> None:
    if shutil.which("7z") is None:
        pytest.fail("7z is missing: ./scripts/test installs p7zip-full")
    record_many(audit, clock, 5)
    target = tmp_path / "trail.zip"
    assert audit.export(target, EXPORT_PASSWORD) == 5
    listing = subprocess.run(
        ["7z", "l", "-slt", f"-p{EXPORT_PASSWORD}", str(target)], capture_output=True, text=True
    )
    assert "AES-256" in listing.stdout
    wrong = subprocess.run(
        ["7z", "x", "-pwrong password", f"-o{tmp_path / 'bad'}", str(target)],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0
    out = subprocess.run(
        ["7z", "x", f"-p{EXPORT_PASSWORD}", f"-o{tmp_path / 'x'}", str(target)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    with open(tmp_path / "x" / "trail.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == read_zip(target, EXPORT_PASSWORD)[1]
    assert [r[0] for r in rows[1:]] == ["5", "4", "3", "2", "1"]


def test_export_refuses_a_weak_password_and_leaves_no_file(tmp_path: Path, audit: Audit) -> None:
    audit.record(None, "alice", "login")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInput, match="too short"):
        audit.export(out / "a.zip", "short")
    with pytest.raises(Refused):
        audit.export(out / "missing" / "a.zip", EXPORT_PASSWORD)
    with pytest.raises(Refused, match="directory"):
        audit.export(out, EXPORT_PASSWORD)
    assert list(out.iterdir()) == []


def test_mm_audit_export_reads_the_password_from_stdin(
    home: Path, tmp_path: Path, audit: Audit, clock: Clock
) -> None:
    record_many(audit, clock, 9)
    target = tmp_path / "out.zip"
    out = mm(
        home, "audit", "export", str(target), "--user", "USER0", "--action", "replay",
        stdin=EXPORT_PASSWORD + "\n",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Exported 1 event(s)" in out.stderr
    _, rows = read_zip(target, EXPORT_PASSWORD)
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [("4", "user0", "replay")]
    again = mm(home, "audit", "export", str(target), stdin=EXPORT_PASSWORD + "\n")
    assert again.returncode == 3 and "--force" in again.stderr
    forced = mm(home, "audit", "export", str(target), "--force", stdin=EXPORT_PASSWORD + "\n")
    # header + 9 events + the audit row of the first export (exports are audited)
    assert forced.returncode == 0 and len(read_zip(target, EXPORT_PASSWORD)[1]) == 11
    empty = mm(home, "audit", "export", str(tmp_path / "b.zip"), stdin="")
    assert empty.returncode == 2 and not (tmp_path / "b.zip").exists()
