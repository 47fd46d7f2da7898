"""Archiving to DVD+RW end to end (seed F16, issue 6): sessions, full discs, swaps, the disc
catalogue, reading a recording back from a disc, and failures that lose nothing.

There is no optical drive and no udev daemon here. Real xorriso writes through its ``stdio:``
pseudo-drive to image files that stand in for discs (the connector's ``capacity`` setting gives
their size), and a scripted udev event source (tests/dvd_fakes.ScriptedUdev) stands in for
pyudev's monitor: the test sends the insert and eject events a real drive would, and the real
service reacts to them. Failures only hardware produces (a write error, a disc pulled out as
the burn starts) come from a stand-in program that runs the real xorriso with its writing run
changed (tests/dvd_fakes.xorriso_stand_in).
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from typer.testing import CliRunner

from mm_engine.alarms import AlarmType
from mm_engine.catalogue import NewRecording, insert_recording, next_seq
from mm_engine.connectors import ConnectorInfo
from mm_engine.domain import CallDetails, Recording, Verification
from mm_engine.dvd import archive as dvd_archive
from mm_engine.dvd.disc import DiscNeeded
from mm_engine.dvd.xorriso import Xorriso
from mm_engine.engine import Engine
from mm_engine.principal import SYSTEM
from mm_engine.service import Service
from mm_engine.session import Session
from mm_tui.cli import app
from tests.conftest import opus_bytes
from tests.dvd_fakes import ScriptedUdev, xorriso_stand_in
from tests.service_helpers import wait_for
from tests.test_dvd import foreign_iso

MB = 1 << 20
DISC = 2 * MB  # a small disc: about 17 recordings of 30 seconds
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


class Calls:
    """Catalogued recordings of 30 seconds of real Opus audio (about 80 KB), made as ingest
    makes them, a minute apart."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.made: list[Recording] = []

    def add(self, count: int) -> list[Recording]:
        new = [self._one(len(self.made) + i) for i in range(count)]
        self.made += new
        return new

    def _one(self, n: int) -> Recording:
        engine = self.engine
        details = CallDetails(call_id=f"D{n:04d}", start=RECENT + timedelta(minutes=n))
        data = opus_bytes(300.0 + 100 * (n % 4), 30.0)
        with engine.db.read() as conn:
            seq = next_seq(conn, details.call_id)
        path = f"{details.start:%Y/%m/%d}/{details.call_id}-{seq}.opus"
        engine.store().put(path, io.BytesIO(data))
        digest = hashlib.sha256(data).hexdigest()
        row = NewRecording(
            details=details,
            duration_s=30.0,
            path=path,
            size=len(data),
            sha256=digest,
            signature=engine.signer.sign(digest, details.to_dict()),
            key_id=engine.signer.key_id,
            source_key=uuid.uuid4().hex,
            source_name=f"{details.call_id}.wav",
        )
        rec_id = engine.db.write(lambda conn: insert_recording(conn, row, seq))
        return engine.catalogue.get(rec_id)


@pytest.fixture
def calls(engine: Engine) -> Calls:
    return Calls(engine)


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    """The "drive": the image file at this path is the disc in it (none yet: a blank disc)."""
    folder = tmp_path / "drive"
    folder.mkdir()
    return folder / "disc.iso"


@pytest.fixture
def shelf(tmp_path: Path) -> Path:
    """Where discs taken out of the drive are kept."""
    folder = tmp_path / "shelf"
    folder.mkdir()
    return folder


def add_dvd(engine: Engine, drive: Path, capacity: int = DISC, **kw: Any) -> ConnectorInfo:
    settings = {"drive": f"stdio:{drive}", "label": "ARCH", "capacity": str(capacity)}
    engine.connectors.add("DVD", "dvd", settings, **kw)
    return engine.connectors.activate("DVD")


def open_alarms(engine: Engine, type_: AlarmType) -> list[str]:
    return [
        a["message"] for a in engine.alarms.list(include_cleared=False) if a["type"] == type_.value
    ]


def discs_of(engine: Engine) -> dict[int, str]:
    """recording id -> the volume id of the disc holding its copy (each recording once)."""
    rows = engine.db.query(
        "SELECT c.recording_id, d.volume_id FROM archive_copies c"
        " JOIN dvd_discs d ON d.id = c.disc_id"
    )
    out: dict[int, str] = {}
    for row in rows:
        assert row[0] not in out, f"recording {row[0]} is on two discs"
        out[row[0]] = row[1]
    return out


