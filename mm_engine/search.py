"""Searching the catalogue (seed F25, F26): from a search box and filters to fast SQL.

The catalogue can hold millions of rows, so a page must come from an index walk that stops
after ``limit`` rows: keyset pagination on (sort keys, id), never OFFSET.

SQLite's planner cannot see how many rows a full-text term or an exact party matches (a
"source"), and guesses badly both ways: it sorts a huge match set to show 50 rows, or walks
the whole date index hoping to meet a rare term. So :func:`run_page` looks first:

1. each party/agent source is counted up to :data:`DRIVE_LIMIT` (an index count, cheap);
2. a text term, unless a small party/agent set is there to drive, is tried on a *window*: the
   next :data:`WINDOW` rows in sort order, matched in one FTS call limited to their rowid span;
   common terms end here;
3. otherwise the smallest source under :data:`DRIVE_LIMIT` drives (fetch its rows, sort them),
   or, when every source is large, the sort index is walked and each row is tested.

Every shape returns the same rows (tests/test_catalogue.py holds each against a full scan);
bench/search_latency.py measures them on a million recordings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mm_engine.domain import Direction, Recording
from mm_engine.errors import InvalidInput
from mm_engine.text import msg

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_TERMS = 50
MAX_VALUE_CHARS = 200
# Below this many matches it is cheaper to fetch every match and sort than to walk an index.
DRIVE_LIMIT = 2000
# How many rows in sort order are tested against a common search term in one go, and how far
# apart their ids may lie for that test to stay cheap (see _window).
WINDOW = 2048
WINDOW_MAX_SPAN = 64 * WINDOW
# Characters the FTS tokenizer keeps inside a token (see migration _001_core).
TOKEN_CHARS = frozenset("-_+.@#*")

# Sort name -> the keys of its order as (SQL expression, row column). Text sorts ignore case,
# as the exact filters do. Ties fall back to the call time, then the id, which is the order
# of the indexes on these columns, so a page is an index walk and never a sort.
_START = ("r.start_ts", "start_ts")
SORT_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "start": (_START,),
    "duration_s": (("r.duration_s", "duration_s"),),
    "direction": (("r.direction", "direction"), _START),
    "parties": (("r.parties COLLATE NOCASE", "parties"), _START),
    "agents": (("r.agents COLLATE NOCASE", "agents"), _START),
    "owner": (("r.owner COLLATE NOCASE", "owner"), _START),
    "target": (("r.target COLLATE NOCASE", "target"), _START),
    "skill": (("r.skill COLLATE NOCASE", "skill"), _START),
    "call_id": (("r.call_id COLLATE NOCASE", "call_id"),),
    "id": (),
}
SORT_COLUMNS: tuple[str, ...] = tuple(SORT_KEYS)
_NUMERIC_COLUMNS = frozenset({"start_ts", "duration_s"})

COLUMNS = (
    "r.id, r.call_id, r.seq, r.start, r.start_ts, r.duration_s, r.direction, r.parties, "
    "r.agents, r.owner, r.owner_kind, r.target, r.skill, r.authenticated, r.path, r.size, "
    "r.sha256, r.signature, r.key_id, r.ingested_at, r.source_name, r.local_present"
)

LENGTH_OPERATORS = ("=", "<", ">", ">=", "<=")
_LENGTH = re.compile(r"^\s*(<=|>=|=|<|>)?\s*(\d{1,7})\s*$")


@dataclass(frozen=True)
class LengthFilter:
    """A length condition in whole seconds, compared with the length shown to people.

    Lengths are stored with fractions but shown rounded to the second, so ``=30`` must find a
    call shown as 0:30 even if it lasted 30.4 s: each operator becomes a range on the stored
    value around the rounding boundary.
    """

    op: str
    seconds: int

    def bounds(self) -> tuple[float | None, float | None]:
        """[low, high) on ``duration_s``; None means open."""
        n = float(self.seconds)
        return {
            "=": (n - 0.5, n + 0.5),
            "<": (None, n - 0.5),
            "<=": (None, n + 0.5),
            ">": (n + 0.5, None),
            ">=": (n - 0.5, None),
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op}{self.seconds}"


def parse_length(text: str) -> LengthFilter:
    """Parse ``<=30``, ``>= 600`` or ``45`` (meaning ``=45``) as in the seed's length filter."""
    match = _LENGTH.match(text)
    if not match:
        raise InvalidInput(
            msg("Length filter {text!r} is not valid.", text=text),
            msg(
                "Use an operator (=, <, >, >=, <=) followed by whole seconds, "
                "e.g. '>=600' or '<30'."
            ),
        )
    return LengthFilter(match.group(1) or "=", int(match.group(2)))


