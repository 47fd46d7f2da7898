"""`mm recordings`: the scripting contract of docs/cli.md (JSON shapes, exit codes 0/1/2/3)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mm_engine.domain import Recording
from mm_engine.engine import Engine
from mm_tui.cli import app
from tests.conftest import BASE_START, AddRecording

RECORDING_FIELDS = [
    "id",
    "call_id",
    "start",
    "direction",
    "parties",
    "agents",
    "owner",
    "owner_kind",
    "target",
    "skill",
    "authenticated",
    "duration_s",
    "path",
    "size",
    "sha256",
    "ingested_at",
]
MM = Path(sys.executable).parent / "mm"


def mm(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def three(add_recording: AddRecording) -> list[Recording]:
    from datetime import timedelta

    return [
        add_recording(
            call_id="CX-1",
            start=BASE_START,
            duration_s=75.4,
            direction="inbound",
            parties=["+31205550001", "201"],
            agents=["Alice Jones"],
            owner="Sales",
            owner_kind="hunt_group",
            target="+31205550100",
            skill="Support-EN",
            authenticated=True,
        ),
        add_recording(
            call_id="CX-2",
            start=BASE_START + timedelta(hours=1),
            duration_s=3725.0,
            direction="outbound",
            parties=["202", "+442071234567"],
            agents=["Bob Smit"],
            owner="202",
            owner_kind="user",
            target="+442071234567",
        ),
        add_recording(
            call_id="CX-3",
            start=BASE_START + timedelta(days=1),
            duration_s=12.0,
            direction="internal",
            parties=["201", "202"],
            agents=["Alice Jones", "Bob Smit"],
            owner="201",
            owner_kind="user",
            target="202",
        ),
    ]


def test_search_json_lists_recordings_with_the_documented_fields(
    engine: Engine, three: list[Recording]
) -> None:
    rows = json_of(mm("recordings", "search", "--json"))
    assert [r["id"] for r in rows] == [three[2].id, three[1].id, three[0].id]
    assert all(list(r) == RECORDING_FIELDS for r in rows)
    first = rows[2]
    assert first["parties"] == ["+31205550001", "201"] and first["authenticated"] is True
    assert first["owner_kind"] == "hunt_group" and first["duration_s"] == 75.4
    assert Path(first["path"]).is_absolute() and Path(first["path"]).is_file()
    assert first["path"].startswith(str(engine.store().root))


def test_search_terms_are_any_of_and_party_filters_all_of(three: list[Recording]) -> None:
    def found(*args: str) -> set[int]:
        return {r["id"] for r in json_of(mm("recordings", "search", *args, "--json"))}

    a, b, c = (r.id for r in three)
    assert found("alice") == {a, c}
    assert found("alice, +4420") == {a, b, c}
    assert found("cx-2") == {b}
    assert found("--party", "201") == {a, c}
    assert found("--party", "201,202") == {c}
    assert found("--party", "201", "--party", "202") == {c}
    assert found("--agent", "bob smit") == {b, c}
    assert found("--length", ">=600") == {b}
    assert found("--direction", "inbound") == {a}
    assert found("--target", "+31205550100") == {a}
    assert found("--skill", "support-en") == {a}
    assert found("--call-id", "CX-3") == {c}
    assert found("--from", "2026-03-03") == {c}
    assert found("--to", "2026-03-02") == {a, b}  # a bare date includes that day
    assert found("--from", "2026-03-02T09:30:00+01:00", "--to", "2026-03-02T10:30+01:00") == {b}


def test_search_sorts_and_pages_with_a_cursor_on_stderr(three: list[Recording]) -> None:
    seen: list[int] = []
    args = ["recordings", "search", "--sort", "duration_s", "--asc", "--limit", "2", "--json"]
    result = mm(*args)
    seen += [r["id"] for r in json_of(result)]
    match = re.search(r"^Next page: --cursor (\S+)$", result.stderr, re.M)
    assert match, result.stderr
    result = mm(*args, "--cursor", match.group(1))
    seen += [r["id"] for r in json_of(result)]
    assert "--cursor" not in result.stderr
    assert seen == [three[2].id, three[0].id, three[1].id]


def test_search_table_for_people(three: list[Recording]) -> None:
    result = mm("recordings", "search", "--limit", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "CALL",
        "DATE",
        "LENGTH",
        "PARTIES",
        "DIRECTION",
        "AGENT",
        "INITIATOR",
        "TARGET",
        "SKILL",
        "CALL",
        "ID",
        "AUTH",
    ]
    assert "2026-03-02 10:00:00" in lines[2] and "62:05" in lines[2]
    assert "+442071234567" in lines[2] and "CX-2" in lines[2]
    assert "Next page: --cursor" in result.stderr
    assert "✓" in mm("recordings", "search", "--call-id", "CX-1").stdout


def test_search_with_no_match_says_so_on_stderr(three: list[Recording]) -> None:
    result = mm("recordings", "search", "nobody")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No recordings match" in result.stderr
    assert json_of(mm("recordings", "search", "nobody", "--json")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--length", "<=abc"], "Length filter '<=abc' is not valid"),
        (["--from", "yesterday"], "--from 'yesterday' is not an ISO 8601"),
        (["--direction", "up"], "Direction 'up'"),
        (["--sort", "path"], "Cannot sort by 'path'"),
        (["--limit", "0"], "between 1 and 1000"),
        (["--cursor", "garbage"], "cursor is not valid"),
        (['"'], "no letters or digits"),
        (["--limit", "many"], ""),
    ],
)
def test_bad_search_usage_exits_2_with_a_message(
    three: list[Recording], args: list[str], message: str
) -> None:
    result = mm("recordings", "search", *args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""


def test_show_prints_one_recording(engine: Engine, three: list[Recording]) -> None:
    rec = json_of(mm("recordings", "show", str(three[0].id), "--json"))
    assert list(rec) == RECORDING_FIELDS and rec["call_id"] == "CX-1"
    text = mm("recordings", "show", str(three[0].id))
    assert text.exit_code == 0
    assert re.search(r"^call_id\s+CX-1$", text.stdout, re.M)
    assert re.search(r"^length\s+1:15$", text.stdout, re.M)
    missing = mm("recordings", "show", "999")
    assert missing.exit_code == 1 and "Recording 999 does not exist" in missing.stderr


def test_verify_json_and_exit_1_when_tampered(engine: Engine, three: list[Recording]) -> None:
    ids = [str(r.id) for r in three]
    assert json_of(mm("recordings", "verify", *ids, "--json")) == [
        {"id": r.id, "call_id": r.details.call_id, "verification": "verified"} for r in three
    ]
    path = engine.store().root / three[1].path
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    (engine.store().root / three[2].path).unlink()
    result = mm("recordings", "verify", "--all", "--json")
    assert result.exit_code == 1
    assert [r["verification"] for r in json.loads(result.stdout)] == [
        "verified",
        "tampered",
        "cannot verify",
    ]
    assert "1 recording(s) TAMPERED" in result.stderr and str(three[1].id) in result.stderr
    assert "could not be verified" in result.stderr
    table = mm("recordings", "verify", ids[0])
    assert table.exit_code == 0 and "verified" in table.stdout


def test_verify_with_an_empty_catalogue_prints_an_empty_array(engine: Engine) -> None:
    assert json_of(mm("recordings", "verify", "--all", "--json")) == []


@pytest.mark.parametrize("args", [[], ["1", "--all"], ["x"]])
def test_verify_needs_ids_or_all(three: list[Recording], args: list[str]) -> None:
    assert mm("recordings", "verify", *args).exit_code == 2


def test_delete_with_yes_removes_and_unknown_ids_are_refused(
    engine: Engine, three: list[Recording]
) -> None:
    path = engine.store().root / three[0].path
    result = mm("recordings", "delete", str(three[0].id), "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"Deleted 1 recording(s): {three[0].id}" in result.stdout
    assert not path.exists()
    again = mm("recordings", "delete", str(three[0].id), str(three[1].id), "--yes")
    assert again.exit_code == 3
    assert f"no recording with id {three[0].id}" in again.stderr
    assert (engine.store().root / three[1].path).exists()


def test_delete_without_yes_and_without_a_terminal_is_refused(
    engine: Engine, three: list[Recording]
) -> None:
    result = mm("recordings", "delete", str(three[0].id))
    assert result.exit_code == 3
    assert "no terminal" in result.stderr and "--yes" in result.stderr
    assert (engine.store().root / three[0].path).exists()


def on_a_terminal(home: Path, answer: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run mm with a real pseudo-terminal as stdin, answering its question."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(MM), *args],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "MM_HOME": str(home)},
        )
        os.close(follower)
        os.write(leader, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_delete_on_a_terminal_asks_first(
    home: Path, engine: Engine, three: list[Recording]
) -> None:
    keep, drop = three[0], three[1]
    no = on_a_terminal(home, b"n\n", "recordings", "delete", str(keep.id))
    assert no.returncode == 3, no.stderr
    assert b"Delete these 1 recording(s)?" in no.stderr and b"CX-1" in no.stderr
    assert (engine.store().root / keep.path).exists()
    yes = on_a_terminal(home, b"y\n", "recordings", "delete", str(drop.id))
    assert yes.returncode == 0, yes.stderr
    assert not (engine.store().root / drop.path).exists()


def test_the_recordings_commands_are_listed_in_help() -> None:
    result = mm("recordings", "--help")
    assert result.exit_code == 0
    for name in ("search", "show", "verify", "delete"):
        assert name in result.stdout