def check_disc(image: Path, recs: list[Recording], engine: Engine) -> None:
    """The disc holds exactly these recordings, byte for byte, and every file on it reads back
    as its MD5 recorded when it was written."""
    disc = Xorriso(f"stdio:{image}")
    assert disc.check_md5().ok
    on_disc = {f.path.lstrip("/") for f in disc.files() if not f.path.startswith("/.mm-")}
    assert on_disc == {r.path for r in recs}
    local = engine.store().root
    for rec in recs[:3]:
        assert disc.read_bytes(rec.path) == (local / rec.path).read_bytes()


def played(engine: Engine, rec: Recording) -> bytes:
    with engine.catalogue.open_audio(rec) as fh:
        data: bytes = fh.read()
        return data


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def service(engine: Engine) -> Iterator[tuple[Service, ScriptedUdev]]:
    engine.config.set("disk_min_free_gb", "0")
    udev = ScriptedUdev()
    engine.dvd.event_source = udev
    svc = Service(engine)
    svc.start()
    try:
        yield svc, udev
    finally:
        svc.stop()


# -- the technician's day ---------------------------------------------------------------------
def test_a_full_disc_is_ejected_and_what_waits_goes_on_the_next_disc_once_inserted(
    engine: Engine,
    calls: Calls,
    drive: Path,
    shelf: Path,
    service: tuple[Service, ScriptedUdev],
) -> None:
    _svc, udev = service
    first = calls.add(20)
    add_dvd(engine, drive)

    # a blank disc goes in: the service archives at once, fills the disc and asks for another
    udev.attach()
    udev.insert()
    wait_for(lambda: bool(open_alarms(engine, AlarmType.DVD_ERROR)))
    [full] = open_alarms(engine, AlarmType.DVD_ERROR)
    assert "disc ARCH-0001 is full, insert a blank DVD+RW" in full
    [disc1] = engine.dvd.discs_list()
    on_first = sorted(discs_of(engine))
    assert (disc1.volume_id, disc1.state, disc1.full) == ("ARCH-0001", "full", True)
    assert 10 < disc1.recordings == len(on_first) < 20
    assert on_first == [r.id for r in first[: len(on_first)]]  # oldest calls first
    waiting = 20 - len(on_first)
    assert engine.connectors.get("DVD").pending == waiting
    check_disc(drive, first[: len(on_first)], engine)
    status = Session(engine, SYSTEM).dvd_status()[0]
    assert status["disc"]["full"] and status["pending"] == waiting
    assert "insert a blank DVD+RW" in status["problem"]

    # calls keep coming while the technician fetches a blank disc
    later = calls.add(2)
    udev.eject()
    drive.rename(shelf / "ARCH-0001.iso")
    udev.insert()
    wait_for(lambda: engine.connectors.get("DVD").pending == 0)
    wait_for(lambda: not open_alarms(engine, AlarmType.DVD_ERROR))

    where = discs_of(engine)
    assert sorted(where) == sorted(r.id for r in calls.made)  # every recording on exactly one
    on_second = [r for r in calls.made if where[r.id] == "ARCH-0002"]
    assert {r.id for r in on_second} == {r.id for r in first[len(on_first) :] + later}
    check_disc(drive, on_second, engine)
    check_disc(shelf / "ARCH-0001.iso", first[: len(on_first)], engine)
    states = {d.volume_id: d.state for d in engine.dvd.discs_list()}
    assert states == {"ARCH-0001": "full", "ARCH-0002": "in_drive"}
    results = engine.catalogue.verify([r.id for r in calls.made])
    assert {r.verification for r in results} == {Verification.VERIFIED}

    # the technician's commands
    found = json.loads(cli("dvd", "find", str(first[0].id), "--json").stdout)
    assert [d["volume_id"] for d in found["discs"]] == ["ARCH-0001"]
    assert found["discs"][0]["state"] == "full"
    listed = cli("dvd", "discs")
    assert listed.exit_code == 0
    assert [line.split()[:3] for line in listed.stdout.splitlines()[1:]] == [
        ["ARCH-0001", "DVD", "full"],
        ["ARCH-0002", "DVD", "in_drive"],
    ]
    shown = cli("dvd", "status")
    assert shown.exit_code == 0 and "ARCH-0002" in shown.stdout
    [now] = json.loads(cli("dvd", "status", "--json").stdout)
    disc = now["disc"]
    assert (disc["kind"], disc["volume_id"], now["pending"]) == ("ours", "ARCH-0002", 0)
    assert disc["used_bytes"] + disc["free_bytes"] == DISC
    rate = sum(r.size for r in calls.made) / dvd_archive.RATE_DAYS
    assert now["days_until_full"] == round(disc["free_bytes"] / rate, 1)

    # retention prunes the local files of disc 1's recordings: they name the disc to insert
    pruned = first[: len(on_first)]
    assert engine.catalogue.drop_local([r.id for r in pruned]) == [r.id for r in pruned]
    with pytest.raises(DiscNeeded) as needed:
        played(engine, pruned[0])
    assert needed.value.hint == f"Insert disc ARCH-0001 into stdio:{drive}, then try again."
    assert "it holds disc ARCH-0002" in needed.value.message
    [result] = engine.catalogue.verify([pruned[0].id])
    assert result.verification is Verification.CANNOT_VERIFY
    assert "Insert disc ARCH-0001" in result.to_dict()["note"]
    assert played(engine, later[0])  # a recording of the disc in the drive still plays

    # ... and play and verify once that disc is back in the drive
    udev.eject()
    drive.rename(shelf / "ARCH-0002.iso")
    (shelf / "ARCH-0001.iso").rename(drive)
    udev.insert(state="complete", label="ARCH-0001", sessions=1)
    udev.wait()
    audio, rate_hz = sf.read(io.BytesIO(played(engine, pruned[0])))
    assert rate_hz == 8000 and len(audio) == 30 * 8000
    assert played(engine, pruned[-1]) == opus_bytes(300.0 + 100 * ((len(pruned) - 1) % 4), 30.0)
    results = engine.catalogue.verify([r.id for r in pruned])
    assert {r.verification for r in results} == {Verification.VERIFIED}
    states = {d.volume_id: d.state for d in engine.dvd.discs_list()}
    assert states == {"ARCH-0001": "in_drive", "ARCH-0002": "ejected"}
    assert engine.connectors.get("DVD").pending == 0


