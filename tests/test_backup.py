"""Backup and restore (seed F4): database, configuration and keys in one password-protected file.

A restored installation on a "fresh machine" (a new data directory) must search, play and verify
every recording whose files are reachable, open its sealed secrets and its encrypted archive
copies, and keep its audit chain verifiable.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mm_engine.backup import BackupError, WrongPassword, create_backup, restore_backup
from mm_engine.catalogue import SearchQuery
from mm_engine.domain import Verification
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from mm_engine.paths import DataDir
from mm_engine.principal import SYSTEM, Principal, Role
from mm_engine.session import Session
from mm_engine.storage.archive_keys import ArchiveKeys
from mm_tui.cli import app
from tests.test_rebuild import CALLS, catalogue, ingest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "backup-pass-1"


def mm(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def listing(root: Path) -> dict[str, bytes]:
    """Every file and its bytes, but the engine lock (it only says who runs the engine)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "engine.lock"
    }


@pytest.fixture
def installation(engine: Engine, tmp_path: Path) -> dict[str, Any]:
    """A working installation: recordings on an "additional disk", an account, a sealed SMTP
    password and an encrypting connector holding archive copies."""
    engine.config.set("call_storage_path", str(tmp_path / "disk"))
    ingest(engine, tmp_path / "handover")
    engine.users.add(SYSTEM, "alice", Role.ADMINISTRATOR, "alice-password")
    engine.config.set("smtp_password", "smtp-secret-1")
    engine.connectors.add("nas", "local", {"path": str(tmp_path / "nas")}, encrypt=True)
    engine.connectors.activate("nas")
    assert engine.archiver.run_once().archived == len(CALLS)
    return {"catalogue": catalogue(engine), "key_id": engine.signer.key_id}


