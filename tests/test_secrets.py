"""Secrets at rest (DESIGN.md section 6): sealed in the database, the key apart in keys/."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mm_engine.engine import Engine
from mm_engine.secrets import PREFIX, SecretBox, SecretError
from mm_tui.cli import app

PASSWORD = "Tr0ub4dor&3-smtp"


def stored_value(home: Path, key: str) -> str:
    conn = sqlite3.connect(home / "mm.db")
    try:
        return str(conn.execute("SELECT value FROM config WHERE key = ?", (key,)).fetchone()[0])
    finally:
        conn.close()


def test_a_sealed_secret_opens_again_and_each_seal_differs(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "keys")
    first, second = box.seal(PASSWORD, "ctx"), box.seal(PASSWORD, "ctx")
    assert first.startswith(PREFIX) and first != second  # fresh nonce each time
    assert PASSWORD not in first
    assert box.open(first, "ctx") == box.open(second, "ctx") == PASSWORD
    assert SecretBox(tmp_path / "keys").open(first, "ctx") == PASSWORD  # the key is on disk


def test_the_key_file_is_made_on_first_seal_with_mode_0600(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    box = SecretBox(keys)
    with pytest.raises(SecretError, match="missing"):
        box.open(PREFIX + "AAAA")
    assert not (keys / "secrets.key").exists(), "opening must never invent a key"
    box.seal("x")
    assert stat.S_IMODE((keys / "secrets.key").stat().st_mode) == 0o600


def test_a_secret_does_not_open_in_another_context_or_with_another_key(tmp_path: Path) -> None:
    sealed = SecretBox(tmp_path / "a").seal(PASSWORD, "config:smtp_password")
    with pytest.raises(SecretError, match="cannot be decrypted"):
        SecretBox(tmp_path / "a").open(sealed, "connector:1:password")
    other = SecretBox(tmp_path / "b")
    other.seal("make b's key")
    with pytest.raises(SecretError, match="cannot be decrypted") as err:
        other.open(sealed, "config:smtp_password")
    assert PASSWORD not in str(err.value)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretError):
        SecretBox(tmp_path / "a").open(tampered, "config:smtp_password")


def test_processes_sealing_their_first_secret_at_once_share_one_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    sealed: list[str] = []
    lock = threading.Lock()

    def seal() -> None:
        value = SecretBox(keys).seal(PASSWORD)
        with lock:
            sealed.append(value)

    threads = [threading.Thread(target=seal) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    box = SecretBox(keys)
    assert [box.open(v) for v in sealed] == [PASSWORD] * 8
    assert [p.name for p in keys.iterdir()] == ["secrets.key"]


def test_the_smtp_password_is_not_in_the_database_in_clear(engine: Engine, home: Path) -> None:
    engine.config.set("smtp_password", PASSWORD)
    raw = stored_value(home, "smtp_password")
    assert raw.startswith("enc:v1:")
    assert PASSWORD not in (home / "mm.db").read_bytes().decode("latin-1")
    wal = home / "mm.db-wal"
    if wal.exists():
        assert PASSWORD.encode() not in wal.read_bytes()
    assert engine.config.get("smtp_password") == PASSWORD
    assert stat.S_IMODE((home / "keys" / "secrets.key").stat().st_mode) == 0o600


def test_the_password_is_masked_in_show_json_and_alarms(engine: Engine) -> None:
    set_out = CliRunner().invoke(app, ["config", "set", "smtp_password", PASSWORD])
    assert set_out.exit_code == 0
    assert set_out.stdout.strip() == "smtp_password = ********"
    shown = CliRunner().invoke(app, ["config", "show", "--json"])
    rows = {r["key"]: r for r in json.loads(shown.stdout)}
    assert rows["smtp_password"]["value"] == "********"
    listed = CliRunner().invoke(app, ["alarms", "list", "--json"])
    for text in (set_out.stdout, shown.stdout, listed.stdout, json.dumps(engine.alarms.list())):
        assert PASSWORD not in text


def test_an_empty_password_stays_empty_and_unset_shows_empty(engine: Engine, home: Path) -> None:
    engine.config.set("smtp_password", "")
    assert stored_value(home, "smtp_password") == ""
    assert engine.config.get("smtp_password") == ""
    assert {r["key"]: r["value"] for r in engine.config.show()}["smtp_password"] == ""


def test_a_password_stored_in_clear_by_an_older_mm_is_sealed_at_open(home: Path) -> None:
    Engine(home).close()
    conn = sqlite3.connect(home / "mm.db")
    with conn:
        conn.execute(
            "INSERT INTO config (key, value, updated_at) VALUES ('smtp_password', ?, 'then')",
            (PASSWORD,),
        )
    conn.close()
    with Engine(home) as engine:
        assert stored_value(home, "smtp_password").startswith("enc:v1:")
        assert engine.config.get("smtp_password") == PASSWORD


def test_with_the_key_lost_the_password_can_still_be_set_again(home: Path) -> None:
    with Engine(home) as engine:
        engine.config.set("smtp_password", PASSWORD)
    (home / "keys" / "secrets.key").unlink()
    with Engine(home) as engine:
        with pytest.raises(SecretError) as err:
            engine.config.get("smtp_password")
        assert "smtp_password" in err.value.hint
        engine.config.set("smtp_password", "new-one")
        assert engine.config.get("smtp_password") == "new-one"
