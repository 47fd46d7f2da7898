"""Migrating the library between storages (seed F23): local disk, S3, Azure Blob, in any order.

Real SQLite, recordings made as ingest makes them (conftest.add_recording), the real moto S3
server and Azurite (tests/stores/). A migration is killed with SIGKILL in a child process and
resumed by the real `mm storage migrate`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from mm_engine.domain import Recording
from mm_engine.engine import Engine
from mm_engine.errors import Refused
from tests.conftest import BASE_START, AddRecording
from tests.service_helpers import mm, wait_for
from tests.stores import azure as az
from tests.stores.s3 import FOLDER as S3_FOLDER
from tests.stores.s3 import S3Server


def make_library(add_recording: AddRecording, count: int) -> list[Recording]:
    return [
        add_recording(call_id=f"M{i:03d}", start=BASE_START + timedelta(days=i % 3))
        for i in range(count)
    ]


def add_s3(engine: Engine, server: S3Server, bucket: str, name: str = "S3") -> None:
    engine.connectors.add(name, "s3", server.settings(bucket))


def add_azure(engine: Engine, azurite: az.Azurite, name: str = "Azure") -> str:
    container = azurite.new_container()
    engine.connectors.add(name, "azure", azurite.settings(container, az.container_sas(container)))
    return container


def s3_objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    client = server.client()
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
    }


def azure_blobs(azurite: az.Azurite, container: str) -> dict[str, bytes]:
    client = azurite.service().get_container_client(container)
    return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}


def all_verified(engine: Engine) -> bool:
    return {r.verification.value for r in engine.catalogue.verify(None)} == {"verified"}


def test_local_to_s3_to_azure_to_local_keeps_the_tree_verifies_and_switches(
    engine: Engine,
    add_recording: AddRecording,
    moto_s3: S3Server,
    s3_bucket: str,
    azurite: az.Azurite,
    tmp_path: Path,
) -> None:
    recs = make_library(add_recording, 5)
    old_root = engine.store().root
    originals = {r.path: (old_root / r.path).read_bytes() for r in recs}
    add_s3(engine, moto_s3, s3_bucket)
    container = add_azure(engine, azurite)

    to_s3 = engine.storage_move.migrate("S3")

    assert (to_s3["status"], to_s3["moved"], to_s3["copied"]) == ("done", 5, 5)
    assert engine.config.get("call_storage_type") == "S3"
    assert s3_objects(moto_s3, s3_bucket) == {f"{S3_FOLDER}/{p}": b for p, b in originals.items()}
    assert all((old_root / p).read_bytes() == b for p, b in originals.items())  # source kept
    assert to_s3["source_kept"] is True
    assert all_verified(engine)  # read from S3 now
    with engine.catalogue.open_audio(recs[0]) as fh:
        assert fh.read() == originals[recs[0].path]

    to_azure = engine.storage_move.migrate("Azure", delete_source=True)

    assert (to_azure["status"], to_azure["copied"], to_azure["removed_from_old"]) == ("done", 5, 5)
    assert engine.config.get("call_storage_type") == "Azure"
    assert azure_blobs(azurite, container) == {f"{az.FOLDER}/{p}": b for p, b in originals.items()}
    assert s3_objects(moto_s3, s3_bucket) == {}  # asked to delete the source
    assert all_verified(engine)

    back = tmp_path / "newdisk" / "calls"
    home_again = engine.storage_move.migrate(f"local:{back}")

    assert home_again["status"] == "done" and home_again["to"] == str(back)
    assert (engine.config.get("call_storage_type"), engine.config.get("call_storage_path")) == (
        "local",
        str(back),
    )
    assert {p: (back / p).read_bytes() for p in originals} == originals
    assert len(azure_blobs(azurite, container)) == 5  # kept: not asked to delete
    assert all_verified(engine)
    audio = engine.catalogue.open_audio(recs[-1])
    assert isinstance(audio, io.BufferedReader)  # a local file again
    audio.close()


# Runs a migration in a child process and stops it for good after ``stop_at`` recordings, at a
# point the parent sees (a marker file), where the parent kills it with SIGKILL. Batches of 4
# so the saved position (after the first batch) and the copies after it are both exercised.
CHILD = """
import sys, time
import mm_engine.storage_move as sm
from mm_engine.engine import Engine

home, target, stop_at, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sm.BATCH = 4

def progress(done, total):
    if done == stop_at:
        open(marker, "w").close()
        time.sleep(600)

with Engine(home) as engine:
    engine.storage_move.migrate(target, progress=progress)
