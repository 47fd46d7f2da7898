"""Search latency: p50/p95 of ten search shapes on a large catalogue, through Catalogue.search.

Target: p95 ≤ 20 ms for every shape on 1,000,000 recordings. The catalogue comes from
``catalogue_builder`` (cached under ``.bench/catalogue/``). The shape parameters (a common
agent, a number that called once, a day...) are read from the data, so they mean the same
thing at any size. A few extra figures (counting, sorting by a column without an index, a
one-character prefix) are reported without a target, to show where the limits are.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.catalogue_builder import cached_catalogue  # noqa: E402
from mm_engine.catalogue import Catalogue  # noqa: E402
from mm_engine.db import Database  # noqa: E402
from mm_engine.search import SearchQuery, parse_length  # noqa: E402
from mm_engine.signing import Signer  # noqa: E402
from mm_engine.storage import LocalStore  # noqa: E402

TARGET_P95_MS = 20.0
FULL_ROWS = 1_000_000
QUICK_ROWS = 20_000


@dataclass(frozen=True)
class Shape:
    name: str
    description: str
    run: Callable[[], Any]
    judged: bool = True


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile: the value below which ``pct`` % of the runs fall."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def parameters(db: Database) -> dict[str, Any]:
    """Representative values, taken from the catalogue itself."""
    one = db.query_one
    agent = one(
        "SELECT value, count(*) AS n FROM recording_members WHERE role = 'agent' "
        "GROUP BY value ORDER BY n DESC LIMIT 1"
    )
    number = one(
        "SELECT value, count(*) AS n FROM recording_members WHERE role = 'party' "
        "AND value LIKE '+%' GROUP BY value ORDER BY n DESC LIMIT 1"
    )
    rare = one(
        "SELECT value FROM recording_members WHERE role = 'party' AND value LIKE '+%' "
        "GROUP BY value HAVING count(*) = 1 ORDER BY value LIMIT 1"
    )
    total = int(one("SELECT count(*) FROM recordings")[0])  # type: ignore[index]
    middle = one("SELECT call_id FROM recordings ORDER BY id LIMIT 1 OFFSET ?", (total // 2,))
    late = one("SELECT start FROM recordings ORDER BY id LIMIT 1 OFFSET ?", (total * 9 // 10,))
    assert agent and number and rare and middle and late, "catalogue is too small"
    when = datetime.fromisoformat(late["start"])
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "rows": total,
        "common_agent": agent["value"],
        "common_agent_calls": agent["n"],
        "frequent_number": number["value"],
        "frequent_number_calls": number["n"],
        "rare_number": rare["value"],
        "call_id": middle["call_id"],
        "day": day,
    }


def shapes(cat: Catalogue, p: dict[str, Any]) -> list[Shape]:
    day: datetime = p["day"]
    month = (day - timedelta(days=30), day + timedelta(days=1))
    agent, rare = p["common_agent"], p["rare_number"]
    combined = SearchQuery(
        terms=[agent],
        direction="inbound",
        length=parse_length(">=60"),
        start_from=month[0],
        start_to=month[1],
        sort="duration_s",
    )
    first_page = cat.search(SearchQuery(terms=[agent]))
    second = SearchQuery(terms=[agent], cursor=first_page.next_cursor)

    def search(q: SearchQuery) -> Callable[[], Any]:
        return lambda: cat.search(q)

    return [
        Shape("all", "no filter, newest first", search(SearchQuery())),
        Shape("term_common", f"one term: common agent '{agent}'", search(SearchQuery([agent]))),
        Shape("term_rare", f"one term: rare number '{rare}'", search(SearchQuery([rare]))),
        Shape(
            "three_terms",
            "three ','-separated terms (agent, number, skill)",
            search(SearchQuery([f"{agent}, {rare}, Support"])),
        ),
        Shape(
            "one_day",
            f"calls of one day ({day:%Y-%m-%d})",
            search(SearchQuery(start_from=day, start_to=day + timedelta(days=1))),
        ),
        Shape("length", "length >=600", search(SearchQuery(length=parse_length(">=600")))),
        Shape(
            "direction_range",
            "inbound, 31 days",
            search(SearchQuery(direction="inbound", start_from=month[0], start_to=month[1])),
        ),
        Shape(
            "party",
            f"party = '{p['frequent_number']}' (exact)",
            search(SearchQuery(parties=[p["frequent_number"]])),
        ),
        Shape(
            "call_id",
            f"call ID = '{p['call_id']}' (exact)",
            search(SearchQuery(call_id=p["call_id"])),
        ),
        Shape(
            "combined",
            "agent term + inbound + length >=60 + 31 days, by duration",
            search(combined),
        ),
        Shape("second_page", "second page of the common-agent term (cursor)", search(second)),
        # reported, not judged
        Shape("count_all", "count(): no filter", lambda: cat.count(SearchQuery()), False),
        Shape(
            "count_term", "count(): common agent", lambda: cat.count(SearchQuery([agent])), False
        ),
        Shape(
            "sort_parties",
            "no filter, sorted by parties (no index)",
            search(SearchQuery(sort="parties")),
            False,
        ),
        Shape(
            "short_prefix",
            "one term: '+31' (prefix of a third of all numbers)",
            search(SearchQuery(["+31"])),
            False,
        ),
        Shape(
            "deep_page",
            "page 2 of 'combined'",
            search(replace(combined, cursor=cat.search(combined).next_cursor)),
            False,
        ),
    ]


def measure(shape: Shape, runs: int) -> dict[str, Any]:
    for _ in range(3):
        result = shape.run()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = shape.run()
        samples.append((time.perf_counter() - t0) * 1000)
    found = result if isinstance(result, int) else len(result.items)
    return {
        "shape": shape.name,
        "description": shape.description,
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "max_ms": round(max(samples), 2),
        "results": found,
        "judged": shape.judged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, help=f"catalogue size (default {FULL_ROWS:,})")
    parser.add_argument("--runs", type=int, default=60, help="timed runs per shape (default 60)")
    parser.add_argument("--quick", action="store_true", help=f"smoke size: {QUICK_ROWS:,} rows")
    parser.add_argument("--out", type=Path, help="write the JSON result here (default stdout)")
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    runs = min(args.runs, 20) if args.quick else args.runs

    path, built = cached_catalogue(rows)
    with tempfile.TemporaryDirectory(prefix="mm-search-bench-") as tmp:
        db = Database(path)
        try:
            cat = Catalogue(db, Signer(Path(tmp) / "keys"), lambda: LocalStore(Path(tmp) / "rec"))
            params = parameters(db)
            results = [measure(s, runs) for s in shapes(cat, params)]
        finally:
            db.close()

    summary = [
        {
            "figure": f"search p95: {r['description']}",
            "value": r["p95_ms"],
            "unit": "ms",
            "target": f"≤ {TARGET_P95_MS:g}" if r["judged"] else "",
            "met": (r["p95_ms"] <= TARGET_P95_MS) if r["judged"] else None,
        }
        for r in results
    ]
    doc = {
        "name": "search_latency",
        "date": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "rows": params["rows"],
        "runs": runs,
        "catalogue": str(path),
        "build_s": round(built, 1) if built is not None else None,
        "sqlite": sqlite3.sqlite_version,
        "parameters": {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in params.items()
        },
        "shapes": results,
        "summary": summary,
    }
    table = sys.stdout if args.out else sys.stderr
    head = f"{'shape':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'found':>8}  description"
    print(f"search latency on {params['rows']:,} recordings, {runs} runs per shape", file=table)
    print(head, file=table)
    for r in results:
        mark = "" if not r["judged"] else ("  ok" if r["p95_ms"] <= TARGET_P95_MS else "  MISS")
        print(
            f"{r['shape']:<16} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['max_ms']:>8.2f} "
            f"{r['results']:>8}  {r['description']}{mark}",
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