def split_values(values: list[str] | str | None) -> list[str]:
    """The seed's ``,``-separated lists, as one string or several; blanks dropped."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else values
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


@dataclass(frozen=True)
class Scope:
    """The recordings an end user may see (F12), as a condition the search runs in SQL.

    ``values`` (their own extension and the "others" list) match a party, an agent or the
    owner; ``groups`` match the owner of hunt-group recordings. Matching ignores case, as the
    exact party filters do. Enforced in SQL rather than by filtering pages, so a page is
    always full and paging stays correct. An empty scope matches nothing.
    """

    values: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def describe(self) -> dict[str, list[str]]:
        return {"values": sorted(self.values), "groups": sorted(self.groups)}


@dataclass
class SearchQuery:
    """One search: the search box (ANY of ``terms``) narrowed by every filter given."""

    terms: list[str] = field(default_factory=list)
    start_from: datetime | None = None  # inclusive
    start_to: datetime | None = None  # exclusive
    length: LengthFilter | None = None
    direction: Direction | str | None = None
    parties: list[str] = field(default_factory=list)  # ALL of them, exact
    agents: list[str] = field(default_factory=list)  # ALL of them, exact
    target: str | None = None
    skill: str | None = None
    call_id: str | None = None
    sort: str = "start"
    descending: bool = True
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    scope: Scope | None = None  # None: every recording


@dataclass(frozen=True)
class Page:
    items: list[Recording]
    next_cursor: str | None


@dataclass(frozen=True)
class Source:
    """A set of recording ids the planner cannot size: an FTS match or one exact member."""

    kind: str  # "fts", "party" / "agent", or "scope"
    value: str
    scope: Scope | None = None  # for "scope"

    def ids_sql(self) -> tuple[str, list[Any]]:
        if self.kind == "scope":
            return _scope_ids_sql(self.scope or Scope())
        if self.kind == "fts":
            return (
                "SELECT rowid AS id FROM recordings_fts WHERE recordings_fts MATCH ?",
                [self.value],
            )
        return (
            "SELECT DISTINCT recording_id AS id FROM recording_members "
            "WHERE role = ? AND value = ?",
            [self.kind, self.value],
        )

    def test_sql(self) -> tuple[str, list[Any]]:
        """A condition on ``r`` that holds when the row is in this set, for index walks."""
        if self.kind == "scope":
            return scope_test_sql(self.scope or Scope())
        if self.kind == "fts":
            # the "+" keeps the planner from driving from this set: we decided it is large
            return (
                "+r.id IN (SELECT rowid FROM recordings_fts WHERE recordings_fts MATCH ?)",
                [self.value],
            )
        return (
            "EXISTS (SELECT 1 FROM recording_members m WHERE m.role = ? AND m.value = ? "
            "AND m.recording_id = r.id)",
            [self.kind, self.value],
        )

    def probe(self, conn: sqlite3.Connection, cap: int) -> int:
        sql, params = self.ids_sql()
        row = conn.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", [*params, cap]).fetchone()
        return int(row[0])


def _marks(values: frozenset[str]) -> tuple[str, list[Any]]:
    ordered = sorted(values)
    return ",".join("?" * len(ordered)), list(ordered)


def _scope_ids_sql(scope: Scope) -> tuple[str, list[Any]]:
    """The ids in ``scope``: each branch is one index lookup (members by value, owner)."""
    parts: list[str] = []
    params: list[Any] = []
    if scope.values:
        marks, values = _marks(scope.values)
        parts.append(
            "SELECT recording_id AS id FROM recording_members "
            f"WHERE role IN ('party', 'agent') AND value IN ({marks})"
        )
        parts.append(f"SELECT id FROM recordings WHERE owner COLLATE NOCASE IN ({marks})")
        params += values + values
    if scope.groups:
        marks, groups = _marks(scope.groups)
        parts.append(
            "SELECT id FROM recordings WHERE owner COLLATE NOCASE IN "
            f"({marks}) AND owner_kind = 'hunt_group'"
        )
        params += groups
    if not parts:
        return "SELECT NULL AS id WHERE 0", []
    return " UNION ".join(parts), params


def scope_test_sql(scope: Scope) -> tuple[str, list[Any]]:
    """A condition on ``r`` that holds when the row is in ``scope`` (same rules as the ids)."""
    tests: list[str] = []
    params: list[Any] = []
    if scope.values:
        marks, values = _marks(scope.values)
        tests.append(
            "EXISTS (SELECT 1 FROM recording_members m WHERE m.recording_id = r.id "
            f"AND m.role IN ('party', 'agent') AND m.value IN ({marks}))"
        )
        tests.append(f"r.owner COLLATE NOCASE IN ({marks})")
        params += values + values
    if scope.groups:
        marks, groups = _marks(scope.groups)
        tests.append(f"(r.owner_kind = 'hunt_group' AND r.owner COLLATE NOCASE IN ({marks}))")
        params += groups
    if not tests:
        return "0", []
    return f"({' OR '.join(tests)})", params


@dataclass(frozen=True)
class Compiled:
    """A validated query: plain conditions on ``r``, the sources, ordering and the cursor."""

    where: list[str]
    params: list[Any]
    sources: list[Source]
    sort: str
    descending: bool
    limit: int
    after: tuple[Any, ...] | None  # the sort keys of the last row shown, then its id
    fingerprint: str

    @property
    def order_by(self) -> str:
        way = "DESC" if self.descending else "ASC"
        keys = [expr for expr, _ in SORT_KEYS[self.sort]] + ["r.id"]
        return ", ".join(f"{expr} {way}" for expr in keys)

    def keyset(self) -> tuple[str, list[Any]] | None:
        """The condition "after the cursor" in this order.

        Wrapped in likely(): the planner would read it as a narrow range and walk the sort
        index even where a filter's index is far better; it is not selective.
        """
        if self.after is None:
            return None
        cmp = "<" if self.descending else ">"
        keys = SORT_KEYS[self.sort]
        if not keys:
            return f"likely(r.id {cmp} ?)", list(self.after)
        exprs = ", ".join(expr for expr, _ in keys)
        marks = ", ".join("?" * (len(keys) + 1))
        sql = f"likely(({exprs}, r.id) {cmp} ({marks}))"
        params = list(self.after)
        if "COLLATE" in keys[0][0]:
            # a row value led by a collated column is not used as an index range: add the
            # plain bound on the first key so the walk starts at the cursor
            sql = f"likely({keys[0][0]} {cmp}= ?) AND {sql}"
            params = [self.after[0], *params]
        return sql, params


def fts_expression(terms: list[str]) -> str | None:
    """An FTS5 query matching ANY of ``terms``, each as a prefix, with user input made inert.

    Each value becomes a quoted phrase (``"`` doubled), so ``*``, ``-``, ``:``, ``AND``,
    ``NEAR`` and brackets are plain text to FTS5; only the trailing ``*`` we add is syntax.
    A value with nothing the tokenizer would keep (only punctuation) cannot match anything;
    it is dropped, and if nothing is left the caller is told rather than shown nothing.
    """
    phrases = []
    for term in terms:
        clean = "".join(ch if ch.isprintable() else " " for ch in term).strip()
        if any(ch.isalnum() or ch in TOKEN_CHARS for ch in clean):
            phrases.append('"' + clean.replace('"', '""') + '"*')
    if not phrases:
        if terms:
            shown = ", ".join(repr(t) for t in terms)
            raise InvalidInput(
                msg("The search {shown} has no letters or digits to look for.", shown=shown),
                msg("Search for part of a number, a name, a skill or a call ID."),
            )
        return None
    return " OR ".join(phrases)


def _check_text(name: str, value: str) -> str:
    value = value.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidInput(
            msg(
                "The {name} value is longer than {limit} characters.",
                name=name,
                limit=MAX_VALUE_CHARS,
            )
        )
    return value


def _aware(name: str, value: datetime) -> float:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            msg("The {name} time {time} has no time zone.", name=name, time=value.isoformat())
        )
    return value.timestamp()


def compile_query(q: SearchQuery) -> Compiled:
    """Validate ``q`` and turn it into SQL pieces; every user error is an InvalidInput."""
    where: list[str] = []
    params: list[Any] = []
    described: dict[str, Any] = {}

    terms = [_check_text("search", t) for t in split_values(q.terms)]
    if len(terms) > MAX_TERMS:
        raise InvalidInput(
            msg(
                "At most {limit} search values can be combined; got {count}.",
                limit=MAX_TERMS,
                count=len(terms),
            )
        )
    sources: list[Source] = []
    fts = fts_expression(terms)
    if fts is not None:
        sources.append(Source("fts", fts))
        described["fts"] = fts

    if q.start_from is not None:
        where.append("r.start_ts >= ?")
        params.append(_aware("from", q.start_from))
        described["from"] = params[-1]
    if q.start_to is not None:
        where.append("r.start_ts < ?")
        params.append(_aware("to", q.start_to))
        described["to"] = params[-1]
    if q.start_from is not None and q.start_to is not None and q.start_to <= q.start_from:
        raise InvalidInput(
            msg(
                "The time range is empty: 'to' ({to}) is not after 'from' ({start}).",
                to=q.start_to.isoformat(),
                start=q.start_from.isoformat(),
            )
        )

    if q.length is not None:
        if q.length.op not in LENGTH_OPERATORS:
            raise InvalidInput(
                msg("Length operator {op!r} is not one of =, <, >, >=, <=.", op=q.length.op)
            )
        low, high = q.length.bounds()
        if low is not None:
            where.append("r.duration_s >= ?")
            params.append(low)
        if high is not None:
            where.append("r.duration_s < ?")
            params.append(high)
        described["length"] = str(q.length)

    if q.direction is not None and q.direction != "":
        try:
            direction = Direction(str(q.direction).strip().lower())
        except ValueError:
            raise InvalidInput(
                msg(
                    "Direction {direction!r} is not one of {choices}.",
                    direction=q.direction,
                    choices=", ".join(d.value for d in Direction),
                )
            ) from None
        where.append("r.direction = ?")
        params.append(direction.value)
        described["direction"] = direction.value

    for role, values in (("party", q.parties), ("agent", q.agents)):
        # stored COLLATE NOCASE: keep the caller's spelling, which NOCASE folds (ASCII only)
        seen: set[str] = set()
        for value in split_values(values):
            if value.casefold() not in seen:
                seen.add(value.casefold())
                sources.append(Source(role, _check_text(role, value)))
    described["members"] = [(s.kind, s.value) for s in sources if s.kind != "fts"]
    if q.scope is not None:
        sources.append(Source("scope", "", q.scope))
        described["scope"] = q.scope.describe()

    for column, exact in (("target", q.target), ("skill", q.skill), ("call_id", q.call_id)):
        if exact is not None and exact.strip():
            where.append(f"r.{column} = ? COLLATE NOCASE")
            params.append(_check_text(column.replace("_", " "), exact))
            described[column] = exact.strip().lower()

    if q.sort not in SORT_KEYS:
        raise InvalidInput(
            msg("Cannot sort by {sort!r}.", sort=q.sort),
            msg("Sort by one of: {columns}.", columns=", ".join(SORT_COLUMNS)),
        )
    if not 1 <= q.limit <= MAX_LIMIT:
        raise InvalidInput(
            msg(
                "The page size must be between 1 and {limit}; got {size}.",
                limit=MAX_LIMIT,
                size=q.limit,
            )
        )

    fingerprint = hashlib.sha256(
        json.dumps(described, sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    after = None
    if q.cursor:
        after = decode_cursor(q.cursor, q.sort, q.descending, fingerprint)
    return Compiled(where, params, sources, q.sort, q.descending, q.limit, after, fingerprint)


# -- cursors --------------------------------------------------------------------------------
def encode_cursor(c: Compiled, row: sqlite3.Row) -> str:
    key = [row[column] for _, column in SORT_KEYS[c.sort]] + [row["id"]]
    payload = {"s": c.sort, "d": c.descending, "f": c.fingerprint, "k": key}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, descending: bool, fingerprint: str) -> tuple[Any, ...]:
    bad = InvalidInput(
        msg("The cursor is not valid."),
        msg("Pass the cursor exactly as the previous page gave it."),
    )
    text = cursor.strip()
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        key = payload["k"]
        same_order = payload["s"] == sort and payload["d"] == descending
        same_search = payload["f"] == fingerprint
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad from None
    if not same_order or not same_search:
        raise InvalidInput(
            msg("The cursor belongs to a different search or sort order."),
            msg("Repeat the same search and sort to continue, or start again without a cursor."),
        )
    columns = [column for _, column in SORT_KEYS[sort]] + ["id"]
    if not isinstance(key, list) or len(key) != len(columns):
        raise bad
    for column, value in zip(columns, key, strict=True):
        if isinstance(value, bool):
            raise bad
        if column == "id":
            ok = isinstance(value, int)
        elif column in _NUMERIC_COLUMNS:
            ok = isinstance(value, int | float)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise bad
    return tuple(key)


# -- planning -------------------------------------------------------------------------------
def _conditions(
    c: Compiled, driver: Source | None, *, keyset: bool, fts: bool = True
) -> tuple[list[str], list[Any]]:
    """Every condition on ``r`` except the driver's own set (and the FTS one if not ``fts``)."""
    clauses = list(c.where)
    params = list(c.params)
    for source in c.sources:
        if source is driver or (source.kind == "fts" and not fts):
            continue
        sql, p = source.test_sql()
        clauses.append(sql)
        params.extend(p)
    if keyset and (ks := c.keyset()) is not None:
        clauses.append(ks[0])
        params.extend(ks[1])
    return clauses, params


def _from(driver: Source | None) -> tuple[str, list[Any]]:
    if driver is None:
        return "FROM recordings r", []
    ids_sql, ids_params = driver.ids_sql()
    return f"FROM ({ids_sql}) AS d CROSS JOIN recordings r ON r.id = d.id", ids_params


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def _choose_driver(conn: sqlite3.Connection, sources: list[Source]) -> tuple[Source | None, bool]:
    """(the smallest source if it is small enough to drive from, whether one is empty)."""
    best: tuple[int, Source] | None = None
    for source in sources:
        n = source.probe(conn, DRIVE_LIMIT)
        if n == 0:
            return None, True
        if n < DRIVE_LIMIT and (best is None or n < best[0]):
            best = (n, source)
    return (best[1] if best else None), False


def _finish(c: Compiled, rows: list[sqlite3.Row]) -> tuple[list[sqlite3.Row], str | None]:
    if len(rows) > c.limit:
        rows = rows[: c.limit]
        return rows, encode_cursor(c, rows[-1])
    return rows, None


def _window(
    conn: sqlite3.Connection, c: Compiled, fts: Source
) -> tuple[list[sqlite3.Row], str | None] | None:
    """The page from the next :data:`WINDOW` rows in sort order, or None if they hold too few.

    FTS5 evaluates a match restricted to a rowid span very cheaply, and recordings are
    catalogued roughly in call order, so the ids of a window of recent calls lie close
    together. Correctness never depends on that order: a scattered window only costs more,
    and one that is too scattered is not tried.
    """
    clauses, params = _conditions(c, None, keyset=True, fts=False)
    ids = [
        row[0]
        for row in conn.execute(
            f"SELECT r.id FROM recordings r{_where(clauses)} ORDER BY {c.order_by} LIMIT ?",
            [*params, WINDOW],
        )
    ]
    exhausted = len(ids) < WINDOW
    if not ids:
        return [], None
    low, high = min(ids), max(ids)
    if not exhausted and high - low > WINDOW_MAX_SPAN:
        return None
    rows: list[sqlite3.Row] = conn.execute(
        f"SELECT {COLUMNS} FROM json_each(?) AS w CROSS JOIN recordings r ON r.id = w.value "
        "WHERE w.value IN (SELECT rowid FROM recordings_fts WHERE recordings_fts MATCH ? "
        "AND rowid BETWEEN ? AND ?) ORDER BY w.key LIMIT ?",
        [json.dumps(ids), fts.value, low, high, c.limit + 1],
    ).fetchall()
    if len(rows) > c.limit or exhausted:
        return _finish(c, rows)
    return None


def run_page(conn: sqlite3.Connection, c: Compiled) -> tuple[list[sqlite3.Row], str | None]:
    """The rows of one page and the cursor of the next (None on the last page)."""
    members = [s for s in c.sources if s.kind != "fts"]
    fts = next((s for s in c.sources if s.kind == "fts"), None)
    driver, empty = _choose_driver(conn, members)
    if empty:
        return [], None
    if fts is not None and driver is None:
        page = _window(conn, c, fts)
        if page is not None:
            return page
    if fts is not None:
        fts_driver, empty = _choose_driver(conn, [fts])
        if empty:
            return [], None
        if fts_driver is not None:
            driver = fts_driver
    head, head_params = _from(driver)
    clauses, params = _conditions(c, driver, keyset=True)
    # ids first, rows after: the walk can then run on a covering index and fetch only the
    # page's rows, where SQLite would otherwise read the wide row of every row it skips
    page_ids = f"SELECT r.id {head}{_where(clauses)} ORDER BY {c.order_by} LIMIT ?"
    rows: list[sqlite3.Row] = conn.execute(
        f"SELECT {COLUMNS} FROM recordings r WHERE r.id IN ({page_ids}) ORDER BY {c.order_by}",
        [*head_params, *params, c.limit + 1],
    ).fetchall()
    return _finish(c, rows)


def run_count(conn: sqlite3.Connection, c: Compiled) -> int:
    driver, empty = _choose_driver(conn, c.sources)
    if empty:
        return 0
    if driver is None and c.sources and not c.where:
        # no index to walk and no LIMIT to stop early: enumerate a set, the text match
        # first (its ids come straight from the FTS index)
        driver = next((s for s in c.sources if s.kind == "fts"), c.sources[0])
    if driver is not None and len(c.sources) == 1 and not c.where:
        ids_sql, ids_params = driver.ids_sql()
        return int(conn.execute(f"SELECT count(*) FROM ({ids_sql})", ids_params).fetchone()[0])
    head, head_params = _from(driver)
    clauses, params = _conditions(c, driver, keyset=False)
    sql = f"SELECT count(*) {head}{_where(clauses)}"
    return int(conn.execute(sql, [*head_params, *params]).fetchone()[0])