def test_xorriso_decides_the_fit_when_the_estimate_is_too_hopeful(
    engine: Engine, calls: Calls, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dvd_archive, "SESSION_OVERHEAD", 0)
    monkeypatch.setattr(dvd_archive, "PER_FILE_OVERHEAD", 0)
    recs = calls.add(26)
    add_dvd(engine, drive)

    report = engine.archiver.run_once()

    written = sorted(discs_of(engine))
    assert 10 < report.archived == len(written) < 26
    assert written == [r.id for r in recs[: len(written)]]
    assert report.status == "unreachable" and "ARCH-0001 is full" in report.error
    assert engine.connectors.get("DVD").pending == 26 - len(written)
    assert engine.dvd.discs_list()[0].full
    check_disc(drive, recs[: len(written)], engine)


def test_an_encrypted_dvd_connector_writes_sealed_copies_that_play(
    engine: Engine, calls: Calls, drive: Path
) -> None:
    recs = calls.add(2)
    add_dvd(engine, drive, capacity=8 * MB, encrypt=True)
    assert engine.archiver.run_once().archived == 2
    names = {f.path for f in Xorriso(f"stdio:{drive}").files()}
    assert {f"/{r.path}.mmc" for r in recs} <= names
    engine.catalogue.drop_local([recs[0].id])
    assert played(engine, recs[0]) == opus_bytes(300.0, 30.0)
    [result] = engine.catalogue.verify([recs[0].id])
    assert result.verification is Verification.VERIFIED


# -- discs that are not ours, and blanking ours ------------------------------------------------
def test_a_disc_that_is_not_ours_is_never_written_nor_blanked(
    engine: Engine, calls: Calls, drive: Path, tmp_path: Path
) -> None:
    foreign_iso(drive, tmp_path)  # holiday photos somebody burnt
    before = drive.read_bytes()
    calls.add(3)
    add_dvd(engine, drive)

    report = engine.archiver.run_once()

    assert report.status == "unreachable" and report.archived == 0
    [alarm] = open_alarms(engine, AlarmType.DVD_ERROR)
    assert "the disc in stdio:" in alarm and "is not ours and was not written" in alarm
    assert "HOLIDAY was not written by mm" in alarm
    refused = cli("dvd", "blank", "--confirm", "BLANK HOLIDAY")
    assert refused.exit_code == 3 and "Refusing to blank it" in refused.stderr
    assert drive.read_bytes() == before
    assert engine.connectors.get("DVD").pending == 3
    assert "not ours" in engine.connectors.get("DVD").last_test_message

    drive.rename(tmp_path / "holiday.iso")  # the technician puts a blank disc in instead
    assert engine.archiver.run_once().archived == 3
    assert not open_alarms(engine, AlarmType.DVD_ERROR)


