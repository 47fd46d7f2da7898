"""Contact Recorder migration (seed F36-F40): legacy trees from scripts/gen-contact-recorder,
migrated in place, compared with the generator's truth, played, verified, interrupted and re-run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from mm_engine.catalogue import SearchQuery
from mm_engine.contact_recorder.importer import Summary
from mm_engine.contact_recorder.legacy_format import (
    LegacyFormatError,
    parse_call,
    parse_connector_file,
)
from mm_engine.domain import Direction, OwnerKind, Verification
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.principal import SYSTEM, Principal, Role
from mm_engine.session import Session
from tests.service_helpers import MM

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "scripts" / "gen-contact-recorder"
PROGRESS = re.compile(r"^\s*(\d+)% ([\d,]+)/([\d,]+) records: ([\d,]+) migrated")


def generate(dest: Path, records: int, seed: int = 3, faults: float = 0.02) -> list[dict[str, Any]]:
    truth = dest.with_name(dest.name + ".truth.jsonl")
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            str(dest),
            "--records",
            str(records),
            "--seed",
            str(seed),
            "--faults",
            str(faults),
            "--truth",
            str(truth),
        ],
        check=True,
        capture_output=True,
    )
    return [json.loads(line) for line in truth.read_text(encoding="utf-8").splitlines()]


def migrate(engine: Engine, source: Path, principal: Principal = SYSTEM) -> Summary:
    return Session(engine, principal).migrate_contact_recorder(source)


def rows_by_path(engine: Engine) -> dict[str, sqlite3.Row]:
    return {
        r["path"]: r
        for r in engine.db.query(
            "SELECT r.*, m.root, m.names, m.job_id FROM recordings r"
            " JOIN migrated_recordings m ON m.recording_id = r.id"
        )
    }


def expected_start(truth: dict[str, Any]) -> datetime:
    text = truth["start"].replace("Z", "+00:00")
    value = datetime.fromisoformat(text)
    return value.astimezone() if truth["start_naive"] else value


# -- the legacy formats --------------------------------------------------------------------------


def test_call_details_tolerate_missing_and_extra_fields() -> None:
    bare = parse_call(b"<recording><start>2019-03-27 16:35:09</start></recording>", "f-17")
    assert bare.details.call_id == "f-17"  # no reference: the file's name
    assert bare.details.start == datetime(2019, 3, 27, 16, 35, 9).astimezone()
    assert bare.details.direction is Direction.INTERNAL
    assert (bare.details.parties, bare.details.agents, bare.details.owner) == ([], [], "")
    assert (bare.duration_s, bare.checksum, bare.archives, bare.warnings) == (None, "", [], [])
    assert not bare.details.authenticated

    rich = parse_call(
        """<?xml version="1.0"?>
        <CallRecord xmlns:q="urn:acme" recorder="CR-01">
          <Call-Reference>4711</Call-Reference>
          <START_TIME>2019-03-27T16:35:09+01:00</START_TIME>
          <length>0:03:05</length>
          <direction>Incoming</direction>
          <parties>
            <party number="0201234567" name="Jan Müller"/>
            <party><number>214</number><name>Anna</name></party>
            <party>Reception desk</party>
          </parties>
          <initiator type="Hunt Group">Sales</initiator>
          <agent number="214" name="Anna"/>
          <skillGroup>Sales</skillGroup>
          <CHECKSUM algorithm="sha-256">AB CD
          """.encode()
        + b"ef" * 30
        + b"""</CHECKSUM>
          <archive connector="3" path="\\cr\\2019\\x.wav" archived="2019-03-28T02:00:00Z"/>
          <notes>call back</notes><q:quality>good</q:quality>
        </CallRecord>""",
        "ignored",
    )
    d = rich.details
    assert d.call_id == "4711"
    assert rich.duration_s == 185.0
    assert d.direction is Direction.INBOUND
    assert d.parties == ["0201234567", "214", "Reception desk"]
    assert rich.names == {"0201234567": "Jan Müller", "214": "Anna"}
    assert (d.owner, d.owner_kind, d.agents, d.skill) == (
        "Sales",
        OwnerKind.HUNT_GROUP,
        ["214"],
        "Sales",
    )
    assert rich.checksum == "abcd" + "ef" * 30 and d.authenticated
    assert [(a.connector, a.path) for a in rich.archives] == [("3", "cr/2019/x.wav")]
    assert rich.warnings == []

    odd = parse_call(
        b"<r><start>2019-01-01T10:00:00Z</start><direction>sideways</direction>"
        b"<duration>long</duration><checksum algorithm='MD5'>0123</checksum></r>",
        "x",
    )
    assert odd.details.direction is Direction.INTERNAL and odd.duration_s is None
    assert odd.details.authenticated and odd.checksum == ""  # authenticated, not verifiable
    assert len(odd.warnings) == 3 and any("MD5" in w for w in odd.warnings)


@pytest.mark.parametrize(
    ("data", "words", "category"),
    [
        (b"<r><callReference>1</callReference></r>", "no <start>", "no usable start time"),
        (b"<r><start>yesterday</start></r>", "invalid <start> 'yesterday'", "no usable start time"),
        (
            b"<r><start>2019-01-01T10:00:00Z</start>",
            "not well-formed XML",
            "call details unreadable",
        ),
        (b'<!DOCTYPE r [<!ENTITY a "b">]><r/>', "DOCTYPE", "call details unreadable"),
    ],
)
def test_unusable_call_details_say_why(data: bytes, words: str, category: str) -> None:
    with pytest.raises(LegacyFormatError) as caught:
        parse_call(data, "x")
    assert words in str(caught.value) and caught.value.category == category


def test_connector_file_keeps_no_secret_and_counts_what_is_not_migrated() -> None:
    legacy = parse_connector_file(
        b"""<cr><settings><callStoragePath>D:\\calls</callStoragePath>
        <smtp><server>m</server><password>p</password></smtp></settings>
        <alarms><alarm id="1"/><alarm id="2"/></alarms>
        <connectors>
          <connector id="7" type="NAS" created="2016-01-01T00:00:00Z" password="pw">
            <share>10.0.0.1/arch</share><User>cr</User><smbPassword>x</smbPassword><extra>1</extra>
          </connector>
          <connector id="7" type="S3"/>
          <connector id="8"><bucket>b</bucket></connector>
        </connectors></cr>"""
    )
    assert [(c.legacy_id, c.kind) for c in legacy.connectors] == [("7", "smb")]
    nas = legacy.connectors[0]
    assert nas.settings == {"share": "10.0.0.1/arch", "user": "cr", "extra": "1"}
    assert set(nas.dropped_secrets) == {"password", "smbpassword"}
    assert len(legacy.problems) == 2  # the repeated id, the one without a type
    assert legacy.ignored == {"settings": 3, "alarms": 2}


# -- migrating a generated tree ------------------------------------------------------------------


def test_generated_tree_migrates_as_the_generator_says(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "cr"
    truth = generate(source, 500)
    summary = migrate(engine, source)

    expected = [t for t in truth if t["expect"] == "migrated"]
    skipped = [t for t in truth if t["expect"] == "skipped"]
    assert skipped and any(not t["local"] for t in expected)  # the tree has every case
    assert (summary.total, summary.migrated, summary.skipped) == (
        len(truth),
        len(expected),
        len(skipped),
    )
    assert summary.skipped_by_reason == dict(Counter(t["category"] for t in skipped))
    assert {s.file: s.category for s in summary.skipped_files} == {
        t["file"]: t["category"] for t in skipped
    }
    assert summary.remote_only == sum(not t["local"] for t in expected)

    # connectors (F37): the four with a counterpart, named MigratedX-Timestamp, no secrets
    created = {c["legacy_id"]: c for c in summary.connectors_created}
    assert sorted(created) == ["1", "2", "3", "4"]
    assert all(re.fullmatch(r"Migrated\d-\d{8}-\d{6}", c["name"]) for c in created.values())
    assert [c["legacy_type"] for c in summary.connectors_skipped] == ["FTP"]
    nas = engine.connectors.get(created["1"]["name"])
    assert nas.kind == "smb" and nas.settings["password"] == ""
    assert nas.settings["username"] == "cr-archive"
    stored = engine.db.query_one("SELECT settings FROM connectors WHERE id = ?", (nas.id,))
    assert stored is not None and "Winter2015" not in stored["settings"]
    s3 = engine.connectors.get(created["3"]["name"])
    assert (s3.settings["folder"], s3.settings["secret_access_key"]) == ("contact-recorder", "")
    # F38: alarms and settings are only counted
    assert summary.not_migrated == {"settings": 6, "alarms": 3}
    assert engine.config.get("smtp_server") == "" and engine.connectors.active_name() == ""

    rows = rows_by_path(engine)
    assert sorted(rows) == sorted(t["path"] for t in expected)
    copies = {
        r["recording_id"]: r
        for r in engine.db.query(
            "SELECT c.*, k.name FROM archive_copies c JOIN connectors k ON k.id = c.connector_id"
        )
    }
    name_of = {legacy_id: c["name"] for legacy_id, c in created.items()}
    for t in expected:
        row = rows[t["path"]]
        rec = engine.catalogue.get(row["id"])
        d = rec.details
        assert d.call_id == t["call_id"]
        assert d.start == expected_start(t)
        assert rec.duration_s == pytest.approx(t["duration_s"])
        assert d.direction.value == t["direction"]
        assert d.parties == t["parties"] and d.agents == t["agents"]
        assert d.owner == t["owner"]
        assert (d.owner_kind.value if d.owner_kind else None) == t["owner_kind"]
        assert (d.target, d.skill) == (t["target"], t["skill"])
        assert d.authenticated == t["authenticated"] and rec.sha256 == t["sha256"]
        assert rec.size == t["size"]
        assert json.loads(row["names"]) == t["names"]
        assert row["root"] == str(source) and row["local_present"] == 0
        copy = copies.get(row["id"])
        if t["connector"] is None:
            assert copy is None
        else:  # only the newest connector's copy is kept (F37)
            assert copy is not None and copy["name"] == name_of[t["connector"]]
            assert copy["remote_path"] == t["remote_path"]
    for legacy_id, c in created.items():
        info = engine.connectors.get(c["name"])
        assert info.archived_count == sum(t["connector"] == legacy_id for t in expected)

    # one place to search: a legacy party number finds its recording
    sample = next(t for t in expected if t["parties"])
    found = engine.catalogue.search(SearchQuery(terms=sample["parties"][0], limit=100)).items
    assert rows[sample["path"]]["id"] in {r.id for r in found}

    # audited as configuration when it starts and when it ends
    events = [
        json.loads(r["details"])
        for r in engine.db.query("SELECT details FROM audit WHERE action = 'configuration'")
    ]
    phases = [e["phase"] for e in events if e.get("op") == "contact recorder migration"]
    assert phases == ["started", "finished"]

    # a second run over the same tree adds nothing and reuses the connectors
    again = migrate(engine, source)
    assert again.migrated == 0
    assert again.skipped_by_reason["already migrated"] == len(expected)
    assert again.connectors_created == []
    assert sorted(c["name"] for c in again.connectors_reused) == sorted(name_of.values())
    assert len(rows_by_path(engine)) == len(expected)


def test_migrated_recordings_play_and_verify_where_they_are(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "cr"
    truth = generate(source, 120, seed=5, faults=0)
    migrate(engine, source)
    rows = rows_by_path(engine)
    local = [t for t in truth if t["local"]]
    signed = [t for t in local if t["sha256"]]
    unsigned = [t for t in local if not t["sha256"]]
    assert len(signed) >= 3 and unsigned
    session = Session(engine, SYSTEM)

    # plays from the legacy tree: the very bytes there, decodable audio
    first = signed[0]
    replay = session.replay(rows[first["path"]]["id"])
    with replay.open_audio() as fh:
        assert fh.read() == (source / first["path"]).read_bytes()
    with replay.open_audio() as fh:
        audio, rate = sf.read(fh)
    assert rate == 8000 and len(audio) == 4000

    ids = {t["path"]: rows[t["path"]]["id"] for t in local}
    results = {r.id: r.verification for r in engine.catalogue.verify(ids.values())}
    assert all(results[ids[t["path"]]] is Verification.VERIFIED for t in signed)
    assert all(results[ids[t["path"]]] is Verification.CANNOT_VERIFY for t in unsigned)

    # a changed legacy file is tampered; a missing one cannot be verified nor played
    gone = next(t for t in signed if t["connector"] is None)  # no archive copy to fall back on
    tampered, edited = [t for t in signed if t is not gone][:2]
    path = source / tampered["path"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.unlink()  # a new file, not the one shared through hard links
    path.write_bytes(bytes(data))
    (source / gone["path"]).unlink()
    engine.db.execute_write(
        "UPDATE recordings SET owner = 'someone else' WHERE id = ?", (ids[edited["path"]],)
    )
    after = {
        r.id: r.verification
        for r in engine.catalogue.verify([ids[t["path"]] for t in (tampered, gone, edited)])
    }
    assert after == {
        ids[tampered["path"]]: Verification.TAMPERED,
        ids[gone["path"]]: Verification.CANNOT_VERIFY,
        ids[edited["path"]]: Verification.TAMPERED,
    }
    with pytest.raises(NotFound, match="migrated from Contact Recorder"):
        engine.catalogue.open_audio(engine.catalogue.get(ids[gone["path"]]))


def test_recordings_without_a_checksum_archive_and_download_as_unverifiable(
    engine: Engine, tmp_path: Path
) -> None:
    """Nothing vouches for them, so they are neither refused as damaged nor called tampered."""
    source = tmp_path / "cr"
    truth = generate(source, 40, seed=7, faults=0)
    migrate(engine, source)
    rows = rows_by_path(engine)
    unsigned = [rows[t["path"]]["id"] for t in truth if t["local"] and not t["sha256"]]
    assert unsigned
    session = Session(engine, SYSTEM)
    session.connectors_add("nas", "local", {"path": str(tmp_path / "nas")})
    session.connectors_activate("nas")
    report = session.archive_run()
    archived = {
        i for i in unsigned if any(c["connector"] == "nas" for c in engine.connectors.copies(i))
    }
    assert set(unsigned) <= archived, report
    assert not [a for a in engine.alarms.list() if a["type"] == "FILE_ERROR"]
    download = session.download(unsigned[:2], tmp_path / "dl")
    with zipfile.ZipFile(download.path) as zf:
        page = zf.read("index.html").decode()
    assert "not verified" not in page.replace("cannot verify", "")


def test_only_administrators_migrate_and_a_bad_source_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    with pytest.raises(Refused, match="only administrators may"):
        migrate(engine, tmp_path, Principal("std", Role.STANDARD))
    with pytest.raises(InvalidInput, match="is not a folder"):
        migrate(engine, tmp_path / "nowhere")
    source = tmp_path / "cr"
    generate(source, 20)
    (source / "connectors.xml").write_text("<cr><connectors>", encoding="utf-8")
    with pytest.raises(InvalidInput, match="connector settings file"):
        migrate(engine, source)
    assert engine.db.query_one("SELECT count(*) FROM recordings")[0] == 0  # type: ignore[index]
    assert engine.connectors.list() == []


# -- F39: killed midway, run again ---------------------------------------------------------------


def test_a_killed_migration_is_undone_by_the_next_run(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "cr"
    truth = generate(source, 6000, seed=11)
    expected = sum(t["expect"] == "migrated" for t in truth)
    env = {**os.environ, "MM_HOME": str(home)}

    proc = subprocess.Popen(
        [MM, "migrate", "contact-recorder", str(source)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = ""
    for line in proc.stderr:
        seen += line
        match = PROGRESS.match(line)
        if match and int(match.group(4).replace(",", "")) > 0:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, seen

    with Engine(home) as engine:
        job = engine.db.query_one(
            "SELECT id, status, progress, total FROM jobs WHERE kind = 'contact-recorder-migration'"
        )
        assert job is not None and job["status"] == "running"  # it never finished
        partial = engine.db.query_one("SELECT count(*) FROM migrated_recordings")[0]  # type: ignore[index]
        assert 0 < partial < expected
        made = [c.name for c in engine.connectors.list()]  # by name: Migrated1 first
        assert len(made) == 4
        renamed = made[0]
        engine.connectors.edit(renamed, new_name="Old NAS archive")

    rerun = subprocess.run(
        [MM, "migrate", "contact-recorder", str(source), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(rerun.stdout)
    assert PROGRESS.search(rerun.stderr.splitlines()[-1])
    removed = summary["removed_first"]
    assert removed["recordings"] == partial
    assert sorted(removed["connectors_removed"]) == sorted(made[1:])
    assert removed["connectors_kept"] == [
        {"name": "Old NAS archive", "was": renamed, "why": "renamed"}
    ]
    assert summary["migrated"] == expected
    assert summary["skipped"] == len(truth) - expected
    assert len(summary["connectors_created"]) == 4

    with Engine(home) as engine:
        total = engine.db.query_one("SELECT count(*), count(DISTINCT path) FROM recordings")
        assert total is not None and tuple(total) == (expected, expected)  # no duplicates
        jobs = {r["id"]: r["status"] for r in engine.db.query("SELECT id, status FROM jobs")}
        assert sorted(jobs.values()) == ["cancelled", "done"]
        owners = {r[0] for r in engine.db.query("SELECT DISTINCT job_id FROM migrated_recordings")}
        assert owners == {k for k, v in jobs.items() if v == "done"}
        made_by = dict(
            engine.db.query(
                "SELECT c.name, j.status FROM connectors c"
                " JOIN migrated_connectors m ON m.connector_id = c.id"
                " JOIN jobs j ON j.id = m.job_id"
            )
        )
        assert len(made_by) == 5  # the four of the completed run, and the renamed one
        assert made_by.pop("Old NAS archive") == "cancelled"
        assert set(made_by.values()) == {"done"}