def test_a_restored_installation_searches_plays_verifies_and_opens_its_secrets(
    engine: Engine, installation: dict[str, Any], tmp_path: Path
) -> None:
    file = tmp_path / "mm.mmb"
    manifest = Session(engine, SYSTEM).backup_create(file, PASSWORD)

    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    raw = file.read_bytes()
    assert raw.startswith(b"MMBACKUP")
    assert b"SQLite format 3" not in raw and b"C-1001" not in raw and b"mm-archive-key" not in raw
    assert manifest.counts["recordings"] == 6 and manifest.counts["users"] == 1
    assert {"signing.key", "secrets.key"} <= set(manifest.keys)
    assert any(k.startswith("archive-") for k in manifest.keys)
    created = engine.audit.list().items[0]
    assert (created.action, created.details["op"]) == ("configuration", "backup create")

    target = tmp_path / "fresh-machine"
    result = restore_backup(target, file, PASSWORD, actor=SYSTEM.name)

    assert (result.recordings, result.files_present, result.files_missing) == (6, 6, 0)
    assert result.audit_ok and result.moved_aside == []
    assert stat.S_IMODE((target / "mm.db").stat().st_mode) == 0o600
    for key in (target / "keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with Engine(target) as fresh:
        assert fresh.signer.key_id == installation["key_id"]
        assert catalogue(fresh) == installation["catalogue"]  # verifies: signing key is back
        assert [v.verification for v in fresh.catalogue.verify()] == [Verification.VERIFIED] * 6
        rec = fresh.catalogue.search(SearchQuery(terms=["Support-EN"])).items[0]
        with fresh.catalogue.open_audio(rec) as fh:
            played = fh.read()
        assert played == (tmp_path / "disk" / rec.path).read_bytes()
        assert fresh.config.get("smtp_password") == "smtp-secret-1"  # secrets key is back
        assert fresh.users.authenticate("alice", "alice-password").role is Role.ADMINISTRATOR
        [copy] = fresh.connectors.copies(rec.id)
        assert copy["encrypted"]
        with fresh.connectors.open_archived(rec.id) as fh:  # archive key is back
            assert fh.read() == played
        report = fresh.audit.verify()
        assert report.ok
        restored = [e for e in fresh.audit.list().items if e.details.get("op") == "backup restore"]
        assert restored and restored[0].user == SYSTEM.name


WRITER = r"""
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from mm_engine.audit import insert_event
from mm_engine.catalogue import NewRecording, insert_recording
from mm_engine.domain import CallDetails
from mm_engine.engine import Engine

home, stop = Path(sys.argv[1]), Path(sys.argv[2])
with Engine(home) as eng:
    n = 0
    while not stop.exists():
        n += 1
        d = CallDetails(call_id=f"W{n}", start=datetime(2026, 1, 1, tzinfo=UTC),
                        parties=[f"p{n}", "x"], agents=[f"a{n}"])
        rec = NewRecording(details=d, duration_s=1.0, path=f"w/{n}.opus", size=1,
                           sha256="0" * 64, signature="s", key_id="k",
                           source_key=uuid.uuid4().hex, source_name="")

        def write(conn, rec=rec):
            insert_recording(conn, rec, 1)
            insert_event(conn, "writer", "configuration", {"path": rec.path}, datetime.now(UTC))

        eng.db.write(write)
"""


def _recordings(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    except sqlite3.OperationalError:  # the writer has not created it yet
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM recordings").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    finally:
        conn.close()


def _wait_for_more_than(db: Path, count: int) -> int:
    while (now := _recordings(db)) <= count:
        time.sleep(0.02)  # pacing only: nothing is asserted about time
    return now


def test_backups_taken_while_another_process_writes_are_consistent(
    home: Path, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), str(stop)], cwd=ROOT, env=env
    )
    files = []
    try:
        seen = 0
        for n in range(3):
            seen = _wait_for_more_than(home / "mm.db", seen + 40)  # writes go on between
            files.append(tmp_path / f"b{n}.mmb")
            create_backup(DataDir(home), files[-1], PASSWORD)
    finally:
        stop.touch()
        assert writer.wait(timeout=120) == 0

    counts = []
    for n, file in enumerate(files):
        result = restore_backup(tmp_path / f"r{n}", file, PASSWORD, actor="test")
        assert result.audit_ok, result.audit_problem
        conn = sqlite3.connect(tmp_path / f"r{n}" / "mm.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.execute("INSERT INTO recordings_fts (recordings_fts) VALUES ('integrity-check')")
            recordings = conn.execute("SELECT count(*) FROM recordings").fetchone()[0]
            events = conn.execute("SELECT count(*) FROM audit WHERE user = 'writer'").fetchone()[0]
            incomplete = conn.execute(
                "SELECT count(*) FROM recordings r WHERE (SELECT count(*) FROM recording_members"
                " m WHERE m.recording_id = r.id) != 3"
            ).fetchone()[0]
        finally:
            conn.close()
        # each write put a recording, its members and its audit event in one transaction:
        # a snapshot that cut through writes would show them apart
        assert recordings == events == result.manifest.counts["recordings"]
        assert incomplete == 0
        counts.append(recordings)
    assert counts == sorted(set(counts))  # three different moments


def test_a_wrong_password_or_a_damaged_file_changes_nothing(
    engine: Engine, installation: dict[str, Any], tmp_path: Path
) -> None:
    file = tmp_path / "mm.mmb"
    Session(engine, SYSTEM).backup_create(file, PASSWORD)
    fresh = tmp_path / "fresh"
    with pytest.raises(WrongPassword, match="does not open"):
        restore_backup(fresh, file, "not-the-password", actor="test")
    assert not fresh.exists()

    in_use = DataDir(tmp_path / "in-use")
    Engine(in_use.root).close()
    before = listing(in_use.root)
    with pytest.raises(WrongPassword):
        restore_backup(in_use.root, file, "not-the-password", actor="test", force=True)
    assert listing(in_use.root) == before

    data = file.read_bytes()
    cut = tmp_path / "cut.mmb"
    cut.write_bytes(data[:-100])
    flipped = tmp_path / "flipped.mmb"
    flipped.write_bytes(
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :]
    )
    for bad in (cut, flipped):
        with pytest.raises(BackupError, match=r"damaged|cut short"):
            restore_backup(fresh, bad, PASSWORD, actor="test")
        assert not fresh.exists()
        with pytest.raises(BackupError):
            restore_backup(in_use.root, bad, PASSWORD, actor="test", force=True)
        assert listing(in_use.root) == before