"""


def test_a_killed_migration_resumes_where_it_stopped_and_switches_only_at_the_end(
    engine: Engine,
    add_recording: AddRecording,
    moto_s3: S3Server,
    s3_bucket: str,
    home: Path,
    tmp_path: Path,
) -> None:
    recs = make_library(add_recording, 12)
    old_root = engine.store().root
    add_s3(engine, moto_s3, s3_bucket)
    marker = tmp_path / "six-done"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), "S3", "6", str(marker)],
        env={**os.environ, "MM_HOME": str(home)},
    )
    try:
        wait_for(marker.exists, timeout=60)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    # killed: nothing switched, the old tree complete, six copies made
    assert engine.config.get("call_storage_type") == "local"
    assert len(s3_objects(moto_s3, s3_bucket)) == 6
    assert all((old_root / r.path).exists() for r in recs)
    assert all_verified(engine)
    status = json.loads(mm(home, "storage", "status", "--json").stdout)
    assert status["migration"]["to"] == "S3" and status["migration"]["phase"] == "copy"
    assert status["migration"]["done"] == 4  # saved after the first batch of four

    out = mm(home, "storage", "migrate", "--to", "S3", "--json")

    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # the two copied after the saved position are found, checked and kept, not sent again
    assert (result["moved"], result["copied"], result["already_there"]) == (12, 6, 2)
    assert engine.config.get("call_storage_type") == "S3"
    assert set(s3_objects(moto_s3, s3_bucket)) == {f"{S3_FOLDER}/{r.path}" for r in recs}
    assert all((old_root / r.path).exists() for r in recs)  # source kept
    assert all_verified(engine)
    assert json.loads(mm(home, "storage", "status", "--json").stdout)["migration"] is None


class Interrupt(Exception):
    pass


def test_an_unfinished_migration_must_be_finished_or_abandoned_first(
    engine: Engine,
    add_recording: AddRecording,
    moto_s3: S3Server,
    s3_bucket: str,
    azurite: az.Azurite,
    home: Path,
) -> None:
    make_library(add_recording, 3)
    add_s3(engine, moto_s3, s3_bucket)
    add_azure(engine, azurite)

    def stop(done: int, total: int) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        engine.storage_move.migrate("Azure", progress=stop)
    with pytest.raises(Refused, match="not finished") as refused:
        engine.storage_move.migrate("S3")
    assert "mm storage migrate --to Azure" in refused.value.hint

    out = mm(home, "storage", "migrate", "--abandon")
    assert out.returncode == 0, out.stderr
    assert "Gave up the migration to Azure" in out.stdout
    assert engine.config.get("call_storage_type") == "local"

    assert engine.storage_move.migrate("S3")["status"] == "done"
    assert engine.config.get("call_storage_type") == "S3"


def test_a_different_file_at_the_target_is_never_overwritten(
    engine: Engine, add_recording: AddRecording, moto_s3: S3Server, s3_bucket: str
) -> None:
    recs = make_library(add_recording, 2)
    add_s3(engine, moto_s3, s3_bucket)
    key = f"{S3_FOLDER}/{recs[1].path}"
    moto_s3.client().put_object(Bucket=s3_bucket, Key=key, Body=b"someone else's file")

    with pytest.raises(Refused, match="already exists") as refused:
        engine.storage_move.migrate("S3")

    assert "not overwritten" in refused.value.message
    assert s3_objects(moto_s3, s3_bucket)[key] == b"someone else's file"
    assert engine.config.get("call_storage_type") == "local"


def test_cli_migrate_guards_and_messages(
    engine: Engine,
    add_recording: AddRecording,
    moto_s3: S3Server,
    s3_bucket: str,
    home: Path,
    tmp_path: Path,
) -> None:
    make_library(add_recording, 2)
    add_s3(engine, moto_s3, s3_bucket)

    # the setting cannot be switched under recordings: the refusal names the command
    out = mm(home, "config", "set", "call_storage_type", "S3")
    assert out.returncode == 3
    assert "mm storage migrate --to S3" in out.stderr

    out = mm(home, "storage", "migrate", "--to", "S3")
    assert out.returncode == 0, out.stderr
    assert "Migrated 2 recordings" in out.stdout and "were kept" in out.stdout

    # `storage move` is the local-disk case; from hosted storage it points at migrate
    out = mm(home, "storage", "move", str(tmp_path / "disk"))
    assert out.returncode == 3
    assert f"mm storage migrate --to local:{tmp_path / 'disk'}" in out.stderr

    out = mm(home, "storage", "migrate", "--to", "S3")
    assert out.returncode == 0 and "already" in out.stdout
    out = mm(home, "storage", "migrate", "--to", "Nowhere")
    assert out.returncode == 1 and "No connector named 'Nowhere'" in out.stderr
    engine.connectors.add("NAS", "local", {"path": str(tmp_path / "nas")})
    out = mm(home, "storage", "migrate", "--to", "NAS")
    assert out.returncode == 3
    assert "Connector 'NAS' cannot hold the call storage" in out.stderr