def test_blanking_a_disc_of_ours_needs_the_confirmation_and_archives_its_recordings_again(
    engine: Engine, calls: Calls, drive: Path
) -> None:
    calls.add(3)
    add_dvd(engine, drive)
    engine.archiver.run_once()

    unconfirmed = cli("dvd", "blank")
    assert unconfirmed.exit_code == 3
    assert "confirm with exactly: BLANK ARCH-0001" in unconfirmed.stderr
    assert len(discs_of(engine)) == 3

    done = cli("dvd", "blank", "--confirm", "BLANK ARCH-0001", "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) == {
        "connector": "DVD",
        "drive": f"stdio:{drive}",
        "blanked": "ARCH-0001",
        "copies_dropped": 3,
    }
    [blanked] = engine.dvd.discs_list()
    assert (blanked.volume_id, blanked.state, blanked.recordings) == ("ARCH-0001", "blanked", 0)
    assert engine.connectors.get("DVD").pending == 3
    event = engine.audit.list(limit=1).items[0]
    assert (event.details["op"], event.details["blanked"]) == ("dvd blank", "ARCH-0001")

    assert engine.archiver.run_once().archived == 3  # onto the blanked disc, as a new one
    assert set(discs_of(engine).values()) == {"ARCH-0002"}  # a number is never used twice


def test_a_disc_holding_the_only_copy_of_a_recording_is_not_blanked(
    engine: Engine, calls: Calls, drive: Path
) -> None:
    recs = calls.add(2)
    add_dvd(engine, drive)
    engine.archiver.run_once()
    engine.catalogue.drop_local([recs[1].id])
    before = drive.read_bytes()
    with pytest.raises(Exception, match=f"only copy of recording\\(s\\) {recs[1].id}"):
        Session(engine, SYSTEM).dvd_blank("BLANK ARCH-0001")
    assert drive.read_bytes() == before
    assert len(discs_of(engine)) == 2


# -- failures raise alarms and lose nothing ----------------------------------------------------
def test_a_missing_drive_a_write_error_and_a_disc_pulled_out_lose_nothing(
    engine: Engine, calls: Calls, tmp_path: Path
) -> None:
    drive = tmp_path / "not-plugged-in" / "disc.iso"
    calls.add(3)
    add_dvd(engine, drive)

    # no drive at all
    report = engine.archiver.run_once()
    assert (report.status, report.archived) == ("unreachable", 0)
    [alarm] = open_alarms(engine, AlarmType.ARCHIVE_ERROR)
    assert "not-plugged-in" in alarm
    assert engine.connectors.get("DVD").pending == 3

    # the drive is plugged in, but its writes fail
    drive.parent.mkdir()
    engine.dvd.binary = str(xorriso_stand_in(tmp_path, "write-error"))
    report = engine.archiver.run_once()
    assert (report.status, report.archived) == ("unreachable", 0)
    [alarm] = open_alarms(engine, AlarmType.DVD_ERROR)
    assert "failed" in alarm and "No space left on device" in alarm
    assert "Nothing was lost" in alarm
    assert not open_alarms(engine, AlarmType.ARCHIVE_ERROR)  # the drive answers now
    assert engine.connectors.get("DVD").pending == 3 and not discs_of(engine)
    assert not drive.exists()

    # a working drive: the waiting recordings go on the disc
    engine.dvd.binary = "xorriso"
    assert engine.archiver.run_once().archived == 3
    assert not open_alarms(engine, AlarmType.DVD_ERROR)
    burnt = drive.read_bytes()

    # the disc is pulled out as the next session starts
    calls.add(2)
    engine.dvd.binary = str(xorriso_stand_in(tmp_path, "pull-disc"))
    report = engine.archiver.run_once()
    assert (report.status, report.archived) == ("unreachable", 0)
    [alarm] = open_alarms(engine, AlarmType.DVD_ERROR)
    assert "no longer ARCH-0001; nothing was written" in alarm
    pulled = drive.with_name("disc.iso.pulled")
    assert pulled.read_bytes() == burnt and not drive.exists()
    assert engine.connectors.get("DVD").pending == 2

    # it goes back in: the session is written and read back
    pulled.rename(drive)
    engine.dvd.binary = "xorriso"
    assert engine.archiver.run_once().archived == 2
    assert sorted(discs_of(engine)) == sorted(r.id for r in calls.made)
    check_disc(drive, calls.made, engine)
    assert not open_alarms(engine, AlarmType.DVD_ERROR)
    assert [d.sessions for d in engine.dvd.discs_list()] == [2]
