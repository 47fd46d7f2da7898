"""Peak memory of ingesting one long recording: the engine must stay small next to the PBX.

Each case runs in a fresh process that does only what the service does for one file (open the
engine, build the pipeline, ``Pipeline.ingest``) and reports its own peak resident set
(``ru_maxrss``), so nothing else in this process, and not the input generator, is counted. The
parent also samples the child's RSS with psutil as a cross-check. The one-hour input is written
beforehand by another process, in blocks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_MB = 200.0
MB = 1024 * 1024
SAMPLE_SECONDS = 0.01


@dataclass(frozen=True)
class Case:
    name: str
    rate: int
    channels: int
    subtype: str

    @property
    def label(self) -> str:
        codec = {"PCM_16": "PCM16", "ULAW": "µ-law", "ALAW": "A-law"}[self.subtype]
        return f"{self.rate // 1000} kHz {'mono' if self.channels == 1 else 'stereo'} {codec}"


CASES = {
    "pcm16-16k-stereo": Case("pcm16-16k-stereo", 16000, 2, "PCM_16"),
    "ulaw-8k-mono": Case("ulaw-8k-mono", 8000, 1, "ULAW"),
}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # Linux: KiB


def child_generate(path: Path, case: Case, minutes: float) -> None:
    from bench.ingest_throughput import write_sidecar, write_speech_wav

    write_speech_wav(path, minutes * 60, case.rate, case.channels, case.subtype, seed=60)
    write_sidecar(path, 0)


def child_ingest(path: Path, home: Path) -> dict[str, Any]:
    """The measured process: the same imports and objects as ``mm --no-ui`` uses for one file."""
    os.environ["MM_HOME"] = str(home)
    from mm_engine.engine import Engine
    from mm_engine.service import Service

    imported = _maxrss_mb()
    with Engine(home) as engine:
        pipeline = Service(engine).pipeline()
        ready = _maxrss_mb()
        t0 = time.perf_counter()
        result = pipeline.ingest(path)
        wall = time.perf_counter() - t0
        row = engine.db.query_one("SELECT size, duration_s FROM recordings")
    return {
        "outcome": str(result.outcome),
        "reason": result.reason,
        "wall_s": round(wall, 2),
        "output_bytes": int(row["size"]) if row else 0,
        "duration_s": float(row["duration_s"]) if row else 0.0,
        "rss_after_imports_mb": round(imported, 1),
        "rss_before_ingest_mb": round(ready, 1),
        "peak_rss_mb": round(_maxrss_mb(), 1),
    }


def _sample_peak(pid: int, stop: threading.Event, peak: list[float]) -> None:
    import psutil

    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss / MB)
            time.sleep(SAMPLE_SECONDS)
    except psutil.Error:  # the child has exited
        return


def run_case(case: Case, minutes: float) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory(prefix="mm-bench-memory-") as tmp:
        home = Path(tmp) / "home"
        wav = home / "handover" / f"{case.name}.wav"
        wav.parent.mkdir(parents=True)
        t0 = time.perf_counter()
        subprocess.run(
            [*me, "--generate", str(wav), "--case", case.name, "--minutes", str(minutes)],
            check=True,
        )
        generated_s = time.perf_counter() - t0
        input_bytes = wav.stat().st_size

        proc = subprocess.Popen(
            [*me, "--ingest", str(wav), "--home", str(home)], stdout=subprocess.PIPE, text=True
        )
        stop, sampled = threading.Event(), [0.0]
        sampler = threading.Thread(target=_sample_peak, args=(proc.pid, stop, sampled))
        sampler.start()
        out, _ = proc.communicate()
        stop.set()
        sampler.join()
        if proc.returncode != 0:
            raise RuntimeError(f"the ingest process for {case.name} failed ({proc.returncode})")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if report["outcome"] != "ingested":
        raise RuntimeError(f"{case.name} was not ingested: {report['outcome']} {report['reason']}")
    report.update(
        case=case.name,
        label=case.label,
        audio_min=round(minutes, 2),
        input_mb=round(input_bytes / MB, 1),
        generate_s=round(generated_s, 1),
        sampled_peak_rss_mb=round(sampled[0], 1),
        met=report["peak_rss_mb"] <= TARGET_MB,
    )
    return report


def measure(minutes: float, names: list[str]) -> dict[str, Any]:
    cases = []
    for name in names:
        print(f"  {name}: {minutes:g} min", file=sys.stderr)
        cases.append(run_case(CASES[name], minutes))
    return {
        "name": "ingest_memory",
        "minutes": minutes,
        "target_mb": TARGET_MB,
        "cases": cases,
        "summary": [
            {
                "figure": f"peak RSS, ingest of one {minutes:g}-min {c['label']} WAV "
                f"({c['input_mb']:.{0 if c['input_mb'] >= 10 else 1}f} MB)",
                "value": c["peak_rss_mb"],
                "unit": "MB",
                "target": f"≤ {TARGET_MB:.0f}",
                "met": c["met"],
            }
            for c in cases
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, help="recording length (default 60, quick 1)")
    parser.add_argument("--quick", action="store_true", help="a 1-minute recording")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: all")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ingest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    minutes = args.minutes if args.minutes is not None else (1.0 if args.quick else 60.0)

    if args.generate:
        child_generate(args.generate, CASES[args.case[0]], minutes)
        return 0
    if args.ingest:
        print(json.dumps(child_ingest(args.ingest, args.home)))
        return 0

    result = measure(minutes, args.case or list(CASES))
    for c in result["cases"]:
        print(
            f"{c['label']:24} {c['input_mb']:7.1f} MB in  peak RSS {c['peak_rss_mb']:6.1f} MB "
            f"(sampled {c['sampled_peak_rss_mb']:.1f}; {c['rss_before_ingest_mb']:.1f} before "
            f"ingest)  ingest {c['wall_s']:.1f} s  -> {'PASS' if c['met'] else 'MISS'}"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
