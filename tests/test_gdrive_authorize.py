"""Signing a Google Drive connector in from the command line: `mm connectors authorize NAME` and
`mm connectors add --type gdrive --authorize` (OAuth device flow, seed F18).

Google offers no server that can run here, so the real `mm` talks to tests/drive_double.py, a
local double of Google's OAuth and Drive endpoints; approving (or declining) the code in the
double stands in for the person doing it on their phone. The double asks for 5 seconds between
polls, as Google does, so each sign-in here takes that long.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mm_engine.engine import Engine
from mm_engine.errors import Refused
from mm_engine.principal import Principal, Role
from mm_engine.session import Session
from tests.drive_double import DriveDouble
from tests.service_helpers import MM, mm


@dataclass
class SignIn:
    url: str
    code: str
    returncode: int
    stdout: str
    stderr: str


def sign_in(home: Path, args: list[str], approve: Callable[[str], None], stdin: str = "") -> SignIn:
    """Run `mm ARGS`, read the address and code it shows, act on the code as the person would,
    then let mm finish."""
    proc = subprocess.Popen(
        [MM, *args],
        env={**os.environ, "MM_HOME": str(home)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    shown: list[str] = []
    for line in proc.stderr:
        shown.append(line)
        if line.startswith("then allow access"):
            break
    else:
        proc.wait(60)
        pytest.fail(f"mm showed no code (exit {proc.returncode}): {''.join(shown)}")
    url, code = shown[-4].strip(), shown[-2].strip()
    approve(code)
    err = proc.stderr.read()  # to the end: mm has finished (its output is a few lines)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(60)
    return SignIn(url, code, proc.returncode, out, "".join(shown) + err)


def drive_args(double: DriveDouble, folder: str) -> list[str]:
    settings = double.settings(folder)
    return [
        arg
        for key in ("client_id", "folder", "api_base", "token_url")
        for arg in ("--set", f"{key}={settings[key]}")
    ]


def stored_token(engine: Engine, name: str) -> str:
    return engine.connectors.secrets_of(engine.connectors.get(name).id)["refresh_token"]


def audited(engine: Engine, op: str) -> list[dict[str, object]]:
    return [
        e.details
        for e in engine.audit.list(None, limit=500).items
        if e.action == "configuration" and e.details.get("op") == op
    ]


def test_add_with_authorize_signs_in_first_and_stores_the_authorization(
    home: Path, drive_double: DriveDouble
) -> None:
    folder = f"mm-tests/{uuid.uuid4().hex[:8]}/archive"
    args = ["connectors", "add", "Drive", "--type", "gdrive", *drive_args(drive_double, folder)]

    missing = mm(home, *args, "--secret", "client_secret", stdin="mm-test-secret\n")
    assert missing.returncode == 2
    assert "Authorization is required" in missing.stderr and "--authorize" in missing.stderr

    done = sign_in(
        home,
        [*args, "--secret", "client_secret", "--authorize", "--test", "--json"],
        drive_double.approve,
        stdin=f"{drive_double.CLIENT_SECRET}\n",
    )
    assert done.url == f"{drive_double.url}/device"
    assert done.code.startswith("MMT-")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["settings"]["refresh_token"] == "••••"
    assert data["test"]["ok"] and data["test"]["message"] == "Connector Drive is accessible."
    with Engine(home) as engine:
        token = stored_token(engine, "Drive")
        [added] = audited(engine, "connector add")
    assert token in drive_double.refresh_tokens and token.startswith("1//double-refresh-")
    assert token not in done.stdout + done.stderr
    assert added["settings"] == {**data["settings"]}


def test_authorize_replaces_a_revoked_authorization(home: Path, drive_double: DriveDouble) -> None:
    folder = f"mm-tests/{uuid.uuid4().hex[:8]}/archive"
    with Engine(home) as engine:
        revoked = drive_double.settings(folder, refresh_token="1//revoked-refresh-token")
        engine.connectors.add("Drive", "gdrive", revoked)
        assert not engine.connectors.test("Drive").ok

    done = sign_in(home, ["connectors", "authorize", "drive", "--json"], drive_double.approve)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["accessible"] == "ok" and data["test"]["ok"]
    assert data["settings"]["refresh_token"] == "••••"
    listed = mm(home, "connectors", "list")
    assert listed.returncode == 0 and "1//" not in listed.stdout
    with Engine(home) as engine:
        token = stored_token(engine, "Drive")
        [signed] = audited(engine, "connector authorize")
    assert token != "1//revoked-refresh-token" and token in drive_double.refresh_tokens
    assert signed["name"] == "Drive" and token not in json.dumps(signed)


def test_a_declined_sign_in_exits_1_and_keeps_the_old_authorization(
    home: Path, drive_double: DriveDouble
) -> None:
    with Engine(home) as engine:
        engine.connectors.add("Drive", "gdrive", drive_double.settings("mm-tests/declined"))
        before = stored_token(engine, "Drive")

    done = sign_in(home, ["connectors", "authorize", "Drive"], drive_double.deny)
    assert done.returncode == 1
    assert "declined access to Google Drive" in done.stderr
    assert "Choose Allow" in done.stderr or "choose Allow" in done.stderr
    with Engine(home) as engine:
        assert stored_token(engine, "Drive") == before
        assert audited(engine, "connector authorize") == []


def test_only_google_drive_connectors_sign_in(home: Path, tmp_path: Path) -> None:
    with Engine(home) as engine:
        engine.connectors.add("Disk", "local", {"path": str(tmp_path / "disk")})
    refused = mm(home, "connectors", "authorize", "Disk")
    assert refused.returncode == 3
    assert "not a Google Drive connector" in refused.stderr
    wrong_type = mm(
        home, "connectors", "add", "Other", "--type", "local",
        "--set", f"path={tmp_path / 'other'}", "--authorize",
    )  # fmt: skip
    assert wrong_type.returncode == 2 and "--authorize is for Google Drive" in wrong_type.stderr


@pytest.mark.parametrize("role", [Role.STANDARD, Role.END_USER])
def test_only_administrators_sign_a_connector_in_or_test_unsaved_changes(
    engine: Engine, drive_double: DriveDouble, role: Role
) -> None:
    engine.connectors.add("Drive", "gdrive", drive_double.settings("mm-tests/standard"))
    session = Session(engine, Principal("sam", role))
    codes_before = len(drive_double.devices)
    attempts: list[Callable[[], object]] = [
        lambda: session.connectors_sign_in({}, "Drive"),
        lambda: session.connectors_authorize("Drive", "1//stolen"),
        lambda: session.connectors_test_changes("Drive", {"folder": "elsewhere"}),
    ]
    for attempt in attempts:
        with pytest.raises(Refused, match="only administrators may"):
            attempt()
    refusals = [
        e.details for e in engine.audit.list(None, limit=50).items if e.details.get("refused")
    ]
    assert sorted(r["op"] for r in refusals) == ["authorize", "authorize", "test"]
    assert len(drive_double.devices) == codes_before  # Google was not even asked
    assert stored_token(engine, "Drive") == DriveDouble.REFRESH_TOKEN
