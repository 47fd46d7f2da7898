"""Connectors (seed F14-F22): records, sealed secrets, tests, activation, and `mm connectors`.

Real SQLite, real folders for the ``local`` type, and the real S3 servers of tests/stores/s3.py
(moto for a working bucket, s3rver for a wrong key, a dead port for an unreachable one).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mm_engine.alarms import AlarmType
from mm_engine.audit import AuditAction
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, InvalidSetting, NotFound, Refused
from mm_engine.principal import Principal, Role
from mm_engine.session import Session
from mm_engine.storage.base import Accessibility
from tests.conftest import AddRecording
from tests.service_helpers import mm
from tests.stores.net import free_port
from tests.stores.s3 import S3RVER_BUCKET, S3Server

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

ADMIN = Principal("alice", Role.ADMINISTRATOR)
STANDARD = Principal("sam", Role.STANDARD)
END_USER = Principal("eve", Role.END_USER)


def folder_settings(path: Path) -> dict[str, str]:
    return {"path": str(path)}


def raw_db_bytes(engine: Engine) -> bytes:
    """Everything SQLite has on disk for this database, WAL included."""
    root = engine.data_dir.db
    return b"".join(
        p.read_bytes() for p in (root, root.with_name(root.name + "-wal")) if p.exists()
    )


# -- records ----------------------------------------------------------------------------------
def test_a_connector_is_added_listed_and_shown_with_its_settings(
    engine: Engine, tmp_path: Path
) -> None:
    added = engine.connectors.add("NAS archive", "local", folder_settings(tmp_path / "nas"))
    assert (added.name, added.kind, added.active, added.encrypt) == (
        "NAS archive",
        "local",
        False,
        False,
    )
    assert added.settings == {"path": str(tmp_path / "nas")}
    [row] = engine.connectors.list()
    assert row.to_dict()["name"] == "NAS archive"
    assert set(row.to_dict()) >= {
        "name",
        "type",
        "active",
        "accessible",
        "pending",
        "last_archived_at",
    }
    assert engine.connectors.get("nas ARCHIVE").id == added.id  # names ignore case


def test_settings_are_validated_naming_the_field(
    engine: Engine, tmp_path: Path, moto_s3: S3Server
) -> None:
    with pytest.raises(InvalidSetting) as missing:
        engine.connectors.add("S3", "s3", {"access_key_id": "AK", "secret_access_key": "x"})
    assert missing.value.key == "bucket"
    with pytest.raises(InvalidSetting) as unknown:
        engine.connectors.add("S3", "s3", {**moto_s3.settings("b"), "colour": "red"})
    assert unknown.value.key == "colour"
    with pytest.raises(InvalidSetting) as relative:
        engine.connectors.add("L", "local", {"path": "relative/dir"})
    assert relative.value.key == "path" and "absolute" in relative.value.message
    with pytest.raises(InvalidSetting) as kind:
        engine.connectors.add("X", "floppy", {})
    assert kind.value.key == "type"
    with pytest.raises(InvalidInput):
        engine.connectors.add("../evil", "local", folder_settings(tmp_path))
    engine.connectors.add("Same", "local", folder_settings(tmp_path / "a"))
    with pytest.raises(Refused, match="exists already"):
        engine.connectors.add("SAME", "local", folder_settings(tmp_path / "b"))
    assert [c.name for c in engine.connectors.list()] == ["Same"]


def test_secrets_are_sealed_at_rest_masked_when_shown_and_never_logged(
    engine: Engine, moto_s3: S3Server, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = moto_s3.settings(s3_bucket, secret_access_key=SECRET)
    engine.connectors.add("Cloud", "s3", settings, encrypt=True)
    shown = engine.connectors.get("Cloud")
    assert shown.settings["secret_access_key"] == "••••"
    assert shown.settings["access_key_id"] == moto_s3.key
    assert SECRET not in json.dumps([c.to_dict() for c in engine.connectors.list()])
    stored = engine.db.query_one("SELECT settings FROM connectors WHERE name = 'Cloud'")
    assert stored is not None
    assert json.loads(stored[0])["secret_access_key"].startswith("enc:v1:")
    engine.connectors.test("Cloud")
    engine.connectors.activate("Cloud")
    engine.connectors.edit("Cloud", {"folder": "elsewhere"})
    engine.archiver.run_once()
    assert SECRET.encode() not in raw_db_bytes(engine)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    # the sealed secret still works: the store opened with it reached the bucket
    assert engine.connectors.get("Cloud").accessibility == "ok"


def test_editing_changes_only_what_is_given_and_keeps_secrets(
    engine: Engine, moto_s3: S3Server, s3_bucket: str
) -> None:
    engine.connectors.add("Cloud", "s3", moto_s3.settings(s3_bucket, secret_access_key=SECRET))
    engine.connectors.edit("Cloud", {"folder": "calls/2026"})
    info = engine.connectors.get("Cloud")
    assert info.settings["folder"] == "calls/2026"
    assert engine.connectors.test("Cloud").ok  # the kept secret still opens the bucket
    engine.connectors.edit("Cloud", {"secret_access_key": "another-secret-value"})
    row = engine.db.query_one("SELECT * FROM connectors WHERE name = 'Cloud'")
    assert row is not None
    assert engine.connectors._open_settings(row)["secret_access_key"] == "another-secret-value"
    with pytest.raises(InvalidSetting) as bad:
        engine.connectors.edit("Cloud", {"bucket": ""})
    assert bad.value.key == "bucket"
    assert engine.connectors.get("Cloud").settings["folder"] == "calls/2026"


def test_a_rename_keeps_the_connector_active(engine: Engine, tmp_path: Path) -> None:
    engine.connectors.add("Old", "local", folder_settings(tmp_path / "a"))
    engine.connectors.activate("old")
    engine.connectors.edit("Old", new_name="New name")
    assert engine.connectors.get("New name").active
    assert engine.config.get("active_connector") == "New name"
    with pytest.raises(NotFound):
        engine.connectors.get("Old")


def test_encryption_once_on_cannot_be_switched_off(engine: Engine, tmp_path: Path) -> None:
    engine.connectors.add("Plain", "local", folder_settings(tmp_path / "p"))
    switched = engine.connectors.edit("Plain", encrypt=True)
    assert switched.encrypt and switched.key_id
    assert (engine.data_dir.keys / f"archive-{switched.key_id}.key").exists()
    with pytest.raises(Refused) as refused:
        engine.connectors.edit("Plain", encrypt=False)
    assert "cannot be switched off" in refused.value.message
    assert "add a new connector" in refused.value.hint
    assert engine.connectors.get("Plain").encrypt
    # not even behind the engine's back
    with sqlite3.connect(engine.data_dir.db) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE connectors SET encrypt = 0")


def test_exactly_one_connector_is_active_and_activating_switches(
    engine: Engine, tmp_path: Path
) -> None:
    for name in ("A", "B"):
        engine.connectors.add(name, "local", folder_settings(tmp_path / name))
    assert engine.connectors.active() is None
    engine.connectors.activate("A")
    engine.connectors.activate("b")
    assert [(c.name, c.active) for c in engine.connectors.list()] == [("A", False), ("B", True)]
    assert engine.config.get("active_connector") == "B"
    with pytest.raises(InvalidSetting, match="no connector named 'C'"):
        engine.config.set("active_connector", "C")
    engine.connectors.deactivate()
    assert engine.connectors.active() is None
    changes = [a for a in engine.alarms.list() if a["type"] == "CONFIGURATION_CHANGED"]
    assert len(changes) == 3


def test_remove_works_until_the_connector_has_archived_anything(
    engine: Engine, tmp_path: Path, add_recording: AddRecording
) -> None:
    engine.connectors.add("Spare", "local", folder_settings(tmp_path / "s"))
    engine.connectors.activate("Spare")
    engine.connectors.remove("spare")
    assert engine.connectors.list() == []
    assert engine.config.get("active_connector") == ""

    rec = add_recording()
    engine.connectors.add("Used", "local", folder_settings(tmp_path / "u"))
    engine.connectors.activate("Used")
    assert engine.archiver.run_once().archived == 1
    engine.catalogue.delete([rec.id])  # even with the recording gone, it has archived
    with pytest.raises(Refused) as refused:
        engine.connectors.remove("Used")
    assert "cannot be deleted" in refused.value.message and "1 recording" in refused.value.message
    assert "Activate another connector" in refused.value.hint
    assert [c.name for c in engine.connectors.list()] == ["Used"]


# -- testing a connection ---------------------------------------------------------------------
def test_a_test_says_how_the_connector_is_and_the_list_remembers_it(
    engine: Engine, tmp_path: Path, moto_s3: S3Server, s3_bucket: str, s3rver: S3Server
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    engine.connectors.add("Folder", "local", folder_settings(tmp_path / "ok"))
    engine.connectors.add("Blocked", "local", folder_settings(blocker / "archive"))
    engine.connectors.add("Bucket", "s3", moto_s3.settings(s3_bucket))
    wrong = s3rver.settings(S3RVER_BUCKET, access_key_id="AKIAWRONG", secret_access_key="nope")
    engine.connectors.add("Wrong key", "s3", wrong)
    nowhere = S3Server(f"http://127.0.0.1:{free_port()}", "AK", "SK").settings("mm-nowhere")
    engine.connectors.add("Nowhere", "s3", nowhere)

    results = {n: engine.connectors.test(n) for n in ("Folder", "Blocked", "Bucket")}
    results["Wrong key"] = engine.connectors.test("Wrong key")
    results["Nowhere"] = engine.connectors.test("Nowhere")
    assert {n: r.accessibility for n, r in results.items()} == {
        "Folder": Accessibility.OK,
        "Blocked": Accessibility.UNREACHABLE,
        "Bucket": Accessibility.OK,
        "Wrong key": Accessibility.DENIED,
        "Nowhere": Accessibility.UNREACHABLE,
    }
    assert results["Folder"].message == "Connector Folder is accessible."
    assert "refused access" in results["Wrong key"].message
    assert "cannot be reached" in results["Nowhere"].message
    listed = {c.name: c for c in engine.connectors.list()}
    assert listed["Wrong key"].accessibility == "denied"
    assert listed["Nowhere"].last_test_at is not None


def test_settings_can_be_tested_before_they_are_saved(
    engine: Engine, moto_s3: S3Server, s3_bucket: str
) -> None:
    result = engine.connectors.test_settings("New", "s3", moto_s3.settings(s3_bucket))
    assert result.ok
    assert engine.connectors.list() == []


# -- who may -----------------------------------------------------------------------------------
def test_standard_users_see_connectors_and_only_administrators_change_them(
    engine: Engine, tmp_path: Path, moto_s3: S3Server, s3_bucket: str
) -> None:
    admin = Session(engine, ADMIN)
    admin.connectors_add("Cloud", "s3", moto_s3.settings(s3_bucket, secret_access_key=SECRET))
    standard = Session(engine, STANDARD)
    assert [c.name for c in standard.connectors_list()] == ["Cloud"]
    assert standard.connectors_show("Cloud").settings["secret_access_key"] == "••••"
    assert standard.archive_status()["connectors"][0]["name"] == "Cloud"
    attempts: list[Callable[[], object]] = [
        lambda: standard.connectors_add("X", "local", folder_settings(tmp_path)),
        lambda: standard.connectors_edit("Cloud", {"folder": "x"}),
        lambda: standard.connectors_test("Cloud"),
        lambda: standard.connectors_activate("Cloud"),
        lambda: standard.connectors_deactivate(),
        lambda: standard.connectors_remove("Cloud"),
        lambda: standard.archive_run(),
    ]
    for attempt in attempts:
        with pytest.raises(Refused, match="only administrators may"):
            attempt()
    with pytest.raises(Refused):
        Session(engine, END_USER).connectors_list()
    admin.connectors_activate("Cloud")
    admin.archive_run()
    events = engine.audit.list(limit=100).items
    assert SECRET not in json.dumps([e.details for e in events])
    added = [e for e in events if e.details.get("op") == "connector add"]
    assert added and added[0].details["settings"]["secret_access_key"] == "••••"
    refused = [e for e in events if e.details.get("refused")]
    assert len(refused) == len(attempts) + 1
    assert all(e.action == AuditAction.CONFIGURATION for e in refused[1:])


# -- the command line --------------------------------------------------------------------------
def test_mm_connectors_end_to_end(
    home: Path, tmp_path: Path, moto_s3: S3Server, s3_bucket: str
) -> None:
    s3 = moto_s3.settings(s3_bucket)
    base = ["--type", "s3"] + [
        arg
        for k in ("bucket", "folder", "access_key_id", "endpoint_url")
        for arg in ("--set", f"{k}={s3[k]}")
    ]

    on_argv = mm(home, "connectors", "add", "Cloud", *base, "--set", f"secret_access_key={SECRET}")
    assert on_argv.returncode == 2
    assert "--secret secret_access_key" in on_argv.stderr

    missing = mm(home, "connectors", "add", "Cloud", *base)
    assert missing.returncode == 2
    assert "'secret_access_key'" in missing.stderr and "--secret" in missing.stderr

    added = mm(
        home,
        "connectors", "add", "Cloud", *base, "--secret", "secret_access_key",
        "--activate", "--test", "--json",
        stdin=f"{moto_s3.secret}\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["active"] and data["test"]["ok"]
    assert data["settings"]["secret_access_key"] == "••••"

    listed = mm(home, "connectors", "list")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "TYPE", "ACTIVE", "ACCESSIBLE"]
    assert row.split()[:4] == ["Cloud", "s3", "yes", "ok"]
    assert moto_s3.secret not in listed.stdout

    shown = mm(home, "connectors", "show", "cloud")
    assert "settings.secret_access_key  ••••" in shown.stdout

    folder = mm(
        home, "connectors", "add", "Disk", "--type", "local", "--set", f"path={tmp_path / 'd'}"
    )
    assert folder.returncode == 0, folder.stderr
    assert mm(home, "connectors", "test", "Disk").stdout == "Connector Disk is accessible.\n"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    mm(home, "connectors", "edit", "Disk", "--set", f"path={blocker / 'sub'}")
    down = mm(home, "connectors", "test", "Disk")
    assert down.returncode == 1 and "cannot be reached" in down.stderr

    encrypted = mm(home, "connectors", "edit", "Disk", "--encrypt", "--rename", "Vault", "--json")
    assert json.loads(encrypted.stdout)["encrypt"] is True
    off = mm(home, "connectors", "edit", "Vault", "--no-encrypt")
    assert off.returncode == 3 and "cannot be switched off" in off.stderr

    assert mm(home, "connectors", "activate", "Vault").returncode == 0
    rows = json.loads(mm(home, "connectors", "list", "--json").stdout)
    assert {r["name"]: r["active"] for r in rows} == {"Cloud": False, "Vault": True}
    assert mm(home, "connectors", "deactivate").returncode == 0
    assert mm(home, "connectors", "remove", "Vault").returncode == 3  # no terminal, no --yes
    assert mm(home, "connectors", "remove", "Vault", "--yes").returncode == 0
    types = json.loads(mm(home, "connectors", "types", "--json").stdout)
    s3_type = next(t for t in types if t["type"] == "s3")
    assert {"name": "secret_access_key", "secret": True}.items() <= next(
        f for f in s3_type["fields"] if f["name"] == "secret_access_key"
    ).items()


def test_an_archive_error_alarm_is_cleared_by_a_successful_test(
    engine: Engine, tmp_path: Path, add_recording: AddRecording
) -> None:
    add_recording()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    engine.connectors.add("Disk", "local", folder_settings(blocker / "sub"))
    engine.connectors.activate("Disk")
    engine.archiver.run_once()
    assert [a["type"] for a in engine.alarms.list(include_cleared=False)].count(
        AlarmType.ARCHIVE_ERROR.value
    ) == 1
    blocker.unlink()
    assert engine.connectors.test("Disk").ok
    assert AlarmType.ARCHIVE_ERROR.value not in [
        a["type"] for a in engine.alarms.list(include_cleared=False)
    ]
