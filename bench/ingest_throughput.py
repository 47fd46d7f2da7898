"""Ingest throughput: mm's whole ingest pipeline against ``opusenc`` encoding the same files.

opusenc is the reference encoder a site could run instead of mm, so the target compares mm's
*complete* ingest (source hash, probe, call details, encode, Opus tags, SHA-256, signature,
fsync + rename, catalogue commit on a real SQLite file, removal of the input) with a bare encode:
mm must reach at least 0.8 × opusenc's throughput. Both work one file at a time, on one core,
as the service does. opusenc cannot read µ-law/A-law WAV, so the G.711 set is measured for mm
alone.

Opus's effort depends on the signal, so the inputs are speech-like (voiced harmonics with vowel
formants, syllables, turn-taking, pauses, line noise), never tones or silence. They are generated
once, deterministically, and cached under ``.bench/ingest/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# MM_BENCH_CACHE lets the smoke test keep its inputs out of the working tree.
CACHE_DIR = Path(os.environ.get("MM_BENCH_CACHE") or ROOT / ".bench") / "ingest"
GENERATOR_VERSION = 1
OPUSENC = "/usr/bin/opusenc"
# the same target bitrate as mm (mm_engine/ingest/opus_writer.py), so like is compared with like
OPUSENC_ARGS = ("--quiet", "--bitrate", "13")
TARGET_RATIO = 0.8
SEED_KB_PER_MIN = 100.0
KB = 1000  # the seed's "100 KB per minute" is 13 kbit/s, i.e. decimal kilobytes

# (F1, F2) in Hz of eight vowels: each syllable picks one, so the spectrum moves as in speech.
VOWELS = np.array(
    [
        [730, 1090],
        [270, 2290],
        [300, 870],
        [530, 1840],
        [660, 1720],
        [490, 1350],
        [640, 1190],
        [440, 1020],
    ],
    dtype=np.float64,
)
TELEPHONE_TOP_HZ = 3400.0


# -- speech-like audio ----------------------------------------------------------------------------


def _talk_spurt(n: int, rate: int, f0_base: float, rng: np.random.Generator) -> np.ndarray:
    """One breath group: a pitch contour, syllables of 120-320 ms, formants, consonant bursts.

    Harmonics come from the Chebyshev recurrence sin(kθ) = 2cos θ·sin((k-1)θ) - sin((k-2)θ),
    which avoids one ``np.sin`` per harmonic and makes an hour of audio take seconds.
    """
    t = np.arange(n) / rate
    f0 = f0_base * (1.0 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * t + rng.uniform(0, 6)))
    f0 *= np.linspace(1.08, 0.92, n)  # declination over the phrase
    theta = 2 * np.pi * np.cumsum(f0) / rate + rng.uniform(0, 2 * np.pi)

    lengths = (rng.uniform(0.12, 0.32, size=int(n / (0.12 * rate)) + 2) * rate).astype(np.int64)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), n)) + 1]
    syllable = np.repeat(np.arange(len(lengths)), lengths)[:n]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    pos = (np.arange(n) - starts[syllable]) / lengths[syllable]
    envelope = np.sin(np.pi * pos) ** 0.6
    vowels = VOWELS[rng.integers(0, len(VOWELS), len(lengths))]

    top = min(TELEPHONE_TOP_HZ, 0.45 * rate)
    prev, cur = np.zeros(n), np.sin(theta)
    two_cos = 2 * np.cos(theta)
    voiced = np.zeros(n)
    for k in range(1, int(top / (0.8 * f0_base)) + 1):
        fk = k * f0_base
        gain = (
            np.exp(-(((fk - vowels[:, 0]) / 120.0) ** 2))
            + 0.6 * np.exp(-(((fk - vowels[:, 1]) / 160.0) ** 2))
            + 0.05
        ) / np.sqrt(k)
        voiced += gain[syllable] * cur * (k * f0 < top)
        prev, cur = cur, two_cos * cur - prev
    hiss = np.diff(rng.standard_normal(n), prepend=0.0)
    consonant = (pos < 0.15) & (rng.random(len(lengths)) < 0.35)[syllable]
    out = voiced * envelope + 0.15 * hiss * consonant
    peak = float(np.abs(out).max()) + 1e-9
    normalised: np.ndarray = out / peak
    return normalised


def speech_blocks(
    duration_s: float, rate: int, channels: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """A two-party call, one turn (a few seconds) per block, so any length streams in flat memory.

    Stereo puts each party on its own channel with a little echo of the other, as a PBX records
    the two legs; mono is the mix.
    """
    total = int(duration_s * rate)
    f0s = (rng.uniform(95, 140), rng.uniform(170, 240))
    levels = (rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.4))
    speaker = int(rng.integers(2))
    written = 0
    while written < total:
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.uniform(0.8, 3.5) * rate)
            parts.append(levels[speaker] * _talk_spurt(n, rate, f0s[speaker], rng))
            parts.append(np.zeros(int(rng.uniform(0.1, 0.5) * rate)))
        parts.append(np.zeros(int(rng.uniform(0.2, 1.2) * rate)))
        turn = np.concatenate(parts)[: total - written]
        block = np.empty((len(turn), 2))
        block[:, speaker] = turn
        block[:, 1 - speaker] = 0.05 * turn
        block += 0.002 * rng.standard_normal(block.shape)  # line noise: a call is never silent
        if channels == 1:
            block = block.sum(axis=1, keepdims=True)
        yield np.clip(block, -1.0, 1.0).astype(np.float32)
        written += len(turn)
        speaker = 1 - speaker


def write_speech_wav(
    path: Path, duration_s: float, rate: int, channels: int, subtype: str, seed: int
) -> Path:
    """Write a speech-like WAV block by block; the file never sits in memory."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(str(path), "w", rate, channels, subtype=subtype, format="WAV") as out:
        for block in speech_blocks(duration_s, rate, channels, rng):
            out.write(block)
    return path


