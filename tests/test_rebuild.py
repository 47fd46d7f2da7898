"""Rebuilding the catalogue from the stored files (issue 7): the way back when mm.db is lost.

Every catalogue here is made by the real ingest pipeline from real WAV files with sidecars, so
the Opus comments are exactly what ingest writes. After the database is deleted, the rebuilt
catalogue is compared with the original field by field, and then searched, played and verified.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mm_engine.catalogue import SearchQuery
from mm_engine.domain import Verification
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.principal import SYSTEM, Principal, Role
from mm_engine.rebuild import iter_report_lines
from mm_engine.service import Service
from mm_engine.session import Session
from mm_engine.storage.archive_keys import ArchiveKeys
from mm_engine.storage.crypt_store import CryptStore
from mm_engine.storage.local import LocalStore
from mm_tui.cli import app
from tests.audio_files import write_sidecar, write_wav
from tests.conftest import opus_bytes

CET = timezone(timedelta(hours=1))
IST = timezone(timedelta(hours=5, minutes=30))

CALLS: list[dict[str, Any]] = [
    {
        "call_id": "C-1001",
        "start": datetime(2026, 3, 2, 9, 0, 12, tzinfo=CET),
        "direction": "inbound",
        "parties": ["+31205550001", "201"],
        "agents": ["Alice Jones"],
        "owner": "Sales",
        "owner_kind": "hunt_group",
        "target": "+31205550100",
        "skill": "Support-EN",
        "authenticated": True,
    },
    {  # the same call again: seq 2
        "call_id": "C-1001",
        "start": datetime(2026, 3, 2, 9, 4, 0, tzinfo=CET),
        "direction": "inbound",
        "parties": ["+31205550001", "202"],
        "agents": ["Bob Smit"],
        "owner": "Sales",
        "owner_kind": "hunt_group",
    },
    {
        "call_id": "C-1002",
        "start": datetime(2026, 3, 3, 17, 30, 5, 250000, tzinfo=IST),
        "direction": "outbound",
        "parties": ["203", "+442071234567"],
        "owner": "203",
        "owner_kind": "user",
        "target": "+442071234567",
    },
    {"call_id": "int/77 x", "start": datetime(2026, 3, 4, 0, 0, tzinfo=UTC)},
    {
        "call_id": "C-1004",
        "start": datetime(2026, 4, 1, 12, 0, tzinfo=CET),
        "direction": "internal",
        "parties": ["204", "205"],
        "agents": ["204", "205"],
        "owner": "ACC-9",
        "owner_kind": "account_code",
        "skill": "Billing",
    },
    {
        "call_id": "C-1005",
        "start": datetime(2026, 4, 2, 8, 15, tzinfo=CET),
        "direction": "inbound",
        "parties": ["0201234567"],
        "owner": "Line 3",
        "owner_kind": "line",
        "target": "Line 3",
    },
]

FIELDS = [
    "call_id",
    "seq",
    "start",
    "duration_s",
    "parties",
    "agents",
    "direction",
    "owner",
    "owner_kind",
    "target",
    "skill",
    "authenticated",
    "path",
    "size",
    "sha256",
    "signature",
    "key_id",
]


def ingest(engine: Engine, folder: Path, calls: list[dict[str, Any]] = CALLS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = Service(engine).pipeline()
    for n, call in enumerate(calls):
        wav = write_wav(folder / f"in{n}.wav", seconds=1.0 + 0.37 * n, rate=8000)
        write_sidecar(wav, **call)
        assert pipeline.ingest(wav).outcome.value == "ingested"


def catalogue(engine: Engine) -> dict[str, dict[str, Any]]:
    """path -> the fields compared, plus what verify says and the members and search rows."""
    rows = engine.db.query(f"SELECT id, {', '.join(FIELDS)} FROM recordings ORDER BY path")
    verdict = {v.id: v.verification for v in engine.catalogue.verify()}
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = {k: row[k] for k in FIELDS}
        item["verification"] = verdict[row["id"]]
        item["members"] = sorted(
            tuple(m)
            for m in engine.db.query(
                "SELECT role, value FROM recording_members WHERE recording_id = ?", (row["id"],)
            )
        )
        out[row["path"]] = item
    return out


def lose_database(engine: Engine) -> None:
    engine.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{engine.data_dir.db}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def original(engine: Engine, tmp_path: Path) -> dict[str, dict[str, Any]]:
    ingest(engine, tmp_path / "handover")
    before = catalogue(engine)
    assert len(before) == len(CALLS)
    assert {v["verification"] for v in before.values()} == {Verification.VERIFIED}
    return before


@pytest.fixture
def reopen(home: Path) -> Iterator[Any]:
    opened: list[Engine] = []

    def open_() -> Engine:
        eng = Engine(home)
        opened.append(eng)
        return eng

    yield open_
    for eng in opened:
        eng.close()


def test_rebuild_from_the_call_storage_gives_back_the_catalogue_field_by_field(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any
) -> None:
    lose_database(engine)
    fresh: Engine = reopen()
    assert catalogue(fresh) == {}

    report = Session(fresh, SYSTEM).catalogue_rebuild(source="local")

    assert (report.files, report.added, report.resigned) == (6, 6, 6)
    assert report.skipped == [] and report.copied == 0
    rebuilt = catalogue(fresh)
    assert rebuilt == original  # every field, the verification result and the members
    # the signing key survived in keys/ and Ed25519 is deterministic: the very same signatures
    assert [r["signature"] for r in rebuilt.values()] == [r["signature"] for r in original.values()]

    # search (full text and filters), play and verify work on the rebuilt rows
    page = fresh.catalogue.search(SearchQuery(terms=["Support-EN"]))
    assert [r.details.call_id for r in page.items] == ["C-1001"]
    assert fresh.catalogue.count(SearchQuery(parties=["+31205550001"])) == 2
    rec = fresh.catalogue.search(SearchQuery(call_id="C-1002")).items[0]
    with fresh.catalogue.open_audio(rec) as fh:
        assert fh.read() == (fresh.store().root / rec.path).read_bytes()
    events = fresh.audit.list().items
    assert events[0].details["op"] == "catalogue rebuild" and events[0].details["added"] == 6
    assert fresh.audit.verify().ok


def test_rebuild_refuses_a_catalogue_with_rows_and_merge_adds_only_the_missing_ones(
    engine: Engine, original: dict[str, dict[str, Any]]
) -> None:
    session = Session(engine, SYSTEM)
    with pytest.raises(Refused, match="already holds 6 recording"):
        session.catalogue_rebuild()
    assert catalogue(engine) == original

    lost = ["2026/03/02/C-1001-2.opus", "2026/04/01/C-1004-1.opus"]
    engine.db.write(
        lambda c: c.execute(f"DELETE FROM recordings WHERE path IN ({','.join('?' * 2)})", lost)
    )
    report = session.catalogue_rebuild(merge=True)

    assert (report.added, report.already_catalogued) == (2, 4)
    assert catalogue(engine) == original


def test_rebuild_from_an_encrypted_archive_folder_restores_the_files_and_the_rows(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any, tmp_path: Path
) -> None:
    # an archive copy of the tree, every file sealed as .mmc with the installation's key
    keys = ArchiveKeys(engine.data_dir.keys)
    archive = CryptStore(LocalStore(tmp_path / "archive"), keys.create(), keys)
    storage = engine.store()
    for path in original:
        with storage.open(path) as fh:
            archive.put(path, fh)
    assert all(p.name.endswith(".opus.mmc") for p in (tmp_path / "archive").rglob("*.*"))
    lose_database(engine)
    shutil.rmtree(storage.root)  # the disk is gone too

    fresh: Engine = reopen()
    report = Session(fresh, SYSTEM).catalogue_rebuild(path=tmp_path / "archive")

    assert (report.added, report.copied, report.decrypted) == (6, 6, 6)
    assert catalogue(fresh) == original
    for rec in fresh.catalogue.iter_oldest():
        with fresh.catalogue.open_audio(rec) as fh:
            assert len(fh.read()) == rec.size


def test_an_encrypted_file_whose_key_is_missing_is_skipped_with_the_key_named(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any, tmp_path: Path
) -> None:
    keys = ArchiveKeys(engine.data_dir.keys)
    key = keys.create()
    archive = CryptStore(LocalStore(tmp_path / "archive"), key)
    with engine.store().open("2026/03/03/C-1002-1.opus") as fh:
        archive.put("2026/03/03/C-1002-1.opus", fh)
    keys.path_for(key.key_id).unlink()
    storage = engine.store().root
    lose_database(engine)
    shutil.rmtree(storage)

    report = Session(reopen(), SYSTEM).catalogue_rebuild(path=tmp_path / "archive")

    assert report.added == 0
    [skip] = report.skipped
    assert skip["path"] == "2026/03/03/C-1002-1.opus.mmc"
    assert f"archive-{key.key_id_hex}.key" in skip["reason"]


def test_older_signatures_are_reused_and_a_tampered_file_stays_tampered(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any, tmp_path: Path
) -> None:
    victim = "2026/03/03/C-1002-1.opus"
    stored = engine.store().root / victim
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # audio changed, comments and length untouched
    stored.write_bytes(bytes(data))
    before = catalogue(engine)
    assert before[victim]["verification"] is Verification.TAMPERED
    engine.close()
    old_db = tmp_path / "old-mm.db"
    shutil.copyfile(engine.data_dir.db, old_db)
    lose_database(engine)

    fresh: Engine = reopen()
    report = Session(fresh, SYSTEM).catalogue_rebuild(signatures_from=old_db)

    assert (report.signatures_reused, report.signatures_kept_failing, report.resigned) == (5, 1, 0)
    assert report.kept_failing == [victim]
    assert catalogue(fresh) == before  # tampered before, tampered after: evidence kept


def test_without_older_signatures_every_recording_is_re_signed_and_the_report_says_so(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any
) -> None:
    lose_database(engine)
    report = Session(reopen(), SYSTEM).catalogue_rebuild()
    lines = "\n".join(iter_report_lines(report))
    assert "6 re-signed with this installation's key" in lines
    assert "authenticity before the rebuild cannot be shown" in lines


def test_rebuild_from_a_connector_records_the_archive_copies(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any, tmp_path: Path
) -> None:
    nas = tmp_path / "nas"
    engine.connectors.add("nas", "local", {"path": str(nas)}, encrypt=True)
    engine.connectors.activate("nas")
    assert engine.archiver.run_once().archived == 6
    lose_database(engine)

    fresh: Engine = reopen()
    # the database (and its connector list) is gone; the connector is added again
    fresh.connectors.add("nas", "local", {"path": str(nas)}, encrypt=True)
    report = Session(fresh, SYSTEM).catalogue_rebuild(source="nas")

    assert (report.source, report.added, report.decrypted) == ("nas", 6, 0)
    assert catalogue(fresh) == original
    copies = fresh.db.query("SELECT remote_path, encrypted FROM archive_copies ORDER BY 1")
    assert [(r[0], r[1]) for r in copies] == [(p, 1) for p in sorted(original)]
    assert fresh.connectors.get("nas").pending == 0  # archiving will not send them again


def test_cli_rebuild_prints_counts_skips_foreign_files_and_refuses_a_second_run(
    engine: Engine, original: dict[str, dict[str, Any]]
) -> None:
    root = engine.store().root
    (root / "2026/05/01").mkdir(parents=True)
    (root / "2026/05/01/foreign-1.opus").write_bytes(opus_bytes())  # no call details
    (root / "notes.txt").write_text("hello")
    lose_database(engine)

    runner = CliRunner()
    first = runner.invoke(app, ["catalogue", "rebuild", "--from", "local"])

    assert first.exit_code == 1, first.stderr
    assert f"Rebuilt the catalogue from {root}: 7 recording file(s), 6 added" in first.stdout
    assert "1 other file(s) ignored" in first.stdout
    assert (
        "skipped 2026/05/01/foreign-1.opus: its Opus comments carry no call_id or start"
        in first.stdout
    )

    second = runner.invoke(app, ["catalogue", "rebuild", "--json"])
    assert second.exit_code == 3
    assert "already holds 6 recording(s)" in second.stderr and "--merge" in second.stderr

    merged = runner.invoke(app, ["catalogue", "rebuild", "--merge", "--json"])
    doc = json.loads(merged.stdout)
    assert (doc["added"], doc["already_catalogued"], len(doc["skipped"])) == (0, 6, 1)


def test_a_rebuild_copy_never_overwrites_a_different_file_in_the_call_storage(
    engine: Engine, original: dict[str, dict[str, Any]], reopen: Any, tmp_path: Path
) -> None:
    victim = "2026/04/02/C-1005-1.opus"
    copy = LocalStore(tmp_path / "copy")
    for path in original:
        copy.put(path, io.BytesIO((engine.store().root / path).read_bytes()))
    ours = engine.store().root / victim
    ours.write_bytes(opus_bytes(300.0))  # a different file where the copy would go
    lose_database(engine)

    report = Session(reopen(), SYSTEM).catalogue_rebuild(path=tmp_path / "copy")

    assert report.added == 5
    assert report.skipped[0]["path"] == victim and "different file" in report.skipped[0]["reason"]
    assert ours.read_bytes() == opus_bytes(300.0)


def test_signatures_from_something_that_is_not_an_mm_database_is_bad_input(
    engine: Engine, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InvalidInput, match="not an mm database"):
        Session(engine, SYSTEM).catalogue_rebuild(signatures_from=other)


def test_only_administrators_rebuild_and_a_refusal_is_audited(engine: Engine) -> None:
    bob = Session(engine, Principal("bob", Role.STANDARD))
    with pytest.raises(Refused, match="only administrators"):
        bob.catalogue_rebuild()
    event = engine.audit.list().items[0]
    assert (event.user, event.details["refused"]) == ("bob", True)
    assert event.details["operation"] == "rebuild the catalogue from storage"


def test_an_unknown_connector_is_named(engine: Engine) -> None:
    with pytest.raises(NotFound, match="nosuch"):
        Session(engine, SYSTEM).catalogue_rebuild(source="nosuch")
