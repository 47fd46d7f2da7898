"""The voicemail-server simulator writes what a real server would (docs/handover-format.md)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mm_engine.domain import Direction, OwnerKind
from mm_engine.ingest.calldetails import read_call_details
from scripts.vmpro_sim import (
    FORMATS,
    WrittenRecording,
    make_recording,
    random_details,
    random_duration,
    speechlike,
    speechlike_blocks,
)

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "scripts" / "vmpro-sim"


def sim_command(folder: Path, flags: str) -> list[str]:
    return [sys.executable, str(SIM), "--handover", str(folder), *flags.split()]


def run_sim(folder: Path, flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sim_command(folder, flags), capture_output=True, text=True, timeout=60, check=True
    )


def frames_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """Level of each 20 ms frame in dBFS."""
    n = rate // 50
    frames = audio[: len(audio) // n * n].astype(np.float64).reshape(-1, n) / 32768
    return 10 * np.log10((frames**2).mean(axis=1) + 1e-12)


def pitch(audio: np.ndarray, rate: int) -> float:
    """Median pitch (Hz) of the loud frames, by autocorrelation over 60-400 Hz."""
    n = rate // 25
    frames = audio[: len(audio) // n * n].astype(np.float64).reshape(-1, n)
    loud = frames[frames.std(axis=1) > 0.5 * frames.std(axis=1).max()]
    lags = np.arange(rate // 400, rate // 60)
    found = []
    for frame in loud:
        frame = frame - frame.mean()
        corr = np.array([np.dot(frame[:-lag], frame[lag:]) for lag in lags])
        found.append(rate / lags[int(np.argmax(corr))])
    return float(np.median(found))


# -- the audio ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_decodes_at_its_rate_and_layout(tmp_path: Path, name: str) -> None:
    fmt = FORMATS[name]
    rec = make_recording(
        tmp_path, duration_s=1.2, fmt=name, carrier="json", rng=np.random.default_rng(1)
    )
    info = sf.info(str(rec.path))
    assert (info.samplerate, info.channels) == (fmt.rate, fmt.channels)
    assert info.format == ("OGG" if fmt.codec == "opus" else "WAV")
    assert (
        info.subtype
        == {"pcm16": "PCM_16", "ulaw": "ULAW", "alaw": "ALAW", "opus": "OPUS"}[fmt.codec]
    )
    assert abs(info.frames / info.samplerate - 1.2) < 0.03
    assert rec.path.suffix == fmt.suffix


def test_the_audio_sounds_like_a_conversation_not_a_tone_or_noise() -> None:
    rate = 16000
    audio = speechlike(60.0, rate, np.random.default_rng(11), channels=2)
    assert audio.dtype == np.int16 and audio.shape == (60 * rate, 2)

    mono = audio.mean(axis=1)
    level = frames_db(mono, rate)
    assert (level < -50).mean() > 0.1  # pauses between turns, at the line-noise floor
    assert (level > -35).mean() > 0.3  # and talk
    assert level.min() > -80  # never digital silence

    spectrum = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    assert spectrum[freqs > 3600].sum() / spectrum.sum() < 0.05  # telephone band, not white

    # two parties, one per call leg, at clearly different pitches
    left, right = audio[:, 0].astype(np.float64), audio[:, 1].astype(np.float64)
    assert abs(pitch(left, rate) - pitch(right, rate)) > 40


def test_the_same_seed_gives_the_same_audio() -> None:
    a = speechlike(5.0, 8000, np.random.default_rng(3))
    b = speechlike(5.0, 8000, np.random.default_rng(3))
    c = speechlike(5.0, 8000, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_an_hour_of_audio_streams_in_blocks_in_seconds() -> None:
    tracemalloc.start()
    began = time.perf_counter()
    try:
        frames = 0
        for block in speechlike_blocks(3600.0, 8000, np.random.default_rng(5)):
            assert len(block) <= 10 * 8000
            frames += len(block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frames == 3600 * 8000
    assert peak < 20_000_000  # the hour itself would be 57.6 MB
    assert time.perf_counter() - began < 30


# -- the calls ----------------------------------------------------------------------------------


def test_call_lengths_are_skewed_from_seconds_to_an_hour() -> None:
    rng = np.random.default_rng(8)
    lengths = np.array([random_duration(rng) for _ in range(3000)])
    assert lengths.min() >= 2.0 and lengths.max() <= 3600.0
    assert 45 < np.median(lengths) < 180
    assert (lengths < 20).mean() > 0.02 and (lengths > 1200).mean() > 0.005
    assert np.mean(lengths) > np.median(lengths)  # a long tail
    assert max(random_duration(rng, 5, 30) for _ in range(200)) <= 30


def test_calls_cover_every_direction_owner_kind_and_a_plausible_pool() -> None:
    rng = np.random.default_rng(9)
    start = datetime(2026, 11, 20, 9, 0).astimezone()
    calls = [random_details(rng, start) for _ in range(400)]
    assert {c.direction for c in calls} == set(Direction)
    assert {c.owner_kind for c in calls} == set(OwnerKind)
    assert all(c.parties and c.agents and c.call_id and c.target for c in calls)
    assert all(201 <= int(a) <= 299 for c in calls for a in c.agents)
    inbound = [c for c in calls if c.direction is Direction.INBOUND]
    assert all(c.parties[0].startswith(("0", "+")) for c in inbound)  # an outside caller
    assert any(c.skill for c in calls) and any(c.authenticated for c in calls)
    assert len({c.call_id for c in calls}) == len(calls)


# -- the command line ---------------------------------------------------------------------------


def test_count_fast_writes_complete_files_and_leaves_no_hidden_temp(tmp_path: Path) -> None:
    out = run_sim(tmp_path, "--count 3 --fast --seed 1 --max-duration 4 --json-log")

    logged = [json.loads(line) for line in out.stdout.splitlines()]
    audio = sorted(p for p in tmp_path.iterdir() if p.suffix in (".wav", ".opus"))
    assert len(logged) == 3 and len(audio) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    for entry in logged:
        path = Path(entry["path"])
        parsed = read_call_details(path, sf.info(str(path)).duration)
        assert parsed.details.call_id == entry["details"]["call_id"]
        assert parsed.details.start == datetime.fromisoformat(entry["details"]["start"])


def test_the_same_seed_writes_the_same_recordings(tmp_path: Path) -> None:
    logs = []
    for run in ("a", "b"):
        folder = tmp_path / run
        flags = "--count 2 --fast --seed 42 --max-duration 3 --json-log --format pcm16-8k-mono"
        out = run_sim(folder, flags)
        logs.append([json.loads(line) for line in out.stdout.splitlines()])
    for one, two in zip(*logs, strict=True):
        assert one["details"]["call_id"] == two["details"]["call_id"]
        assert one["details"]["parties"] == two["details"]["parties"]
        assert Path(one["path"]).read_bytes()[-4000:] == Path(two["path"]).read_bytes()[-4000:]


def test_late_arrivals_are_dated_days_to_weeks_back_and_carry_their_date(tmp_path: Path) -> None:
    flags = "--count 6 --fast --seed 3 --max-duration 2 --json-log --late-fraction 1"
    out = run_sim(tmp_path, flags)
    now = datetime.now().astimezone()
    for line in out.stdout.splitlines():
        entry = json.loads(line)
        age = now - datetime.fromisoformat(entry["details"]["start"])
        assert timedelta(days=1) <= age <= timedelta(days=43)
        assert entry["late"] and entry["carrier"] != "none"
        path = Path(entry["path"])
        start = read_call_details(path, sf.info(str(path)).duration).details.start
        assert start == datetime.fromisoformat(entry["details"]["start"])


def test_slow_mode_grows_the_file_under_its_final_name_after_its_sidecar(
    tmp_path: Path,
) -> None:
    done: list[WrittenRecording] = []

    def write() -> None:
        done.append(
            make_recording(
                tmp_path,
                duration_s=20.0,
                fmt="pcm16-16k-stereo",
                carrier="json",
                rng=np.random.default_rng(2),
                mode="slow",
                slow_seconds=1.5,
                slow_step_s=0.1,
            )
        )

    writer = threading.Thread(target=write)
    writer.start()
    sizes: list[int] = []
    sidecar_first = True
    while writer.is_alive():
        for p in tmp_path.glob("*.wav"):
            sizes.append(p.stat().st_size)
            sidecar_first &= p.with_suffix(".json").exists()
        time.sleep(0.05)
    writer.join()

    final = 20 * 16000 * 2 * 2 + 44
    grown = sorted(set(sizes))
    assert len(grown) >= 4 and grown[0] < final / 2
    assert sizes == sorted(sizes)  # only ever grows
    assert sidecar_first
    assert done[0].path.stat().st_size == final


def test_rename_mode_shows_the_final_name_only_when_complete(tmp_path: Path) -> None:
    stop = threading.Event()
    seen: list[tuple[str, int]] = []

    def watch() -> None:
        while not stop.is_set():
            for p in list(tmp_path.iterdir()):
                with contextlib.suppress(FileNotFoundError):  # renamed under our feet
                    seen.append((p.name, p.stat().st_size))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        rec = make_recording(
            tmp_path,
            duration_s=60.0,
            fmt="pcm16-16k-stereo",
            carrier="riff",
            rng=np.random.default_rng(6),
        )
    finally:
        stop.set()
        watcher.join()
    final = rec.path.stat().st_size
    assert any(name.startswith(".") for name, _ in seen)  # it was built under a hidden name
    assert {size for name, size in seen if name == rec.path.name} <= {final}
    assert sorted(p.name for p in tmp_path.iterdir()) == [rec.path.name]


def test_sigterm_mid_write_leaves_nothing_half_written(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        sim_command(
            tmp_path, "--count 1 --fast --duration 3600 --format pcm16-16k-stereo --carrier json"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not any(p.name.startswith(".") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "stopped after 0 recording" in err
    assert list(tmp_path.iterdir()) == []  # neither the partial audio nor its orphan sidecar