# -- the input sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    name: str
    duration_s: float
    rate: int
    channels: int
    subtype: str
    seed: int

    @property
    def flavour(self) -> str:
        return (
            f"{self.subtype} {self.rate // 1000} kHz {'mono' if self.channels == 1 else 'stereo'}"
        )


PCM_FLAVOURS = [
    ("PCM_16", 8000, 1),
    ("PCM_16", 8000, 2),
    ("PCM_16", 16000, 1),
    ("PCM_16", 16000, 2),
]
G711_FLAVOURS = [("ULAW", 8000, 1), ("ALAW", 8000, 1), ("ULAW", 8000, 2), ("ALAW", 16000, 1)]


def call_durations(total_s: float, rng: np.random.Generator) -> list[float]:
    """Call lengths like a real day: mostly 30 s to 10 min (median ~2.5 min), one in ten longer."""
    out: list[float] = []
    while sum(out) < total_s:
        if rng.random() < 0.1:
            d = rng.uniform(900, 2400)
        else:
            d = float(np.clip(rng.lognormal(np.log(150), 0.8), 30, 600))
        out.append(round(min(d, max(total_s - sum(out), 30.0)), 1))
    return out


def plan_set(
    prefix: str, flavours: list[tuple[str, int, int]], total_min: float, seed: int, *, quick: bool
) -> list[InputFile]:
    rng = np.random.default_rng(seed)
    # quick: one short file per flavour, enough to prove the machinery in seconds
    durations = [15.0] * len(flavours) if quick else call_durations(total_min * 60, rng)
    files = []
    for i, d in enumerate(durations):
        subtype, rate, channels = flavours[i % len(flavours)]
        files.append(InputFile(f"{prefix}-{i:03d}.wav", d, rate, channels, subtype, seed + i))
    return files


def write_sidecar(wav: Path, index: int) -> Path:
    """Call details as a JSON sidecar, the richest carrier, so the whole parse path runs."""
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(minutes=7 * index)
    doc = {
        "call_id": f"BENCH-{wav.stem}",
        "start": start.isoformat(),
        "direction": "inbound" if index % 3 else "outbound",
        "parties": [f"+3120555{index:04d}", f"2{index % 50:02d}"],
        "agents": [f"2{index % 50:02d}"],
        "owner": f"2{index % 50:02d}",
        "owner_kind": "user",
        "target": f"2{index % 50:02d}",
        "skill": ("sales", "support", "billing")[index % 3],
        "authenticated": True,
    }
    side = wav.with_suffix(".json")
    side.write_text(json.dumps(doc), encoding="utf-8")
    return side


