"""Archiving (seed F14, F17, F19, F30): the archive job, its alarms, and life after local files go.

Real SQLite, recordings made as ingest makes them (conftest.add_recording), real folder stores
for the ``local`` connector type and the real moto S3 server (tests/stores/s3.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mm_engine import archiving
from mm_engine.alarms import AlarmType
from mm_engine.archiving import COPIES_IN_FLIGHT, KIND
from mm_engine.domain import Recording, Verification
from mm_engine.engine import Engine
from mm_engine.errors import Refused
from mm_engine.retention import Retention
from mm_engine.service import Service
from tests.conftest import AddRecording
from tests.service_helpers import mm, wait_for
from tests.stores.net import free_port
from tests.stores.s3 import FOLDER, S3Server
from tests.stores.samba import Samba
from tests.stores.smb import settings_for

OLD = datetime.now(UTC) - timedelta(days=400)


def local_bytes(engine: Engine, rec: Recording) -> bytes:
    return (engine.store().root / rec.path).read_bytes()


def played(engine: Engine, rec: Recording) -> bytes:
    with engine.catalogue.open_audio(rec) as fh:
        data: bytes = fh.read()
        return data


def open_alarms(engine: Engine, type_: AlarmType) -> list[dict[str, Any]]:
    return [a for a in engine.alarms.list(include_cleared=False) if a["type"] == type_.value]


def copies(engine: Engine, connector: str) -> list[int]:
    rows = engine.db.query(
        "SELECT c.recording_id FROM archive_copies c JOIN connectors k ON k.id = c.connector_id"
        " WHERE k.name = ? ORDER BY c.recording_id",
        (connector,),
    )
    return [r[0] for r in rows]


def retention(engine: Engine) -> Retention:
    return Retention(engine.config, engine.catalogue, engine.alarms, engine.store)


def local_present(engine: Engine, rec: Recording) -> bool:
    row = engine.db.query_one("SELECT local_present FROM recordings WHERE id = ?", (rec.id,))
    assert row is not None
    return bool(row[0])


@pytest.fixture
def folder_connector(engine: Engine, tmp_path: Path) -> Path:
    """An active ``local`` connector; returns its folder."""
    folder = tmp_path / "archive"
    engine.connectors.add("NAS", "local", {"path": str(folder)})
    engine.connectors.activate("NAS")
    return folder


# -- a run ------------------------------------------------------------------------------------
def test_old_and_new_recordings_are_archived_oldest_first_and_once(
    engine: Engine,
    add_recording: AddRecording,
    folder_connector: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # each copy recorded as soon as it is made (not a batch at a time), so the catalogue shows
    # the order they were made in
    monkeypatch.setattr(archiving, "RECORD_EVERY", 0.0)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    recs = [add_recording(start=base + timedelta(days=d)) for d in (3, 0, 2)]
    snapshots: list[list[int]] = []

    def progress(done: int, total: int) -> None:
        assert total == 3
        snapshots.append(copies(engine, "NAS"))

    report = engine.archiver.run_once(progress)

    assert (report.status, report.archived, report.pending, report.failed) == ("done", 3, 0, [])
    by_age = sorted(recs, key=lambda r: r.details.start)
    order = [
        (set(now) - set(before)).pop()
        for before, now in zip([[], *snapshots], snapshots, strict=False)
    ]
    assert order == [r.id for r in by_age]  # the oldest call first
    for rec in recs:  # the primary layout, under the connector's folder, byte for byte
        assert (folder_connector / rec.path).read_bytes() == local_bytes(engine, rec)
    info = engine.connectors.get("NAS")
    assert info.archived_count == 3 and info.pending == 0 and info.last_archived_at
    mtimes = {p: p.stat().st_mtime_ns for p in folder_connector.rglob("*.opus")}

    again = engine.archiver.run_once()
    assert (again.status, again.archived) == ("done", 0)
    assert {p: p.stat().st_mtime_ns for p in folder_connector.rglob("*.opus")} == mtimes

    late = add_recording(start=base - timedelta(days=30))  # a late arrival, older than all
    assert engine.connectors.get("NAS").pending == 1
    assert engine.archiver.run_once().archived == 1
    assert copies(engine, "NAS") == sorted([*(r.id for r in recs), late.id])


def test_each_copy_records_where_it_is_and_what_it_holds(
    engine: Engine, add_recording: AddRecording, folder_connector: Path
) -> None:
    rec = add_recording()
    engine.archiver.run_once()
    [copy] = engine.connectors.copies(rec.id)
    assert copy["connector"] == "NAS"
    assert copy["remote_path"] == rec.path
    assert copy["size"] == rec.size
    assert copy["sha256"] == rec.sha256 == hashlib.sha256(local_bytes(engine, rec)).hexdigest()
    assert copy["encrypted"] is False


def test_encrypted_copies_open_with_mm_decrypt_and_the_key_alone(
    engine: Engine, home: Path, add_recording: AddRecording, tmp_path: Path
) -> None:
    rec = add_recording()
    folder = tmp_path / "vault"
    engine.connectors.add("Vault", "local", {"path": str(folder)}, encrypt=True)
    engine.connectors.activate("Vault")
    assert engine.archiver.run_once().archived == 1
    original = local_bytes(engine, rec)
    sealed = folder / f"{rec.path}.mmc"
    assert sealed.exists() and not (folder / rec.path).exists()
    assert original[:64] not in sealed.read_bytes()
    out = tmp_path / "recovered.opus"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("mm")),
            "decrypt",
            str(sealed),
            "--key",
            str(engine.data_dir.keys),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == original


def test_archiving_to_s3_mirrors_the_layout_under_the_parent_folder(
    engine: Engine, add_recording: AddRecording, moto_s3: S3Server, s3_bucket: str
) -> None:
    recs = [add_recording(start=OLD + timedelta(hours=h)) for h in range(3)]
    engine.connectors.add("Cloud", "s3", moto_s3.settings(s3_bucket), encrypt=True)
    engine.connectors.activate("Cloud")
    assert engine.archiver.run_once().archived == 3
    listing = moto_s3.client().list_objects_v2(Bucket=s3_bucket)
    assert sorted(o["Key"] for o in listing["Contents"]) == sorted(
        f"{FOLDER}/{r.path}.mmc" for r in recs
    )
    originals = {r.id: local_bytes(engine, r) for r in recs}
    engine.catalogue.drop_local([r.id for r in recs])
    assert {r.id: played(engine, r) for r in recs} == originals


def test_a_nas_gets_every_recording_once_with_several_copies_in_flight(
    engine: Engine, add_recording: AddRecording, samba: Samba
) -> None:
    """Copies to a NAS overlap (COPIES_IN_FLIGHT); each is still checked and recorded once,
    a bad recording among them fails alone, and progress counts up one by one."""
    assert COPIES_IN_FLIGHT["smb"] > 1
    recs = [add_recording(start=OLD + timedelta(minutes=m)) for m in range(12)]
    damaged = recs[5]
    (engine.store().root / damaged.path).write_bytes(b"not the recorded audio")
    folder = f"inflight-{uuid.uuid4().hex[:8]}"
    engine.connectors.add("NAS", "smb", settings_for(samba, folder))
    engine.connectors.activate("NAS")
    counts: list[int] = []

    report = engine.archiver.run_once(lambda done, total: counts.append(done))

    assert (report.status, report.archived, report.failed) == ("done", 11, [damaged.id])
    assert counts == list(range(1, 13))
    good = [r for r in recs if r is not damaged]
    assert copies(engine, "NAS") == sorted(r.id for r in good)
    on_share = samba.folder / folder
    for rec in good:
        assert (on_share / rec.path).read_bytes() == local_bytes(engine, rec)
    assert not (on_share / damaged.path).exists()
    assert not [p for p in on_share.rglob("*") if p.name.startswith(".mm-tmp-")]


# -- when things go wrong ---------------------------------------------------------------------
def test_an_unreachable_connector_raises_one_alarm_keeps_count_and_catches_up_later(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    for h in range(3):
        add_recording(start=OLD + timedelta(hours=h))
    blocker = tmp_path / "nas-down"
    blocker.write_text("the NAS mount is missing: a file stands where its folder should be")
    engine.connectors.add("NAS", "local", {"path": str(blocker / "archive")})
    engine.connectors.activate("NAS")

    first = engine.archiver.run_once()
    second = engine.archiver.run_once()

    assert (first.status, first.archived, first.pending) == ("unreachable", 0, 3)
    assert second.status == "unreachable"
    [alarm] = open_alarms(engine, AlarmType.ARCHIVE_ERROR)
    assert alarm["count"] == 2
    assert str(alarm["message"]).startswith("Connector NAS is not accessible: it cannot be reached")
    info = engine.connectors.get("NAS")
    assert (info.pending, info.accessibility, info.archived_count) == (3, "unreachable", 0)

    blocker.unlink()  # the NAS is back
    back = engine.archiver.run_once()
    assert (back.status, back.archived, back.pending) == ("done", 3, 0)
    assert open_alarms(engine, AlarmType.ARCHIVE_ERROR) == []
    assert engine.connectors.get("NAS").accessibility == "ok"


def test_an_unreachable_s3_endpoint_stops_the_run_and_the_next_run_catches_up(
    engine: Engine, add_recording: AddRecording, moto_s3: S3Server, s3_bucket: str
) -> None:
    recs = [add_recording(start=OLD + timedelta(hours=h)) for h in range(2)]
    dead = f"http://127.0.0.1:{free_port()}"
    engine.connectors.add("Cloud", "s3", moto_s3.settings(s3_bucket, endpoint_url=dead))
    engine.connectors.activate("Cloud")
    report = engine.archiver.run_once()
    assert (report.status, report.pending) == ("unreachable", 2)
    assert len(open_alarms(engine, AlarmType.ARCHIVE_ERROR)) == 1
    engine.connectors.edit("Cloud", {"endpoint_url": moto_s3.endpoint})
    assert engine.archiver.run_once().archived == 2
    assert open_alarms(engine, AlarmType.ARCHIVE_ERROR) == []
    assert copies(engine, "Cloud") == [r.id for r in recs]


def test_a_missing_or_damaged_local_file_raises_file_error_and_the_run_goes_on(
    engine: Engine, add_recording: AddRecording, folder_connector: Path
) -> None:
    good, missing, damaged = (add_recording(start=OLD + timedelta(hours=h)) for h in range(3))
    saved = local_bytes(engine, missing)
    (engine.store().root / missing.path).unlink()
    (engine.store().root / damaged.path).write_bytes(b"not the recorded audio")

    report = engine.archiver.run_once()

    assert (report.status, report.archived, sorted(report.failed)) == (
        "done",
        1,
        [missing.id, damaged.id],
    )
    assert report.pending == 2
    errors = {
        a["params"]["recording"]: a["message"] for a in open_alarms(engine, AlarmType.FILE_ERROR)
    }
    assert set(errors) == {missing.id, damaged.id}
    assert "is missing" in str(errors[missing.id])
    assert "does not match its catalogued checksum" in str(errors[damaged.id])
    assert not (folder_connector / damaged.path).exists()  # a bad copy is not left behind
    assert copies(engine, "NAS") == [good.id]

    (engine.store().root / missing.path).write_bytes(saved)  # restored from a backup
    assert engine.archiver.run_once().archived == 1
    remaining = {a["params"]["recording"] for a in open_alarms(engine, AlarmType.FILE_ERROR)}
    assert remaining == {damaged.id}


@pytest.mark.parametrize("kind", ["smb", "s3", "s3-encrypted"])
def test_a_recording_changed_in_place_never_becomes_a_copy(
    engine: Engine,
    add_recording: AddRecording,
    request: pytest.FixtureRequest,
    kind: str,
) -> None:
    """One flipped bit, same size: the copy is hashed as it is sent, and the read that
    completes it fails, so the NAS never renames it into place and S3 never completes it."""
    good, damaged = (add_recording(start=OLD + timedelta(hours=h)) for h in range(2))
    path = engine.store().root / damaged.path
    audio = bytearray(path.read_bytes())
    audio[len(audio) // 2] ^= 0x10
    path.write_bytes(bytes(audio))
    if kind == "smb":
        samba: Samba = request.getfixturevalue("samba")
        folder = f"changed-{uuid.uuid4().hex[:8]}"
        engine.connectors.add("Remote", "smb", settings_for(samba, folder))
    else:
        server: S3Server = request.getfixturevalue("moto_s3")
        bucket: str = request.getfixturevalue("s3_bucket")
        engine.connectors.add(
            "Remote", "s3", server.settings(bucket), encrypt=kind == "s3-encrypted"
        )
    engine.connectors.activate("Remote")

    report = engine.archiver.run_once()

    assert (report.status, report.archived, report.failed) == ("done", 1, [damaged.id])
    assert copies(engine, "Remote") == [good.id]
    [alarm] = open_alarms(engine, AlarmType.FILE_ERROR)
    assert "does not match its catalogued checksum" in str(alarm["message"])
    if kind == "smb":
        names = sorted(
            str(p.relative_to(samba.folder / folder))
            for p in (samba.folder / folder).rglob("*")
            if p.is_file()
        )
        assert names == [good.path]  # no damaged copy, no temporary file left
    else:
        listing = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        suffix = ".mmc" if kind == "s3-encrypted" else ""
        assert [o["Key"] for o in listing] == [f"{FOLDER}/{good.path}{suffix}"]
        uploads = server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert uploads == []


def test_two_runs_never_overlap(
    engine: Engine, home: Path, add_recording: AddRecording, folder_connector: Path
) -> None:
    recs = [add_recording(start=OLD + timedelta(hours=h)) for h in range(3)]
    first_copied, go_on = threading.Event(), threading.Event()
    results = []

    def slow_progress(done: int, total: int) -> None:
        first_copied.set()
        go_on.wait(60)

    worker = threading.Thread(
        target=lambda: results.append(engine.archiver.run_once(slow_progress))
    )
    worker.start()
    try:
        assert first_copied.wait(60)
        busy = engine.archiver.run_once()
        assert busy.status == "busy" and busy.archived == 0
        cli = mm(home, "archive", "run")  # another process: the service's or a person's
        assert cli.returncode == 3 and "already in progress" in cli.stderr
        status = engine.archiver.status()
        assert status["running"] is not None and status["running"]["connector"] == "NAS"
    finally:
        go_on.set()
        worker.join(60)
    assert results[0].archived == 3
    assert copies(engine, "NAS") == [r.id for r in recs]
    assert engine.connectors.get("NAS").archived_count == 3


def test_a_run_left_by_a_dead_process_does_not_block_the_next(
    engine: Engine, add_recording: AddRecording, folder_connector: Path
) -> None:
    add_recording()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    engine.db.execute_write(
        "INSERT INTO jobs (kind, status, params, created_at, updated_at, owner_pid)"
        " VALUES (?, 'running', '{\"token\": \"x\"}', ?, ?, ?)",
        (KIND, datetime.now(UTC).isoformat(), datetime.now(UTC).isoformat(), gone.pid),
    )
    assert engine.archiver.run_once().archived == 1


def test_a_stopping_service_ends_the_run_after_the_current_file(
    engine: Engine, add_recording: AddRecording, folder_connector: Path
) -> None:
    for h in range(3):
        add_recording(start=OLD + timedelta(hours=h))

    def stop_after_first(done: int, total: int) -> None:
        engine.archiver.stopping.set()

    report = engine.archiver.run_once(stop_after_first)
    assert (report.status, report.archived, report.pending) == ("stopped", 1, 2)
    engine.archiver.stopping.clear()  # the service starts again
    assert engine.archiver.run_once().archived == 2


def test_no_active_connector_archives_nothing(engine: Engine, add_recording: AddRecording) -> None:
    add_recording()
    assert engine.archiver.run_once().status == "no-connector"


# -- switching connectors ---------------------------------------------------------------------
def test_a_new_active_connector_gets_everything_and_old_copies_stay_readable(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = [add_recording(start=OLD + timedelta(hours=h)) for h in range(2)]
    originals = {r.id: local_bytes(engine, r) for r in recs}
    engine.connectors.add("A", "local", {"path": str(tmp_path / "a")}, encrypt=True)
    engine.connectors.add("B", "local", {"path": str(tmp_path / "b")})
    engine.connectors.activate("A")
    engine.archiver.run_once()
    engine.connectors.activate("B")
    assert engine.connectors.get("B").pending == 2
    assert engine.connectors.get("A").pending == 0  # nothing goes to an inactive connector
    engine.archiver.run_once()
    assert copies(engine, "A") == copies(engine, "B") == [r.id for r in recs]

    engine.catalogue.drop_local([r.id for r in recs])
    assert {r.id: played(engine, r) for r in recs} == originals  # from B, the active one
    for rec in recs:
        (tmp_path / "b" / rec.path).unlink()  # B lost them: A's encrypted copies still serve
    assert {r.id: played(engine, r) for r in recs} == originals
    # and a connector that comes after the local files went is filled from the archive
    engine.connectors.add("C", "local", {"path": str(tmp_path / "c")})
    engine.connectors.activate("C")
    assert engine.archiver.run_once().archived == 2
    assert all((tmp_path / "c" / r.path).read_bytes() == originals[r.id] for r in recs)


# -- retention and deletion with an archive (F17, F30) ----------------------------------------
def test_retention_keeps_archived_recordings_playable_and_waits_for_the_rest(
    engine: Engine, add_recording: AddRecording, folder_connector: Path
) -> None:
    archived = [add_recording(start=OLD + timedelta(hours=h)) for h in range(2)]
    engine.archiver.run_once()
    waiting = add_recording(start=OLD + timedelta(hours=5))
    young = add_recording(start=datetime.now(UTC))
    originals = {r.id: local_bytes(engine, r) for r in archived}

    report = retention(engine).apply_days_to_keep()

    assert report.deleted == 2
    assert [local_present(engine, r) for r in archived] == [False, False]
    assert all(not (engine.store().root / r.path).exists() for r in archived)
    assert local_present(engine, waiting) and local_present(engine, young)  # not archived yet
    kept = {r["id"] for r in engine.db.query("SELECT id FROM recordings")}
    assert kept == {archived[0].id, archived[1].id, waiting.id, young.id}
    assert {r.id: played(engine, r) for r in archived} == originals
    assert {v.id: v.verification for v in engine.catalogue.verify()} == dict.fromkeys(
        kept, Verification.VERIFIED
    )
    # without an active connector, an old recording with no copy is deleted as before
    engine.connectors.deactivate()
    assert retention(engine).apply_days_to_keep().deleted == 1
    assert {r["id"] for r in engine.db.query("SELECT id FROM recordings")} == kept - {waiting.id}


def test_low_disk_space_gives_up_archived_recordings_first(
    engine: Engine, add_recording: AddRecording, tmpfs: Path, tmp_path: Path
) -> None:
    engine.config.set("call_storage_path", str(tmpfs / "calls"))
    base = datetime(2026, 1, 1, tzinfo=UTC)
    engine.connectors.add("NAS", "local", {"path": str(tmp_path / "nas")})
    engine.connectors.activate("NAS")
    newer = [add_recording(start=base + timedelta(days=d)) for d in (5, 6)]
    engine.archiver.run_once()
    older = [add_recording(start=base + timedelta(days=d)) for d in range(2)]  # late arrivals
    (tmpfs / "other-data").write_bytes(b"\0" * (6 * 1024 * 1024))
    free = engine.store().free_space()
    assert free is not None
    need = sum(r.size for r in newer) - 1
    engine.config.set("disk_min_free_gb", str((free + need) / 1024**3))

    report = retention(engine).ensure_free_space()

    assert report.deleted == 2
    assert [local_present(engine, r) for r in newer] == [False, False]  # newer, but archived
    assert [local_present(engine, r) for r in older] == [True, True]
    assert engine.db.query_one("SELECT count(*) FROM recordings")[0] == 4  # type: ignore[index]


def test_a_recording_held_only_on_the_archive_cannot_be_deleted(
    engine: Engine, home: Path, add_recording: AddRecording, folder_connector: Path
) -> None:
    remote, local = add_recording(), add_recording()
    engine.archiver.run_once()
    engine.catalogue.drop_local([remote.id])
    with pytest.raises(Refused) as refused:
        engine.catalogue.delete([local.id, remote.id])
    assert f"recording {remote.id}" in refused.value.message
    assert "held only on a remote archive" in refused.value.message
    assert "Leave these ids out" in refused.value.hint
    assert (engine.store().root / local.path).exists()  # nothing was deleted
    cli = mm(home, "recordings", "delete", str(remote.id), "--yes")
    assert cli.returncode == 3 and "held only on a remote archive" in cli.stderr
    assert mm(home, "recordings", "delete", str(local.id), "--yes").returncode == 0


def test_verify_reads_archive_copies_and_catches_a_damaged_one(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    sealed_rec, plain_rec = add_recording(), add_recording()
    engine.connectors.add("Vault", "local", {"path": str(tmp_path / "v")}, encrypt=True)
    engine.connectors.activate("Vault")
    engine.archiver.run_once()
    engine.connectors.add("Plain", "local", {"path": str(tmp_path / "p")})
    engine.connectors.activate("Plain")
    engine.archiver.run_once()
    engine.catalogue.drop_local([sealed_rec.id, plain_rec.id])
    (tmp_path / "p" / sealed_rec.path).unlink()  # so the encrypted copy is the one read
    results = {v.id: v.verification for v in engine.catalogue.verify()}
    assert results == {sealed_rec.id: Verification.VERIFIED, plain_rec.id: Verification.VERIFIED}

    sealed = tmp_path / "v" / f"{sealed_rec.path}.mmc"
    data = bytearray(sealed.read_bytes())
    data[100] ^= 1
    sealed.write_bytes(bytes(data))
    plain = tmp_path / "p" / plain_rec.path
    plain.write_bytes(plain.read_bytes()[:-1] + b"\0")
    results = {v.id: v.verification for v in engine.catalogue.verify()}
    assert results == {sealed_rec.id: Verification.TAMPERED, plain_rec.id: Verification.TAMPERED}


# -- the command line and the service ---------------------------------------------------------
def test_mm_archive_run_and_status(
    home: Path, engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    for h in range(2):
        add_recording(start=OLD + timedelta(hours=h))
    none = mm(home, "archive", "run")
    assert none.returncode == 3 and "No connector is active" in none.stderr
    assert mm(home, "connectors", "add", "NAS", "--type", "local", "--set",
              f"path={tmp_path / 'nas'}", "--activate").returncode == 0  # fmt: skip

    before = mm(home, "archive", "status", "--json")
    assert before.returncode == 0
    assert json.loads(before.stdout)["connectors"][0]["pending"] == 2
    run = mm(home, "archive", "run")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Archived 2 recording(s)") and "0 pending" in run.stdout
    after = json.loads(mm(home, "archive", "status", "--json").stdout)
    assert after["connectors"][0]["pending"] == 0
    assert after["connectors"][0]["archived"] == 2
    assert after["last_run"]["status"] == "done"
    table = mm(home, "archive", "status")
    assert table.stdout.splitlines()[0].split()[:4] == ["NAME", "TYPE", "ACTIVE", "PENDING"]
    assert "Last run" in table.stderr
    again = json.loads(mm(home, "archive", "run", "--json").stdout)
    assert (again["status"], again["archived"]) == ("done", 0)


def test_the_service_archives_every_archive_interval_minutes(home: Path) -> None:
    with Engine(home) as engine:
        engine.config.set("disk_min_free_gb", "0")
        engine.config.set("archive_interval_minutes", "7")
        service = Service(engine)
        service.start()
        try:
            jobs = {job.id: str(job.trigger) for job in service.scheduler.get_jobs()}
        finally:
            service.stop()
    assert jobs["archive"] == "interval[0:07:00]"


def test_the_running_service_archives_by_itself(
    home: Path, engine: Engine, add_recording: AddRecording, folder_connector: Path
) -> None:
    rec = add_recording()
    service = Service(engine)
    service.start()
    try:
        service.scheduler.get_job("archive").modify(next_run_time=datetime.now(UTC))
        wait_for(lambda: (folder_connector / rec.path).exists())
        wait_for(lambda: engine.connectors.get("NAS").pending == 0)
    finally:
        service.stop()
