"""A realistic catalogue of N recordings, built straight into SQLite for the search benchmarks.

Ingesting a million real files would take a day; the search speed only depends on the rows.
The file goes through the product's own migrations, so it has exactly the production schema,
indexes and triggers. It is cached under ``.bench/`` keyed by the builder version, the schema
version and the row count, so repeated benchmark runs reuse it.

Speed: rows are generated in time order, the secondary indexes and the FTS insert trigger are
dropped during the load and recreated afterwards (a sorted index build and one FTS ``rebuild``
are far faster than a million incremental updates), then ANALYZE gives the planner statistics.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mm_engine.db.database import connect  # noqa: E402
from mm_engine.db.migrations import STEPS, migrate  # noqa: E402

BUILDER_VERSION = 1
# MM_BENCH_CACHE lets the smoke test keep its catalogues out of the working tree.
CACHE_DIR = Path(os.environ.get("MM_BENCH_CACHE") or ROOT / ".bench") / "catalogue"
FIRST_DAY = datetime(2024, 11, 25, tzinfo=UTC)
DAYS = 730
ZONE = ZoneInfo("Europe/Amsterdam")
BYTES_PER_SECOND = 100_000 / 60  # Opus at about 100 KB per minute (seed F2)
BATCH = 20_000

FIRST = [
    "Alice", "Bob", "Carla", "Daan", "Eva", "Frank", "Greta", "Hugo", "Ingrid", "Jan", "Kim",
    "Lars", "Mila", "Noah", "Olga", "Piet", "Quinn", "Rosa", "Sam", "Tess", "Umar", "Vera",
    "Wim", "Xenia", "Yara", "Zeno", "Anna", "Bram", "Cleo", "Dirk", "Elif", "Finn", "Gijs",
    "Hanna", "Ivo", "Joost", "Kees", "Lotte", "Maud", "Niels", "Otto", "Pien", "Ruud", "Sara",
    "Thijs", "Ugo", "Vince", "Wendy", "Yusuf", "Zoë",
]  # fmt: skip
LAST = [
    "Jansen", "Visser", "Smit", "Bakker", "Mulder", "Bos", "Vos", "Peters", "Hendriks",
    "Dekker", "Brouwer", "Dijkstra", "Kok", "Jacobs", "Vermeulen", "Willems", "Schouten",
    "Hoekstra", "Koster", "Prins", "Huisman", "Kuipers", "Verhoeven", "Postma", "Kramer",
    "Blom", "Boer", "Wolters", "Müller", "García",
]  # fmt: skip
HUNT_GROUPS = [
    "Sales", "Support", "Billing", "Reception", "Service", "Logistics", "Returns", "Claims",
    "Helpdesk", "Renewals", "Partners", "Escalations",
]  # fmt: skip
LANGS = ("EN", "NL", "DE", "FR")


@dataclass(frozen=True)
class Population:
    """The people and numbers calls are drawn from, with skewed popularity."""

    agents: list[tuple[str, str, str]]  # (name, extension, skill)
    agent_weights: list[float]
    externals: list[str]
    external_weights: list[float]
    ddis: list[str]
    account_codes: list[str]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def population(rng: random.Random) -> Population:
    names = [f"{f} {s}" for f in FIRST for s in LAST]
    rng.shuffle(names)
    skills = [f"{g}-{lang}" for g in HUNT_GROUPS for lang in LANGS]
    agents = [(names[i], str(201 + i), rng.choice(skills)) for i in range(320)]
    externals: set[str] = set()
    prefixes = ("+3120", "+3110", "+3130", "+316", "+4930", "+4940", "+44207", "+44161", "+1212")
    while len(externals) < 20_000:
        p = rng.choice(prefixes)
        externals.add(p + "".join(rng.choice("0123456789") for _ in range(12 - len(p) + 1)))
    ext_list = sorted(externals)
    rng.shuffle(ext_list)
    ddis = [f"+3120555{n:04d}" for n in range(50)]
    codes = [f"AC{n:03d}" for n in range(40)]
    return Population(
        agents,
        zipf_weights(len(agents), 0.8),
        ext_list,
        zipf_weights(len(ext_list), 1.0),
        ddis,
        codes,
    )


def start_times(rng: random.Random, rows: int) -> list[datetime]:
    """About two years of office-hours calls, busier on weekdays, in time order."""
    first = FIRST_DAY
    day_weights = [0.12 if (first + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(DAYS)]
    hour_weights = [0.01] * 7 + [0.4, 1.0, 1.2, 1.2, 1.0, 0.7, 1.0, 1.1, 1.1, 0.9, 0.5] + [0.05] * 6
    days = rng.choices(range(DAYS), day_weights, k=rows)
    hours = rng.choices(range(24), hour_weights, k=rows)
    offsets = sorted(
        d * 86400 + h * 3600 + rng.random() * 3600 for d, h in zip(days, hours, strict=True)
    )
    # Local office hours: shift UTC by the zone's usual offset so peaks land mid-morning.
    return [(first + timedelta(seconds=o - 3600)).astimezone(ZONE) for o in offsets]


def duration(rng: random.Random) -> float:
    """Log-normal around 90 s: many short calls, a long tail up to an hour."""
    if rng.random() < 0.08:
        return round(rng.uniform(1.0, 8.0), 2)
    return round(min(3600.0, max(1.0, rng.lognormvariate(math.log(90), 1.2))), 2)


def fake_b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


Row = tuple[object, ...]


def generate(rows: int, seed: int = 1) -> Iterator[tuple[Row, list[tuple[str, str]]]]:
    """Yield (recording row, [(role, value)...]) in time order."""
    rng = random.Random(seed)
    pop = population(rng)
    starts = start_times(rng, rows)
    call_no = 10_000_000
    key_id = hashlib.sha256(b"bench").hexdigest()[:16]
    agent_cw = list(accumulate(pop.agent_weights))
    ext_cw = list(accumulate(pop.external_weights))
    # drawn up front: bisecting one cumulative table per row is what keeps 1M rows in minutes
    firsts = rng.choices(pop.agents, cum_weights=agent_cw, k=rows)
    seconds = rng.choices(pop.agents, cum_weights=agent_cw, k=rows)
    externals = rng.choices(pop.externals, cum_weights=ext_cw, k=rows)
    for i, start in enumerate(starts):
        call_no += rng.randint(1, 3)
        call_id = str(call_no)
        a, ext = firsts[i], externals[i]
        roll = rng.random()
        agents = [a[0]]
        skill = ""
        if roll < 0.55:
            direction = "inbound"
            parties = [ext, a[1]]
            skill = a[2]
            if rng.random() < 0.6:
                owner, kind = skill.split("-")[0], "hunt_group"
            else:
                owner, kind = a[1], "user"
            target = rng.choice(pop.ddis)
        elif roll < 0.90:
            direction = "outbound"
            parties = [a[1], ext]
            if rng.random() < 0.05:
                owner, kind = rng.choice(pop.account_codes), "account_code"
            else:
                owner, kind = a[1], "user"
            target = ext
            skill = a[2] if rng.random() < 0.3 else ""
        else:
            direction = "internal"
            b = seconds[i]
            parties = [a[1], b[1]]
            if rng.random() < 0.5 and b[0] != a[0]:
                agents.append(b[0])
            owner, kind, target = a[1], "user", b[1]
        if direction != "internal" and rng.random() < 0.05:  # transferred to a colleague
            c = seconds[i]
            if c[1] not in parties:
                parties.append(c[1])
                agents.append(c[0])
        dur = duration(rng)
        ingested = (start + timedelta(seconds=dur + rng.uniform(2, 40))).astimezone(UTC)
        path = f"{start:%Y/%m/%d}/{call_id}-1.opus"
        row = (
            i + 1,
            call_id,
            1,
            start.isoformat(),
            start.timestamp(),
            dur,
            direction,
            ";".join(parties),
            ";".join(agents),
            owner,
            kind,
            target,
            skill,
            int(rng.random() < 0.7),
            path,
            int(dur * BYTES_PER_SECOND) + 600,
            rng.randbytes(32).hex(),
            fake_b64(rng, 64),
            key_id,
            rng.randbytes(32).hex(),
            f"{call_id}.wav",
            ingested.isoformat(timespec="seconds"),
        )
        members = [("party", p) for p in parties] + [("agent", g) for g in agents]
        yield row, members


def _saved_sql(conn: sqlite3.Connection, kind: str) -> list[str]:
    rows = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = ? AND sql IS NOT NULL "
        "AND tbl_name IN ('recordings', 'recording_members')",
        (kind,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def build(path: Path, rows: int, seed: int = 1, log: bool = True) -> None:
    t0 = time.perf_counter()
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    conn = connect(tmp)
    migrate(conn)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA foreign_keys=OFF")
    indexes = _saved_sql(conn, "index")
    triggers = _saved_sql(conn, "trigger")
    conn.execute("BEGIN")
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND sql IS NOT NULL AND tbl_name IN ('recordings', 'recording_members')"
    ).fetchall():
        conn.execute(f"DROP {kind.upper()} {name}")
    rec_sql = (
        "INSERT INTO recordings (id, call_id, seq, start, start_ts, duration_s, direction, "
        "parties, agents, owner, owner_kind, target, skill, authenticated, path, size, sha256, "
        "signature, key_id, source_key, source_name, ingested_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    mem_sql = "INSERT INTO recording_members (recording_id, role, value) VALUES (?, ?, ?)"
    recs: list[Row] = []
    mems: list[Row] = []
    for row, members in generate(rows, seed):
        recs.append(row)
        mems.extend((row[0], role, value) for role, value in members)
        if len(recs) >= BATCH:
            conn.executemany(rec_sql, recs)
            conn.executemany(mem_sql, mems)
            recs.clear()
            mems.clear()
    conn.executemany(rec_sql, recs)
    conn.executemany(mem_sql, mems)
    t1 = time.perf_counter()
    for sql in indexes:
        conn.execute(sql)
    t2 = time.perf_counter()
    conn.execute("INSERT INTO recordings_fts (recordings_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO recordings_fts (recordings_fts) VALUES ('optimize')")
    for sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    t3 = time.perf_counter()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA optimize")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    tmp.replace(path)
    if log:
        print(
            f"built {rows:,} recordings in {time.perf_counter() - t0:.0f} s "
            f"(rows {t1 - t0:.0f} s, indexes {t2 - t1:.0f} s, FTS {t3 - t2:.0f} s) -> {path}",
            file=sys.stderr,
        )


def cache_path(rows: int) -> Path:
    return CACHE_DIR / f"b{BUILDER_VERSION}-s{len(STEPS)}-{rows}.db"


def cached_catalogue(rows: int) -> tuple[Path, float | None]:
    """The cached catalogue for ``rows`` and, if it had to be built now, how long that took."""
    path = cache_path(rows)
    if path.exists():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build(path, rows)
    return path, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--force", action="store_true", help="Rebuild even if cached.")
    args = parser.parse_args(argv)
    path = cache_path(args.rows)
    if args.force or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path, args.rows)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
