"""The benchmarks run end to end and report sane figures; ./scripts/bench judges the targets.

Speed is never asserted here: a loaded CI machine would make such a test flaky, and the dated
record in docs/performance.md is where the figures are kept. These runs use smoke sizes and
record into a temporary file, so the real docs/performance.md is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL = ROOT / "bench" / "run_all.py"
DOCS = ROOT / "docs" / "performance.md"
OPUSENC = Path("/usr/bin/opusenc")


def run_all(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    before = DOCS.read_bytes() if DOCS.exists() else None
    record, out = tmp_path / "performance.md", tmp_path / "results.json"
    env = {**os.environ, "MM_BENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN_ALL),
            "--quick",
            *args,
            "--record-to",
            str(record),
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (DOCS.read_bytes() if DOCS.exists() else None) == before, "wrote the real record"
    return json.loads(out.read_text(encoding="utf-8")), record.read_text(encoding="utf-8")


def test_throughput_bench_measures_mm_and_opusenc_on_the_same_files(tmp_path: Path) -> None:
    doc, record = run_all(tmp_path, "--only", "ingest_throughput")

    result = doc["results"]["ingest_throughput"]
    assert set(doc["results"]) == {"ingest_throughput"}
    for key in ("mm_pcm16", "mm_g711"):
        figures = result[key]
        assert figures["files"] == result["sets"][key.removeprefix("mm_")]["files"] > 0
        assert figures["audio_min_per_s"] > 0 and figures["recordings_per_s"] > 0
        assert 30 < figures["kb_per_audio_min"] < 400  # Opus speech, neither empty nor PCM
    assert "ratio_mm_to_opusenc" in result
    if OPUSENC.exists():
        assert result["opusenc_pcm16"]["files"] == result["mm_pcm16"]["files"]
        assert result["ratio_mm_to_opusenc"] > 0
    stages = result["mm_pcm16"]["stages_s"]
    assert stages["decode + encode Opus"] > 0 and "catalogue commit" in stages

    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["python"]
    assert "## Results" in record and "— quick run" in record
    assert "| ingest_throughput | ingest throughput mm / opusenc (PCM16 mix) |" in record


def test_memory_bench_reports_the_peak_rss_of_a_fresh_ingest_process(tmp_path: Path) -> None:
    doc, record = run_all(tmp_path, "--only", "ingest_memory", "--minutes", "0.5")

    result = doc["results"]["ingest_memory"]
    assert {c["case"] for c in result["cases"]} == {"pcm16-16k-stereo", "ulaw-8k-mono"}
    for case in result["cases"]:
        assert case["outcome"] == "ingested"
        assert abs(case["duration_s"] - 30.0) < 0.1
        assert 0 < case["rss_before_ingest_mb"] <= case["peak_rss_mb"]
        assert case["sampled_peak_rss_mb"] > 0
    assert [row["target"] for row in result["summary"]] == ["≤ 200", "≤ 200"]
    assert "peak RSS" in record


def test_console_bench_times_first_paint_and_paging(tmp_path: Path) -> None:
    doc, record = run_all(tmp_path, "--only", "console_latency")

    result = doc["results"]["console_latency"]
    assert len(result["first_paint_s"]) == 3 and all(t > 0 for t in result["first_paint_s"])
    pages = result["page_down_ms"]
    assert 0 < pages["p50"] <= pages["p95"] <= pages["max"]
    idle = result["page_down_until_idle_ms"]
    assert 0 < idle["p50"] <= idle["p95"] <= idle["max"]
    assert [row["target"] for row in result["summary"]] == ["≤ 1.5 s", "≤ 100 ms", "", ""]
    assert "page-down p95" in record and "until the console is idle again" in record


def test_archive_bench_copies_with_mm_smbclient_and_rclone_to_samba_and_s3(
    tmp_path: Path,
) -> None:
    doc, record = run_all(tmp_path, "--only", "archive_throughput")

    result = doc["results"]["archive_throughput"]
    assert "error" not in result, result
    assert result["all_arrived"] is True
    count = result["files"]
    assert count > 0 and result["file_bytes"] > 0
    tools = {(c["target"], c["tool"]) for c in result["copies"]}
    assert tools == {("smb", "mm"), ("smb", "smbclient"), ("smb", "rclone")} | {
        ("s3-moto", "mm"),
        ("s3-moto", "rclone"),
    }
    for copy in result["copies"]:  # every recording arrived whole, whoever copied it
        assert copy["files_arrived"] == copy["files_expected"] == count, copy
        assert copy["sample_hashed"] > 0 and copy["sample_ok"], copy
        assert copy["seconds"] > 0 and copy["mb_per_s"] > 0 and copy["files_per_s"] > 0
    for target in ("smb", "s3-moto"):
        mm = result["per_target"][target]["mm"]
        assert mm["status"] == "done" and mm["archived"] == count and mm["failed"] == 0
        assert 0 < mm["rss_before_run_mb"] <= mm["peak_rss_mb"]
        assert result["per_target"][target]["ratio_mm_to_faster"] > 0
    ratios = [r for r in result["summary"] if r["figure"].startswith("archive throughput mm /")]
    assert [r["target"] for r in ratios] == ["≥ 0.8", "≥ 0.8"]
    assert "| archive_throughput | archive throughput mm / " in record
    assert "mm peak RSS, archiving to Samba" in record
