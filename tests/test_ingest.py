"""Ingest of one handover file (F1, F3): parse, encode, store, sign, catalogue, then remove."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import soundfile as sf

from mm_engine.engine import Engine
from mm_engine.ingest.calldetails import read_opus_tags
from mm_engine.ingest.pipeline import Outcome, Pipeline
from mm_engine.service import Service
from mm_engine.signing import sha256_file
from tests.audio_files import tone, write_opus, write_sidecar, write_wav

TZ = timezone(timedelta(hours=1))
START = datetime(2026, 11, 20, 14, 5, 0, tzinfo=TZ)


@pytest.fixture
def handover(engine: Engine) -> Path:
    folder = engine.config.path("handover_folder")
    if not str(folder).startswith(str(engine.data_dir.root)):
        folder = engine.data_dir.root / "handover"
        engine.config.set("handover_folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    return Service(engine).pipeline()


def rows(engine: Engine) -> list[dict[str, object]]:
    return [dict(r) for r in engine.db.query("SELECT * FROM recordings ORDER BY id")]


def test_wav_with_sidecar_becomes_a_signed_catalogued_opus_and_leaves_handover(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    wav = write_wav(handover / "call.wav", seconds=3.0, rate=8000, codec="ulaw")
    side = write_sidecar(
        wav,
        call_id="C-1001",
        start=START,
        direction="inbound",
        parties=["0201234567", "201"],
        agents=["201"],
        owner="201",
        owner_kind="user",
        target="201",
        skill="sales",
        authenticated=True,
    )

    result = pipeline.ingest(wav)

    assert result.outcome is Outcome.INGESTED
    assert not wav.exists() and not side.exists()
    [row] = rows(engine)
    assert row["path"] == "2026/11/20/C-1001-1.opus"
    assert row["parties"] == "0201234567;201" and row["direction"] == "inbound"
    assert abs(float(row["duration_s"]) - 3.0) < 0.05  # type: ignore[arg-type]
    stored = engine.store().root / str(row["path"])
    info = sf.info(str(stored))
    assert (info.format, info.subtype, info.channels) == ("OGG", "OPUS", 1)
    assert sha256_file(stored) == row["sha256"]
    tags = read_opus_tags(stored)
    assert tags["call_id"] == "C-1001" and tags["skill"] == "sales"
    assert tags["parties"] == "0201234567;201"
    hit = engine.db.query("SELECT rowid FROM recordings_fts WHERE recordings_fts MATCH 'sales'")
    assert [r[0] for r in hit] == [row["id"]]


@pytest.mark.parametrize(
    ("codec", "rate", "channels"),
    [
        ("pcm16", 8000, 1),
        ("pcm16", 16000, 2),
        ("ulaw", 8000, 1),
        ("alaw", 8000, 2),
        ("alaw", 16000, 1),
        ("ulaw", 16000, 2),
    ],
)
def test_every_wav_flavour_is_ingested_with_its_real_length(
    engine: Engine, handover: Path, pipeline: Pipeline, codec: str, rate: int, channels: int
) -> None:
    wav = write_wav(
        handover / f"{codec}-{rate}-{channels}.wav",
        seconds=2.5,
        rate=rate,
        channels=channels,
        codec=codec,
    )
    write_sidecar(wav, call_id=f"{codec}{rate}{channels}", start=START)
    assert pipeline.ingest(wav).outcome is Outcome.INGESTED
    [row] = rows(engine)
    assert abs(float(row["duration_s"]) - 2.5) < 0.05  # type: ignore[arg-type]
    assert sf.info(str(engine.store().root / str(row["path"]))).samplerate == rate


def test_opus_input_is_ingested(engine: Engine, handover: Path, pipeline: Pipeline) -> None:
    src = write_opus(handover / "in.opus", seconds=4.0)
    write_sidecar(src, call_id="OPUS-1", start=START)
    assert pipeline.ingest(src).outcome is Outcome.INGESTED
    [row] = rows(engine)
    assert abs(float(row["duration_s"]) - 4.0) < 0.1  # type: ignore[arg-type]


def test_segments_of_one_call_are_numbered(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    for n in range(3):
        wav = write_wav(handover / f"seg{n}.wav", seconds=1.0 + n)
        write_sidecar(wav, call_id="C-7", start=START + timedelta(seconds=n))
        pipeline.ingest(wav)
    assert [r["path"] for r in rows(engine)] == [
        "2026/11/20/C-7-1.opus",
        "2026/11/20/C-7-2.opus",
        "2026/11/20/C-7-3.opus",
    ]


def test_late_arrival_with_an_old_date_lands_in_its_own_date_folder(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    old = datetime(2025, 2, 3, 23, 59, 0, tzinfo=TZ)
    wav = write_wav(handover / "late.wav")
    write_sidecar(wav, call_id="LATE-1", start=old)
    pipeline.ingest(wav)
    [row] = rows(engine)
    assert row["path"] == "2025/02/03/LATE-1-1.opus"
    assert row["start"] == old.isoformat()


def test_the_same_input_twice_is_catalogued_once(
    engine: Engine, handover: Path, pipeline: Pipeline, tmp_path: Path
) -> None:
    wav = write_wav(handover / "again.wav")
    write_sidecar(wav, call_id="DUP-1", start=START)
    keep = tmp_path / "copy"
    keep.mkdir()
    shutil.copy(wav, keep / wav.name)
    shutil.copy(wav.with_suffix(".json"), keep / "again.json")
    assert pipeline.ingest(wav).outcome is Outcome.INGESTED
    # as if a crash hit after the commit and before the handover file was removed
    shutil.copy(keep / wav.name, wav)
    shutil.copy(keep / "again.json", wav.with_suffix(".json"))
    result = pipeline.ingest(wav)
    assert result.outcome is Outcome.DUPLICATE
    assert len(rows(engine)) == 1 and not wav.exists()


def test_unicode_file_name_is_ingested(engine: Engine, handover: Path, pipeline: Pipeline) -> None:
    wav = write_wav(handover / "Gespräch_通话_№5.wav")
    assert pipeline.ingest(wav).outcome is Outcome.INGESTED
    [row] = rows(engine)
    assert row["source_name"] == "Gespräch_通话_№5.wav"


def quarantined(engine: Engine) -> list[Path]:
    return sorted(p for p in engine.data_dir.quarantine.iterdir() if p.suffix != ".reason")


@pytest.mark.parametrize(
    ("name", "content", "alarm", "reason"),
    [
        ("empty.wav", b"", "FILE_PARSE_ERROR", "empty"),
        ("text.wav", b"this is not audio at all\n" * 50, "FILE_PARSE_ERROR", "not a readable"),
        ("notes.mp3", b"ID3\x03\x00" + b"\0" * 200, "FILE_PARSE_ERROR", "not a recording format"),
    ],
)
def test_bad_input_goes_to_quarantine_with_a_reason_and_an_alarm_naming_it(
    engine: Engine,
    handover: Path,
    pipeline: Pipeline,
    name: str,
    content: bytes,
    alarm: str,
    reason: str,
) -> None:
    bad = handover / name
    bad.write_bytes(content)
    result = pipeline.ingest(bad)
    assert result.outcome is Outcome.QUARANTINED
    assert not bad.exists()
    [moved] = quarantined(engine)
    assert moved.name.endswith(name) and moved.read_bytes() == content
    assert reason in moved.with_name(moved.name + ".reason").read_text()
    [raised] = [a for a in engine.alarms.list() if a["type"] == alarm]
    assert name in str(raised["message"])
    assert rows(engine) == []


def test_unsupported_sample_rate_is_an_encode_error(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    wav = write_wav(handover / "cd.wav", rate=44100)
    assert pipeline.ingest(wav).outcome is Outcome.QUARANTINED
    [raised] = [a for a in engine.alarms.list() if a["type"] == "FILE_ENCODE_ERROR"]
    assert "cd.wav" in str(raised["message"]) and "44100" in str(raised["message"])


def test_invalid_call_details_quarantine_both_files(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    wav = write_wav(handover / "odd.wav")
    write_sidecar(wav, call_id="X", start=START, direction="sideways")
    assert pipeline.ingest(wav).outcome is Outcome.QUARANTINED
    names = sorted(p.name.split("-", 1)[1] for p in engine.data_dir.quarantine.iterdir())
    assert names == ["odd.json", "odd.wav", "odd.wav.reason"]
    [raised] = [a for a in engine.alarms.list() if a["type"] == "FILE_PARSE_ERROR"]
    assert "direction" in str(raised["message"])


def test_truncated_wav_keeps_the_audio_that_is_there(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    wav = write_wav(handover / "cut.wav", seconds=4.0, rate=8000)
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 2])  # header still claims 4 s
    assert pipeline.ingest(wav).outcome is Outcome.INGESTED
    [row] = rows(engine)
    assert 1.5 < float(row["duration_s"]) < 2.5  # type: ignore[arg-type]


def test_a_huge_recording_is_ingested_whole(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    """Half an hour of 16 kHz stereo PCM (115 MB): streamed through, full length, compact."""
    wav = handover / "long.wav"
    minutes = 30
    with sf.SoundFile(str(wav), "w", samplerate=16000, channels=2, subtype="PCM_16") as out:
        block = tone(60.0, 16000, channels=2)
        for _ in range(minutes):
            out.write(block)
    assert wav.stat().st_size > 100 * 1024 * 1024
    write_sidecar(wav, call_id="LONG-1", start=START)
    assert pipeline.ingest(wav).outcome is Outcome.INGESTED
    [row] = rows(engine)
    assert abs(float(row["duration_s"]) - minutes * 60) < 0.1  # type: ignore[arg-type]
    per_minute = int(row["size"]) / minutes  # type: ignore[call-overload]
    assert 20_000 < per_minute < 160_000, f"{per_minute / 1000:.0f} KB per audio-minute"


def test_a_sidecar_left_by_a_crash_after_its_recording_was_catalogued_is_removed(
    engine: Engine, handover: Path, pipeline: Pipeline, tmp_path: Path
) -> None:
    wav = write_wav(handover / "Call.WAV")
    side = write_sidecar(wav, call_id="SWEEP-1", start=START)
    keep = tmp_path / "Call.json"
    shutil.copy(side, keep)
    assert pipeline.ingest(wav).outcome is Outcome.INGESTED
    # as if the crash hit between removing the recording and removing its sidecar
    shutil.copy(keep, side)
    os.utime(side, (time.time() - 60, time.time() - 60))
    pipeline.sweep_sidecar(side, time.time())
    assert not side.exists()


def test_a_sidecar_waiting_for_its_recording_is_left_alone_then_quarantined_after_an_hour(
    engine: Engine, handover: Path, pipeline: Pipeline
) -> None:
    side = write_sidecar(handover / "later.wav", call_id="WAIT-1", start=START)
    pipeline.sweep_sidecar(side, time.time())
    assert side.exists()
    write_wav(handover / "later.wav")
    pipeline.sweep_sidecar(side, time.time() + 7200)  # its recording is there now
    assert side.exists()
    (handover / "later.wav").unlink()
    pipeline.sweep_sidecar(side, time.time() + 7200)
    assert not side.exists()
    assert any(p.name.endswith("later.json") for p in engine.data_dir.quarantine.iterdir())
    [raised] = [a for a in engine.alarms.list() if a["type"] == "FILE_PARSE_ERROR"]
    assert "later.json" in str(raised["message"])
