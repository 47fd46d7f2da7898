"""Hosted call storage (seed F9 call storage type, F19): ingest writes to S3, playback, download
and verify read from there, an outage loses nothing, and days to keep = 0 deletes nothing.

Real SQLite, real WAV inputs encoded by the real pipeline, the real moto S3 server
(tests/stores/s3.py); the outage test runs the real service (`mm --no-ui`) against an S3
endpoint where nothing listens yet, then starts a moto server there.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
import soundfile as sf

from mm_engine.alarms import AlarmType
from mm_engine.engine import Engine
from mm_engine.errors import InvalidSetting, Refused
from mm_engine.ingest.pipeline import Outcome
from mm_engine.principal import Principal, Role
from mm_engine.retention import PruneReport, Retention
from mm_engine.service import Service
from mm_engine.session import Session
from tests.conftest import BASE_START, AddRecording
from tests.service_helpers import mm, start_service, stop_service, wait_for
from tests.stores.net import free_port, wait_port
from tests.stores.s3 import FOLDER, MOTO_KEY, MOTO_SECRET, S3Server
from tests.test_service import alarm_types, catalogued, configure, drop

ADMIN = Principal("alice", Role.ADMINISTRATOR)


def use_s3(engine: Engine, server: S3Server, bucket: str, name: str = "Cloud") -> None:
    engine.connectors.add(name, "s3", server.settings(bucket))
    engine.config.set("call_storage_type", name)


def bucket_objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    client = server.client()
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
    }


@pytest.fixture
def handover(engine: Engine) -> Path:
    folder = engine.data_dir.root / "handover"
    engine.config.set("handover_folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_ingest_stores_in_s3_and_play_download_verify_read_from_there(
    engine: Engine, handover: Path, moto_s3: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    use_s3(engine, moto_s3, s3_bucket)
    service = Service(engine)

    results = [service.ingest(drop(handover, f"call{i}.wav", f"C-{i}")) for i in range(3)]

    assert [r.outcome for r in results] == [Outcome.INGESTED] * 3
    assert list(handover.iterdir()) == []  # inputs and sidecars consumed
    rows = engine.db.query("SELECT id, path, sha256 FROM recordings ORDER BY id")
    stored = bucket_objects(moto_s3, s3_bucket)
    assert set(stored) == {f"{FOLDER}/{r['path']}" for r in rows}  # the same tree, in the bucket
    assert not engine.primary.local_store().root.exists()  # nothing on the local disk
    assert list((engine.data_dir.root / "spool").iterdir()) == []  # no upload left behind

    session = Session(engine, ADMIN)
    assert {v.verification.value for v in session.verify(None)} == {"verified"}
    first = rows[0]
    replay = session.replay(first["id"])
    with replay.open_audio() as fh:
        data, rate = sf.read(io.BytesIO(fh.read()))
    assert rate == 8000 and abs(len(data) / rate - 1.0) < 0.05  # the one-second call
    download = session.download([first["id"]], tmp_path / "downloads")
    assert download.path.read_bytes() == stored[f"{FOLDER}/{first['path']}"]
    assert download.not_verified == []
    shown = json.loads(
        mm(engine.data_dir.root, "recordings", "show", str(first["id"]), "--json").stdout
    )
    assert shown["path"] == f"s3://{s3_bucket}/{FOLDER}/{first['path']}"


def test_days_to_keep_0_deletes_nothing_and_hosted_storage_is_never_pruned_for_space(
    engine: Engine, add_recording: AddRecording, moto_s3: S3Server, s3_bucket: str
) -> None:
    use_s3(engine, moto_s3, s3_bucket)
    for i in range(3):
        add_recording(start=BASE_START - timedelta(days=400 + i))  # written through to S3
    engine.config.set("retention_days", "0")
    engine.config.set("disk_min_free_gb", "1000000")  # a local disk would be "full"
    ten_years_on = time.time() + 3650 * 86400
    retention = Retention(
        engine.config, engine.catalogue, engine.alarms, engine.store, clock=lambda: ten_years_on
    )

    assert retention.apply_days_to_keep() == PruneReport(0, 0)
    assert retention.ensure_free_space() == PruneReport(0, 0)

    assert len(bucket_objects(moto_s3, s3_bucket)) == 3
    assert len(engine.db.query("SELECT id FROM recordings")) == 3
    assert not [a for a in engine.alarms.list() if a["type"] == AlarmType.DISK_SPACE_ERROR.value]
    # days to keep does apply to a hosted call storage when it is set
    engine.config.set("retention_days", "30")
    assert retention.apply_days_to_keep().deleted == 3
    assert bucket_objects(moto_s3, s3_bucket) == {}


def test_the_call_storage_type_names_a_connector_that_may_hold_the_library(
    engine: Engine, add_recording: AddRecording, moto_s3: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    engine.connectors.add("Vault", "s3", moto_s3.settings(s3_bucket), encrypt=True)
    engine.connectors.add("NAS", "local", {"path": str(tmp_path / "nas")})
    engine.connectors.add("Archive", "s3", moto_s3.settings(s3_bucket, folder="archive"))
    engine.connectors.add("Cloud", "s3", moto_s3.settings(s3_bucket))
    engine.connectors.activate("Archive")
    for name, why in (
        ("Nowhere", "no connector named"),
        ("Vault", "encrypts"),
        ("NAS", "type local"),
        ("Archive", "active archive connector"),
    ):
        with pytest.raises(InvalidSetting, match=why):
            engine.config.set("call_storage_type", name)

    engine.config.set("call_storage_type", "cloud")  # names ignore case, as connectors do
    with pytest.raises(Refused, match="holds the call storage"):
        engine.connectors.activate("Cloud")  # the archive must be another place

    add_recording()
    with pytest.raises(Refused) as refused:
        engine.config.set("call_storage_type", "local")
    assert "mm storage migrate --to local:" in refused.value.hint
    # the path is not used while the storage is hosted, so it may change
    engine.config.set("call_storage_path", str(tmp_path / "later"))
    # a renamed connector is named again (the recordings were unreachable by the old name)
    engine.connectors.edit("Cloud", new_name="Cloud 2")
    engine.config.set("call_storage_type", "Cloud 2")
    engine.connectors.edit("Cloud 2", new_name="Cloud")
    engine.config.set("call_storage_type", "Cloud")

    status = json.loads(mm(engine.data_dir.root, "storage", "status", "--json").stdout)
    assert (status["type"], status["connector"], status["accessible"]) == ("s3", "Cloud", "ok")
    assert status["where"] == f"s3://{s3_bucket}/{FOLDER}"
    assert (status["recordings"], status["free_bytes"]) == (1, None)


def cleared(home: Path, alarm_type: str) -> bool:
    conn = sqlite3.connect(home / "mm.db")
    try:
        rows = conn.execute(
            "SELECT cleared_at FROM alarms WHERE type = ?", (alarm_type,)
        ).fetchall()
    finally:
        conn.close()
    return bool(rows) and all(r[0] for r in rows)


def test_an_unreachable_call_storage_keeps_the_input_with_an_alarm_then_catches_up(
    engine: Engine, home: Path
) -> None:
    from moto.server import ThreadedMotoServer

    port = free_port()  # nothing listens here yet: the storage is down
    server = S3Server(f"http://127.0.0.1:{port}", MOTO_KEY, MOTO_SECRET)
    engine.connectors.add("Cloud", "s3", server.settings("mm-primary"))
    engine.config.set("call_storage_type", "Cloud")
    handover = configure(home)
    wav = drop(handover, "late.wav", "C-LATE")
    proc = start_service(home)
    moto = None
    try:
        wait_for(lambda: "FILE_ERROR" in alarm_types(home))
        assert wav.exists() and wav.with_suffix(".json").exists()  # kept, not quarantined
        assert list(engine.data_dir.quarantine.iterdir()) == []
        assert catalogued(home) == []
        [alarm] = [a for a in engine.alarms.list() if a["type"] == "FILE_ERROR"]
        assert "Cloud" in alarm["message"] and "cannot be reached" in alarm["message"]

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        wait_port(port)
        server.client().create_bucket(Bucket="mm-primary")

        wait_for(lambda: catalogued(home) == ["C-LATE"])
        wait_for(lambda: not wav.exists())
        wait_for(lambda: cleared(home, "FILE_ERROR"))
        [key] = bucket_objects(server, "mm-primary")
        assert key.startswith(f"{FOLDER}/2026/11/20/C-LATE-1")
    finally:
        stop_service(proc)
        if moto is not None:
            moto.stop()
