"""Contact Recorder migration: records per second, migrating a 100,000-record legacy tree.

Target: ≥ 2,000 records/s (issue 7). The tree comes from ``scripts/gen-contact-recorder`` (same
seed, same tree; cached under ``.bench/contact-recorder/``, its WAV files hard links to a few
dozen real ones) with the generator's usual 2 % of faulty files. The run is the one
``mm migrate contact-recorder`` makes, on a fresh data directory: walking the tree, reading
every call-details file and recording size, creating the connectors, signing the authenticated
records and writing the catalogue rows in batches, each batch one durable transaction.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mm_engine.contact_recorder.importer import ContactRecorderMigration  # noqa: E402
from mm_engine.engine import Engine  # noqa: E402

TARGET_RPS = 2000.0
FULL_RECORDS = 100_000
QUICK_RECORDS = 5_000
SEED = 7
TREE_VERSION = 1  # bump when the generator's output changes
CACHE_DIR = ROOT / ".bench" / "contact-recorder"
GENERATOR = ROOT / "scripts" / "gen-contact-recorder"


def cached_tree(records: int) -> tuple[Path, float | None]:
    """The generated tree for ``records`` and, if it had to be made now, how long that took."""
    path = CACHE_DIR / f"v{TREE_VERSION}-{records}-seed{SEED}"
    if (path / "connectors.xml").exists():
        return path, None
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            str(partial),
            "--records",
            str(records),
            "--seed",
            str(SEED),
        ],
        check=True,
        cwd=ROOT,
    )
    partial.rename(path)
    return path, time.perf_counter() - t0


def migrate(tree: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mm-cr-bench-") as tmp:
        engine = Engine(Path(tmp) / "home")
        try:
            t0 = time.perf_counter()
            summary = ContactRecorderMigration(engine.db, engine.signer).run(tree)
            elapsed = time.perf_counter() - t0
        finally:
            engine.close()
    return {
        "elapsed_s": round(elapsed, 2),
        "records": summary.total,
        "records_per_s": round(summary.total / elapsed, 1),
        "migrated": summary.migrated,
        "skipped": summary.skipped,
        "authenticated": summary.authenticated,
        "connectors_created": len(summary.connectors_created),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, help=f"legacy records (default {FULL_RECORDS:,})")
    parser.add_argument("--quick", action="store_true", help=f"smoke size: {QUICK_RECORDS:,}")
    parser.add_argument("--out", type=Path, help="write the JSON result here (default stdout)")
    args = parser.parse_args(argv)
    records = args.records or (QUICK_RECORDS if args.quick else FULL_RECORDS)

    tree, built = cached_tree(records)
    result = migrate(tree)
    rps = result["records_per_s"]
    summary = [
        {
            "figure": f"migration throughput ({records:,} legacy records)",
            "value": rps,
            "unit": "records/s",
            "target": f"≥ {TARGET_RPS:,.0f}",
            "met": rps >= TARGET_RPS,
        },
        {
            "figure": f"migration time ({records:,} legacy records)",
            "value": result["elapsed_s"],
            "unit": "s",
            "target": "",
            "met": None,
        },
    ]
    doc = {
        "name": "contact_recorder_migration",
        "date": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "tree": str(tree),
        "generate_s": round(built, 1) if built is not None else None,
        **result,
        "summary": summary,
    }
    table = sys.stdout if args.out else sys.stderr
    print(
        f"migrated {result['migrated']:,} of {result['records']:,} legacy records "
        f"({result['skipped']:,} skipped) in {result['elapsed_s']:.1f} s: {rps:,.0f} records/s "
        f"(target ≥ {TARGET_RPS:,.0f})",
        file=table,
    )
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0  # a missed target is a figure for run_all.py to judge, not a crash


if __name__ == "__main__":
    raise SystemExit(main())
