"""Alarms (F34/F35): repeats fold into one, acknowledgement, `mm alarms list/ack`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mm_engine.alarms import SYSTEM_OPERATOR, AlarmType
from mm_engine.db import Database
from mm_engine.db.migrations import STEPS
from mm_engine.engine import Engine
from mm_engine.errors import NotFound
from mm_tui.cli import app

JSON_FIELDS = [
    "id",
    "type",
    "severity",
    "message",
    "count",
    "raised_at",
    "last_at",
    "acknowledged_at",
    "acknowledged_by",
    "cleared_at",
]


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def parse_failure(engine: Engine, name: str = "a.wav") -> int:
    engine.alarms.raise_(AlarmType.FILE_PARSE_ERROR, file=name, reason="not audio")
    return int(engine.alarms.list(1)[0]["id"])


def backdate(engine: Engine, alarm_id: int, when: str = "2026-01-01T00:00:00+00:00") -> None:
    engine.db.execute_write(
        "UPDATE alarms SET raised_at = ?, last_at = ? WHERE id = ?", (when, when, alarm_id)
    )


def rows(engine: Engine) -> list[dict[str, Any]]:
    return engine.alarms.list(include_acknowledged=True)


def test_repeats_fold_into_one_alarm_with_a_count_and_last_seen_time(engine: Engine) -> None:
    first = parse_failure(engine)
    backdate(engine, first)
    assert parse_failure(engine) == first
    parse_failure(engine)
    (alarm,) = rows(engine)
    assert alarm["count"] == 3
    assert alarm["raised_at"] == "2026-01-01T00:00:00+00:00"
    assert alarm["last_at"] > alarm["raised_at"]
    parse_failure(engine, "other.wav")
    assert [a["count"] for a in rows(engine)] == [1, 3]


def test_acknowledging_records_who_and_when_and_hides_it_from_the_open_list(
    engine: Engine,
) -> None:
    alarm_id = parse_failure(engine)
    result = engine.alarms.acknowledge([alarm_id])
    assert result == {"acknowledged": [alarm_id], "already": []}
    (alarm,) = rows(engine)
    assert alarm["acknowledged_by"] == SYSTEM_OPERATOR == "system operator"
    assert alarm["acknowledged_at"]
    assert engine.alarms.list(include_acknowledged=False) == []


def test_the_acknowledging_principal_is_a_parameter(engine: Engine) -> None:
    alarm_id = parse_failure(engine)
    engine.alarms.acknowledge([alarm_id], by="alice")
    assert rows(engine)[0]["acknowledged_by"] == "alice"


def test_acknowledging_twice_keeps_the_first_acknowledgement(engine: Engine) -> None:
    alarm_id = parse_failure(engine)
    engine.alarms.acknowledge([alarm_id], by="alice")
    first = rows(engine)[0]["acknowledged_at"]
    assert engine.alarms.acknowledge([alarm_id], by="bob") == {
        "acknowledged": [],
        "already": [alarm_id],
    }
    assert (rows(engine)[0]["acknowledged_by"], rows(engine)[0]["acknowledged_at"]) == (
        "alice",
        first,
    )


def test_an_unknown_id_acknowledges_nothing_and_is_named(engine: Engine) -> None:
    alarm_id = parse_failure(engine)
    with pytest.raises(NotFound) as err:
        engine.alarms.acknowledge([alarm_id, 999])
    assert "999" in err.value.message and str(alarm_id) not in err.value.message
    assert rows(engine)[0]["acknowledged_at"] is None


def test_a_repeat_after_acknowledgement_is_a_new_alarm_and_a_new_mail(
    engine: Engine, home: Path
) -> None:
    for key, value in (("smtp_to", "ops@example.com"), ("send_email", "yes")):
        engine.config.set(key, value)
    first = parse_failure(engine)
    parse_failure(engine)
    engine.alarms.acknowledge([first])
    second = parse_failure(engine)
    parse_failure(engine)
    assert second != first
    counts = {a["id"]: a["count"] for a in rows(engine) if a["type"] == "FILE_PARSE_ERROR"}
    assert counts == {first: 2, second: 2}
    conn = sqlite3.connect(home / "mm.db")
    try:
        mailed = [r[0] for r in conn.execute("SELECT alarm_id FROM outbox ORDER BY id")]
    finally:
        conn.close()
    assert mailed[-2:] == [first, second]


def test_a_cleared_alarm_that_comes_back_is_a_new_alarm(engine: Engine) -> None:
    first = parse_failure(engine)
    engine.alarms.clear(AlarmType.FILE_PARSE_ERROR)
    assert parse_failure(engine) != first


def test_a_database_from_before_acknowledgement_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, step in enumerate(STEPS[:2], start=1):
        step(conn)
        conn.execute(f"PRAGMA user_version={number}")
    conn.execute(
        "INSERT INTO alarms (type, severity, message, dedupe_key, raised_at, last_at)"
        " VALUES ('FILE_ERROR', 'minor', 'old one', 'k', 't', 't')"
    )
    conn.close()
    with Database(path) as db:
        (row,) = db.query("SELECT message, acknowledged_at, acknowledged_by FROM alarms")
        assert tuple(row) == ("old one", None, None)
        assert db.query("SELECT COUNT(*) FROM outbox")[0][0] == 0
        assert db.query("PRAGMA user_version")[0][0] == len(STEPS)


# -- the command line -------------------------------------------------------------------------


def test_list_shows_open_alarms_newest_first_as_json(engine: Engine) -> None:
    older = parse_failure(engine, "old.wav")
    backdate(engine, older)
    newer = parse_failure(engine, "new.wav")
    done = parse_failure(engine, "done.wav")
    engine.alarms.acknowledge([done])

    result = cli("alarms", "list", "--json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [a["id"] for a in listed] == [newer, older]
    assert list(listed[0]) == JSON_FIELDS
    assert listed[0]["type"] == "FILE_PARSE_ERROR" and listed[0]["severity"] == "minor"
    assert "new.wav" in listed[0]["message"] and listed[0]["count"] == 1

    everything = json.loads(cli("alarms", "list", "--all", "--json").stdout)
    assert {a["id"] for a in everything} == {older, newer, done}
    (acked,) = [a for a in everything if a["id"] == done]
    assert acked["acknowledged_by"] == "system operator"


def test_list_as_a_table_has_the_seeds_columns(engine: Engine) -> None:
    parse_failure(engine, "x.wav")
    result = cli("alarms", "list")
    assert result.exit_code == 0
    header, line = result.stdout.splitlines()
    assert header.split() == ["ID", "DATE", "SEVERITY", "TYPE", "COUNT", "DESCRIPTION"]
    assert "FILE_PARSE_ERROR" in line and "Failed to parse file x.wav" in line


def test_list_with_nothing_open_says_so_on_stderr(engine: Engine) -> None:
    engine.alarms.acknowledge([parse_failure(engine)])
    result = cli("alarms", "list")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No unacknowledged alarms." in result.stderr
    assert json.loads(cli("alarms", "list", "--json").stdout) == []


def test_ack_acknowledges_and_is_idempotent(engine: Engine) -> None:
    one, two = parse_failure(engine, "1.wav"), parse_failure(engine, "2.wav")
    result = cli("alarms", "ack", str(one), str(two))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Acknowledged 2 alarm(s): {one}, {two}"
    again = cli("alarms", "ack", str(one))
    assert again.exit_code == 0
    assert again.stdout.strip() == f"Already acknowledged: {one}"
    assert engine.alarms.list(include_acknowledged=False) == []


def test_ack_of_an_unknown_id_fails_naming_it(engine: Engine) -> None:
    known = parse_failure(engine)
    result = cli("alarms", "ack", str(known), "4242")
    assert result.exit_code == 1
    assert "No alarm with id 4242; nothing was acknowledged." in result.stderr
    assert rows(engine)[0]["acknowledged_at"] is None


def test_ack_needs_numeric_ids(engine: Engine) -> None:
    assert cli("alarms", "ack", "first").exit_code == 2
    assert cli("alarms", "ack").exit_code == 2
