"""Configuration (F9): defaults that work on a fresh machine, validation, change alarms, F7."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mm_engine.engine import Engine
from mm_engine.errors import InvalidSetting, Refused
from mm_engine.paths import is_server_install


def values(engine: Engine) -> dict[str, dict[str, object]]:
    return {r["key"]: r for r in engine.config.show()}


def test_fresh_data_directory_works_without_configuration(engine: Engine, home: Path) -> None:
    shown = values(engine)
    assert shown["call_storage_path"]["value"] == str(home / "recordings")
    assert shown["call_storage_path"]["source"] == "default"
    expected_handover = "/opt/vmpro/MM/VRL" if is_server_install() else str(home / "handover")
    assert shown["handover_folder"]["value"] == expected_handover
    assert shown["retention_days"]["value"] == 180
    assert shown["audit_retention_days"]["value"] == 180
    assert shown["log_level"]["value"] == "info"
    assert shown["send_email"]["value"] is False


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("log_level", "verbose", "not one of info, debug, error"),
        ("audit_retention_days", "0", "out of range (1..365)"),
        ("audit_retention_days", "366", "out of range (1..365)"),
        ("retention_days", "-1", "out of range"),
        ("retention_days", "ten", "not a whole number"),
        ("smtp_to", "ops@example.com;not-an-address", "'not-an-address' is not an e-mail"),
        ("smtp_port", "70000", "out of range"),
        ("handover_folder", "relative/path", "not an absolute path"),
        ("send_email", "maybe", "not yes or no"),
        ("no_such_key", "1", "there is no such setting"),
    ],
)
def test_invalid_values_are_refused_naming_the_setting(
    engine: Engine, key: str, value: str, fragment: str
) -> None:
    before = values(engine)
    with pytest.raises(InvalidSetting) as err:
        engine.config.set(key, value)
    assert f"Setting '{key}'" in str(err.value)
    assert fragment in str(err.value)
    assert values(engine) == before


def test_a_change_is_stored_shown_as_set_and_raises_configuration_changed(engine: Engine) -> None:
    engine.config.set("retention_days", "0")
    engine.config.set("smtp_to", " a@example.com ; b@example.org ")
    shown = values(engine)
    assert shown["retention_days"] == {**shown["retention_days"], "value": 0, "source": "set"}
    assert shown["smtp_to"]["value"] == "a@example.com;b@example.org"
    changes = [a for a in engine.alarms.list() if a["type"] == "CONFIGURATION_CHANGED"]
    assert len(changes) == 2
    assert "retention_days = 0" in " ".join(a["message"] for a in changes)


def test_secrets_are_masked_in_show_and_alarms(engine: Engine) -> None:
    engine.config.set("smtp_password", "s3cret-pw")
    assert values(engine)["smtp_password"]["value"] == "********"
    assert engine.config.get("smtp_password") == "s3cret-pw"
    assert "s3cret-pw" not in json.dumps(engine.alarms.list())


def test_mm_home_selects_the_data_directory_for_the_cli(home: Path) -> None:
    mm = Path(sys.executable).with_name("mm")
    env = {**os.environ, "MM_HOME": str(home)}
    subprocess.run(
        [mm, "config", "set", "profile", "site-a"], env=env, check=True, capture_output=True
    )
    out = subprocess.run(
        [mm, "config", "show", "--json"], env=env, check=True, capture_output=True, text=True
    )
    rows = {r["key"]: r for r in json.loads(out.stdout)}
    assert rows["profile"]["value"] == "site-a" and rows["profile"]["source"] == "set"
    assert (home / "mm.db").exists()


def test_cli_refuses_a_bad_value_with_exit_code_2_and_a_message(home: Path) -> None:
    mm = Path(sys.executable).with_name("mm")
    out = subprocess.run(
        [mm, "config", "set", "log_level", "loud"],
        env={**os.environ, "MM_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "Setting 'log_level'" in out.stderr


def _config_errors(engine: Engine) -> list[dict[str, object]]:
    return [a for a in engine.alarms.list() if a["type"] == "CONFIGURATION_ERROR"]


def test_call_storage_on_the_system_disk_warns_but_is_accepted(
    engine: Engine, tmp_path: Path
) -> None:
    if os.stat(tmp_path).st_dev != os.stat("/").st_dev:
        pytest.fail("tmp_path is expected on the root filesystem here")
    engine.config.set("call_storage_path", str(tmp_path / "calls"))
    assert engine.config.get("call_storage_path") == str(tmp_path / "calls")
    errors = _config_errors(engine)
    assert errors and "call_storage_path" in str(errors[0]["message"])
    assert "system disk" in str(errors[0]["message"])


def test_call_storage_on_an_additional_disk_raises_no_warning(engine: Engine, tmpfs: Path) -> None:
    engine.config.set("call_storage_path", str(tmpfs / "calls"))
    assert _config_errors(engine) == []


def test_changing_storage_path_under_recordings_is_refused_with_instructions(
    engine: Engine, tmp_path: Path
) -> None:
    engine.db.execute_write(
        "INSERT INTO recordings (call_id, seq, start, start_ts, duration_s, direction, path, size,"
        " sha256, signature, key_id, ingested_at) VALUES ('c1', 1, '2026-01-01T00:00:00+00:00',"
        " 0, 1, 'inbound', '2026/01/01/c1-1.opus', 1, 'x', 'x', 'k', 'now')"
    )
    with pytest.raises(Refused) as err:
        engine.config.set("call_storage_path", str(tmp_path / "elsewhere"))
    assert "1 recordings are stored under" in err.value.message
    assert "mm storage move" in err.value.hint


def test_a_secret_can_be_given_on_stdin_so_it_stays_out_of_the_process_list(home: Path) -> None:
    mm = Path(sys.executable).with_name("mm")
    env = {**os.environ, "MM_HOME": str(home)}
    out = subprocess.run(
        [mm, "config", "set", "smtp_password", "-"],
        env=env,
        input="pw-1 2\n",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "pw-1 2" not in out.stdout
    with Engine(home) as engine:
        assert engine.config.get("smtp_password") == "pw-1 2"