def test_restore_refuses_an_installation_in_use_and_force_moves_it_aside(
    engine: Engine, installation: dict[str, Any], tmp_path: Path
) -> None:
    file = tmp_path / "mm.mmb"
    Session(engine, SYSTEM).backup_create(file, PASSWORD)
    other = tmp_path / "other"
    with Engine(other) as old:
        old.audit.record(None, "old-admin", "configuration", {"op": "before the restore"})
        newer_key = ArchiveKeys(old.data_dir.keys).create()  # made after the backup

    with pytest.raises(Refused, match="in use"):
        restore_backup(other, file, PASSWORD, actor="test")

    result = restore_backup(other, file, PASSWORD, actor="test", force=True)

    aside = [Path(p).name for p in result.moved_aside]
    assert any(n.startswith("mm.db.before-restore-") for n in aside)
    assert any(n.startswith("keys.before-restore-") for n in aside)
    assert result.keys_carried_over == [f"archive-{newer_key.key_id_hex}.key"]
    [old_db] = [
        Path(p)
        for p in result.moved_aside
        if re.fullmatch(r"mm\.db\.before-restore-\w+", Path(p).name)
    ]
    conn = sqlite3.connect(old_db)
    assert conn.execute("SELECT user FROM audit ORDER BY id DESC").fetchone()[0] == "old-admin"
    conn.close()
    with Engine(other) as restored:
        assert catalogue(restored) == installation["catalogue"]
        assert restored.audit.verify().ok


def test_a_backup_from_a_newer_mm_is_refused_before_anything_changes(
    engine: Engine, tmp_path: Path
) -> None:
    engine.close()
    conn = sqlite3.connect(engine.data_dir.db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    file = tmp_path / "future.mmb"
    assert create_backup(engine.data_dir, file, PASSWORD).schema_version == 99
    with pytest.raises(Refused, match="newer than this mm"):
        restore_backup(tmp_path / "fresh", file, PASSWORD, actor="test")
    assert not (tmp_path / "fresh").exists()


def test_only_administrators_back_up_and_the_password_must_be_long_enough(
    engine: Engine, tmp_path: Path
) -> None:
    bob = Session(engine, Principal("bob", Role.STANDARD))
    with pytest.raises(Refused, match="only administrators"):
        bob.backup_create(tmp_path / "b.mmb", PASSWORD)
    assert engine.audit.list().items[0].details["refused"] is True
    with pytest.raises(InvalidInput, match="too short"):
        Session(engine, SYSTEM).backup_create(tmp_path / "b.mmb", "short")
    assert not (tmp_path / "b.mmb").exists()


def test_cli_backup_and_restore_with_the_password_on_stdin(
    engine: Engine, home: Path, tmp_path: Path
) -> None:
    ingest(engine, tmp_path / "handover")  # call storage at the default, inside the data dir
    file = tmp_path / "mm.mmb"

    short = mm("backup", "create", str(file), input="short\n")
    assert short.exit_code == 2 and "too short" in short.stderr
    made = mm("backup", "create", str(file), input=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.stderr
    assert f"Backed up to {file}: 6 recording(s) catalogued" in made.stderr
    assert "Recordings are not included" in made.stderr
    assert mm("backup", "create", str(file), input=f"{PASSWORD}\n").exit_code == 3

    target = tmp_path / "new-home"
    wrong = mm("--home", str(target), "backup", "restore", str(file), input="wrong-pass\n")
    assert wrong.exit_code == 3 and "does not open" in wrong.stderr
    assert not target.exists()

    # the default call storage path lies inside the old data directory: not on this "machine"
    first = mm("--home", str(target), "backup", "restore", str(file), input=f"{PASSWORD}\n")
    assert first.exit_code == 0, first.stderr
    assert "Audit trail intact" in first.stderr
    assert f"The call storage path {target / 'recordings'} from the backup does not exist" in (
        first.stderr.replace("\n", " ")
    )
    assert "--call-storage-path" in first.stderr

    again = mm(
        "--home",
        str(target),
        "backup",
        "restore",
        str(file),
        "--force",
        "--call-storage-path",
        str(home / "recordings"),
        "--json",
        input=f"{PASSWORD}\n",
    )
    assert again.exit_code == 0, again.stderr
    assert '"files_present": 6' in again.stdout and '"advice": ""' in again.stdout
    assert mm("--home", str(target), "audit", "verify").exit_code == 0
    verified = mm("--home", str(target), "recordings", "verify", "--all", "--json")
    assert verified.exit_code == 0 and verified.stdout.count('"verified"') == 6