def ensure_set(files: list[InputFile]) -> Path:
    """The generated files, reused from the cache when the same plan was generated before."""
    key = json.dumps([GENERATOR_VERSION, [asdict(f) for f in files]], sort_keys=True)
    folder = CACHE_DIR / hashlib.sha256(key.encode()).hexdigest()[:16]
    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        wav = write_speech_wav(folder / f.name, f.duration_s, f.rate, f.channels, f.subtype, f.seed)
        write_sidecar(wav, i)
    (folder / ".complete").write_text(key)
    print(f"  generated {len(files)} inputs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return folder


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    files: int
    audio_s: float
    wall_s: float
    cpu_s: float
    output_bytes: int
    stages_s: dict[str, float] = field(default_factory=dict)

    @property
    def recordings_per_s(self) -> float:
        return self.files / self.wall_s

    @property
    def audio_min_per_s(self) -> float:
        return self.audio_s / 60 / self.wall_s

    @property
    def kb_per_audio_min(self) -> float:
        return self.output_bytes / KB / (self.audio_s / 60)

    def figures(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "audio_min": round(self.audio_s / 60, 2),
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "recordings_per_s": round(self.recordings_per_s, 3),
            "audio_min_per_s": round(self.audio_min_per_s, 3),
            "realtime_factor": round(self.audio_s / self.wall_s, 1),
            "kb_per_audio_min": round(self.kb_per_audio_min, 1),
            "stages_s": {k: round(v, 3) for k, v in self.stages_s.items()},
        }


@contextmanager
def timed_stages(pipeline: Any) -> Iterator[dict[str, float]]:
    """Time each step of Pipeline.ingest by wrapping what it calls, without touching the engine.

    Whatever the pipeline does outside these calls lands in "other"; a name the pipeline no
    longer has is simply not wrapped, so the benchmark survives refactoring.
    """
    import mm_engine.ingest.pipeline as module

    totals: dict[str, float] = defaultdict(float)
    restore: list[tuple[object, str, object]] = []

    def wrap(owner: object, attr: str, label: str) -> None:
        fn = getattr(owner, attr, None)
        if not callable(fn):
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - t0

        if owner is module:
            restore.append((owner, attr, fn))
        setattr(owner, attr, timed)

    wrap(module, "source_key", "source hash (input + sidecar)")
    wrap(pipeline.db, "query_one", "duplicate lookup")
    wrap(module, "probe", "probe")
    wrap(module, "read_call_details", "call details")
    wrap(module, "encode_opus", "decode + encode Opus")
    wrap(module, "sha256_file", "sha256 of output")
    wrap(pipeline.signer, "sign", "sign")
    wrap(pipeline.store, "commit", "fsync + rename")
    wrap(pipeline.db, "write", "catalogue commit")
    wrap(pipeline, "_remove_input", "remove input + fsync dir")
    try:
        yield totals
    finally:
        for owner, attr, fn in restore:
            setattr(owner, attr, fn)


def run_mm(files: list[InputFile], source: Path, work: Path) -> Run:
    """Ingest every file through Pipeline.ingest on a fresh data directory and SQLite catalogue."""
    from mm_engine.engine import Engine
    from mm_engine.ingest.pipeline import Outcome
    from mm_engine.service import Service

    home = work / "mm-home"
    shutil.rmtree(home, ignore_errors=True)
    handover = home / "handover"
    handover.mkdir(parents=True)
    for f in files:  # copied before the clock starts: ingest consumes its input
        shutil.copyfile(source / f.name, handover / f.name)
        side = (source / f.name).with_suffix(".json")
        if side.exists():
            shutil.copyfile(side, handover / side.name)
    os.environ["MM_HOME"] = str(home)
    with Engine(home) as engine:
        pipeline = Service(engine).pipeline()
        with timed_stages(pipeline) as stages:
            cpu0, t0 = time.process_time(), time.perf_counter()
            results = [pipeline.ingest(handover / f.name) for f in files]
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        row = engine.db.query_one(
            "SELECT count(*) AS n, sum(size) AS size, sum(duration_s) AS audio FROM recordings"
        )
    bad = [r for r in results if r.outcome is not Outcome.INGESTED]
    if bad:
        raise RuntimeError(
            f"mm did not ingest {bad[0].source.name}: {bad[0].outcome} {bad[0].reason}"
        )
    accounted = sum(stages.values())
    stages_s = dict(sorted(stages.items(), key=lambda kv: -kv[1]))
    stages_s["other"] = max(wall - accounted, 0.0)
    shutil.rmtree(home, ignore_errors=True)
    assert row is not None  # an aggregate query always returns a row
    return Run("mm", int(row["n"]), float(row["audio"]), wall, cpu, int(row["size"]), stages_s)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_opusenc(files: list[InputFile], source: Path, work: Path) -> Run:
    """One ``opusenc`` process per file, as a shell loop over a folder would run it."""
    out = work / "opusenc-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in files:  # the same warm page cache mm gets from its fresh copies
        (source / f.name).read_bytes()
    cpu0, t0 = _children_cpu(), time.perf_counter()
    for f in files:
        subprocess.run(
            [OPUSENC, *OPUSENC_ARGS, str(source / f.name), str(out / f"{Path(f.name).stem}.opus")],
            check=True,
        )
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    size = sum(p.stat().st_size for p in out.iterdir())
    audio = sum(sf.info(str(source / f.name)).duration for f in files)
    shutil.rmtree(out, ignore_errors=True)
    return Run("opusenc", len(files), audio, wall, cpu, size)


def decode_only(files: list[InputFile], source: Path) -> float:
    """Seconds to read and downmix the set as encode_opus does, minus the encode.

    Subtracted from the encode stage, it tells the codec's share from the decoding's.
    """
    from mm_engine.ingest.audio import BLOCK_SECONDS

    t0 = time.perf_counter()
    for f in files:
        with sf.SoundFile(str(source / f.name)) as reader:
            for data in reader.blocks(
                blocksize=reader.samplerate * BLOCK_SECONDS, dtype="float32", always_2d=True
            ):
                if data.shape[1] > 1:
                    data.mean(axis=1, dtype=np.float32)
    return time.perf_counter() - t0


def best(runs: list[Run]) -> Run:
    """The least disturbed round: other processes on the machine only ever add time."""
    return min(runs, key=lambda r: r.wall_s)


def describe(files: list[InputFile]) -> dict[str, Any]:
    mix: dict[str, int] = defaultdict(int)
    for f in files:
        mix[f.flavour] += 1
    durations = sorted(f.duration_s for f in files)
    return {
        "files": len(files),
        "audio_min": round(sum(durations) / 60, 1),
        "shortest_s": durations[0],
        "median_s": durations[len(durations) // 2],
        "longest_s": durations[-1],
        "mix": dict(mix),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    pcm = plan_set("pcm", PCM_FLAVOURS, args.minutes, args.seed, quick=args.quick)
    g711 = plan_set("g711", G711_FLAVOURS, args.g711_minutes, args.seed + 1000, quick=args.quick)
    print("preparing inputs", file=sys.stderr)
    pcm_dir, g711_dir = ensure_set(pcm), ensure_set(g711)
    have_opusenc = Path(OPUSENC).exists()

    mm_runs: list[Run] = []
    op_runs: list[Run] = []
    g711_runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mm-bench-ingest-") as tmp:
        work = Path(tmp)
        for r in range(args.rounds):  # interleaved, so a noisy minute hurts both tools alike
            progress = f"round {r + 1}/{args.rounds}:"
            mm_runs.append(run_mm(pcm, pcm_dir, work))
            print(f"  {progress} mm PCM16 {mm_runs[-1].wall_s:.1f} s", file=sys.stderr)
            if have_opusenc:
                op_runs.append(run_opusenc(pcm, pcm_dir, work))
                print(f"  {progress} opusenc PCM16 {op_runs[-1].wall_s:.1f} s", file=sys.stderr)
            g711_runs.append(run_mm(g711, g711_dir, work))
            print(f"  {progress} mm G.711 {g711_runs[-1].wall_s:.1f} s", file=sys.stderr)

    decode_s = decode_only(pcm, pcm_dir)
    mm, g = best(mm_runs), best(g711_runs)
    op = best(op_runs) if op_runs else None
    ratio = mm.audio_min_per_s / op.audio_min_per_s if op else None
    cpu_ratio = op.cpu_s / mm.cpu_s if op else None
    return {
        "name": "ingest_throughput",
        "quick": args.quick,
        "rounds": args.rounds,
        "opusenc": f"{OPUSENC} {' '.join(OPUSENC_ARGS)}" if have_opusenc else "not installed",
        "sets": {"pcm16": describe(pcm), "g711": describe(g711)},
        "mm_pcm16": mm.figures(),
        "opusenc_pcm16": op.figures() if op else None,
        "mm_g711": g.figures(),
        "mm_pcm16_decode_only_s": round(decode_s, 3),
        "ratio_mm_to_opusenc": round(ratio, 3) if ratio is not None else None,
        "cpu_ratio_mm_to_opusenc": round(cpu_ratio, 3) if cpu_ratio is not None else None,
        "all_rounds_wall_s": {
            "mm_pcm16": [round(r.wall_s, 2) for r in mm_runs],
            "opusenc_pcm16": [round(r.wall_s, 2) for r in op_runs],
            "mm_g711": [round(r.wall_s, 2) for r in g711_runs],
        },
        "summary": summary_rows(mm, op, g, ratio),
    }


def summary_rows(mm: Run, op: Run | None, g711: Run, ratio: float | None) -> list[dict[str, Any]]:
    """Rows for run_all's table: a figure, its value, and the target it is held to, if any."""
    rows: list[dict[str, Any]] = [
        {
            "figure": "ingest throughput mm / opusenc (PCM16 mix)",
            "value": ratio,
            "unit": "×",
            "target": f"≥ {TARGET_RATIO}",
            "met": None if ratio is None else ratio >= TARGET_RATIO,
        },
        {"figure": "mm ingest, PCM16 mix", "value": mm.audio_min_per_s, "unit": "audio-min/s"},
        {"figure": "mm ingest, PCM16 mix", "value": mm.recordings_per_s, "unit": "recordings/s"},
    ]
    if op is not None:
        rows += [
            {"figure": "opusenc, same files", "value": op.audio_min_per_s, "unit": "audio-min/s"},
            {"figure": "opusenc, same files", "value": op.recordings_per_s, "unit": "recordings/s"},
        ]
    rows += [
        {
            "figure": "mm ingest, µ-law/A-law mix (no opusenc: it cannot read G.711)",
            "value": g711.audio_min_per_s,
            "unit": "audio-min/s",
        },
        {
            "figure": "mm Opus size, PCM16 mix",
            "value": mm.kb_per_audio_min,
            "unit": "KB/audio-min",
            "target": f"≈ {SEED_KB_PER_MIN:.0f} (seed F2)",
        },
    ]
    if op is not None:
        rows.append(
            {
                "figure": "opusenc Opus size, same files",
                "value": op.kb_per_audio_min,
                "unit": "KB/audio-min",
            }
        )
    return rows


def print_report(result: dict[str, Any]) -> None:
    for key in ("mm_pcm16", "opusenc_pcm16", "mm_g711"):
        fig = result[key]
        if fig is None:
            continue
        print(
            f"{key:14} {fig['files']:3d} files {fig['audio_min']:7.1f} audio-min  "
            f"wall {fig['wall_s']:7.2f} s  cpu {fig['cpu_s']:7.2f} s  "
            f"{fig['audio_min_per_s']:6.2f} audio-min/s  {fig['recordings_per_s']:6.2f} rec/s  "
            f"{fig['kb_per_audio_min']:6.1f} KB/min"
        )
    print(
        f"ratio mm/opusenc (wall): {result['ratio_mm_to_opusenc']}  "
        f"(cpu: {result['cpu_ratio_mm_to_opusenc']})"
    )
    stages = result["mm_pcm16"]["stages_s"]
    total = result["mm_pcm16"]["wall_s"]
    print("mm PCM16 time by stage:")
    for name, secs in stages.items():
        print(f"  {name:30} {secs:8.3f} s  {100 * secs / total:5.1f} %")
    print(f"  (decode + downmix alone, measured apart: {result['mm_pcm16_decode_only_s']:.3f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 15 s file per flavour")
    parser.add_argument("--minutes", type=float, default=90.0, help="PCM16 audio in the set")
    parser.add_argument("--g711-minutes", type=float, default=45.0, help="µ-law/A-law audio")
    parser.add_argument("--rounds", type=int, default=None, help="default 2, or 1 with --quick")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    result = measure(args)
    print_report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
