"""Run every benchmark, hold each figure against its target, and keep a dated record.

Each benchmark runs in its own process, one after the other (the machine's cores are the thing
being measured), and hands back JSON through ``--out``. A benchmark that reports a ``summary``
list (rows of ``figure``, ``value``, ``unit``, ``target``, ``met``) gets its targets judged as it
states them; any other JSON is shown as its numeric fields, without a verdict.

Full runs append a dated section to ``docs/performance.md`` under "## Results"; ``--quick``
(smoke sizes, numbers not comparable) records only where ``--record-to`` says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHES = (
    "ingest_throughput",
    "ingest_memory",
    "search_latency",
    "console_latency",
    "contact_recorder_migration",
    "archive_throughput",
)
DEFAULT_RECORD = ROOT / "docs" / "performance.md"
RESULTS_HEADING = "## Results"
RESULTS_INTRO = (
    "Appended by `./scripts/bench` after each full run, oldest first. Sizes are decimal "
    "(1 KB = 1000 bytes) for Opus output and binary (1 MB = 1 MiB) for memory.\n"
)

Row = dict[str, Any]


def machine() -> dict[str, Any]:
    """What the figures depend on, so a later reader can tell a regression from a new box."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    try:
        import soundfile

        info["libsndfile"] = soundfile.__libsndfile_version__
    except ImportError:
        pass
    opusenc = shutil.which("opusenc")
    if opusenc:
        out = subprocess.run([opusenc, "--version"], capture_output=True, text=True)
        first = out.stdout.splitlines()[0] if out.stdout else "unknown"
        info["opusenc"] = first.removeprefix("opusenc ")
    return info


def accepts(script: Path, flag: str) -> bool:
    """Whether a benchmark written by someone else takes ``flag``, judged by its ``--help``."""
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    return out.returncode == 0 and re.search(rf"(^|\s){re.escape(flag)}\b", out.stdout) is not None


def run_bench(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    script = ROOT / "bench" / f"{name}.py"
    out = tmp / f"{name}.json"
    cmd = [sys.executable, str(script), "--out", str(out)]
    if args.quick and (name != "search_latency" or accepts(script, "--quick")):
        cmd.append("--quick")
    if name == "ingest_memory" and args.memory_minutes is not None:
        cmd += ["--minutes", str(args.memory_minutes)]
    print(f"== {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        return {"name": name, "error": f"exit code {proc.returncode}", "elapsed_s": elapsed}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result.setdefault("name", name)
    result["elapsed_s"] = round(elapsed, 1)
    return result


def _flatten(value: Any, prefix: str = "") -> list[Row]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [{"figure": prefix, "value": value}]
    rows: list[Row] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("name", "elapsed_s"):
                rows += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return rows


def rows_of(result: dict[str, Any]) -> list[Row]:
    if "error" in result:
        return [
            {
                "figure": "benchmark failed",
                "value": None,
                "target": "",
                "met": False,
                "unit": result["error"],
            }
        ]
    for key in ("summary", "targets"):
        if isinstance(result.get(key), list):
            return [
                {
                    "figure": r.get("figure") or r.get("name") or r.get("label") or "?",
                    "value": r.get("value"),
                    "unit": r.get("unit", ""),
                    "target": r.get("target", ""),
                    "met": r.get("met", r.get("pass", r.get("ok"))),
                }
                for r in result[key]
                if isinstance(r, dict)
            ]
    return _flatten(result)[:20]


def fmt(value: Any) -> str:
    """Three significant figures or more, keeping trailing zeros so columns compare at a glance."""
    if value is None:
        return "—"
    if isinstance(value, float):
        size = abs(value)
        decimals = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 1 else 3
        return f"{value:,.{decimals}f}"
    return str(value)


def verdict(met: Any) -> str:
    return "—" if met is None else ("PASS" if met else "MISS")


def table(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    lines = []
    for name, result in results.items():
        for r in rows_of(result):
            value = f"{fmt(r['value'])} {r.get('unit', '')}".strip()
            lines.append((name, r["figure"], value, r.get("target") or "", verdict(r.get("met"))))
    return lines


def print_table(lines: list[tuple[str, str, str, str, str]]) -> None:
    head = ("benchmark", "figure", "value", "target", "result")
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(5)]
    for row in [head, tuple("-" * w for w in widths), *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def markdown(
    when: datetime, info: dict[str, Any], lines: list[tuple[str, str, str, str, str]], quick: bool
) -> str:
    kind = "quick run (smoke sizes: not comparable)" if quick else "full run"
    tools = ", ".join(f"{k} {info[k]}" for k in ("libsndfile", "opusenc") if k in info)
    out = [
        f"### {when:%Y-%m-%d %H:%M} — {kind}",
        "",
        f"Machine: {info['nproc']} × {info['cpu']}, Python {info['python']}, "
        f"Linux {info['kernel']}" + (f"; {tools}" if tools else "") + ".",
        "",
        "| benchmark | figure | value | target | result |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in lines]
    return "\n".join(out) + "\n"


def record(path: Path, section: str) -> None:
    """Add ``section`` at the end of the Results section, leaving other sections untouched."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else ["# Performance"]
    if RESULTS_HEADING not in lines:
        lines += ["", RESULTS_HEADING, "", *RESULTS_INTRO.splitlines()]
    start = lines.index(RESULTS_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    body, rest = lines[:end], lines[end:]
    while body and not body[-1].strip():
        body.pop()
    out = [*body, "", *section.rstrip("\n").splitlines(), *(["", *rest] if rest else [])]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes: seconds, not minutes")
    parser.add_argument("--only", action="append", choices=BENCHES, help="repeatable")
    parser.add_argument(
        "--memory-minutes", "--minutes", type=float, help="length of the memory bench's recording"
    )
    parser.add_argument(
        "--record-to", type=Path, help=f"default {DEFAULT_RECORD.relative_to(ROOT)}"
    )
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument("--json-out", type=Path, help="write every result as one JSON file")
    args = parser.parse_args(argv)

    when = datetime.now().astimezone()
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmp:
        for name in args.only or BENCHES:
            if not (ROOT / "bench" / f"{name}.py").exists():
                print(f"== {name}: not present, skipped", file=sys.stderr)
                continue
            results[name] = run_bench(name, args, Path(tmp))

    lines = table(results)
    print()
    print_table(lines)
    if args.json_out:
        doc = {
            "date": when.isoformat(timespec="seconds"),
            "quick": args.quick,
            "machine": info,
            "results": results,
        }
        args.json_out.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    target = args.record_to or (None if args.quick else DEFAULT_RECORD)
    if target is not None and not args.no_record and results:
        record(target, markdown(when, info, lines, args.quick))
        print(f"\nrecorded in {target}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
