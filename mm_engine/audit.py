"""The audit trail (seed F31-F33): who searched, replayed, downloaded, deleted or changed what.

Rows are hash-chained so that editing, removing or reordering rows in the database file shows
(``mm audit verify``). Event ``id``s are consecutive (AUTOINCREMENT, never reused) and each row's

    hash = sha256_hex(prev_hash + json({"action", "at", "details", "id", "user"}))

where ``json`` is ``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
over the row's stored values (``details`` as its stored JSON text) and ``prev_hash`` is the hash
of the event before (64 zeros for the very first). Pruning removes the oldest events only and
keeps the id and hash of the last one it removed (``audit_anchor``), so the remaining chain
still verifies from its new first row.

What this does not stop: someone able to write the file can recompute every hash after an
edit. Anchoring the chain head outside the database (a signature, a copy elsewhere) would.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from mm_engine.config import Config
from mm_engine.db import Database
from mm_engine.errors import InvalidInput, Refused
from mm_engine.passwords import check_new_password
from mm_engine.text import N_, msg

GENESIS = "0" * 64
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
PRUNE_BATCH = 10_000
CSV_HEADER = ("id", "time", "user", "action", "details")


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    SEARCH = "search"
    REPLAY = "replay"
    DOWNLOAD = "download"
    DELETE = "delete"
    CONFIGURATION = "configuration"
    USER = "user"
    # refused attempts (and a few successes) of operations outside F31's list
    VERIFY = "verify"
    ALARM = "alarm"
    AUDIT = "audit"

    @classmethod
    def parse(cls, text: str) -> AuditAction:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                msg("Audit action {action!r} is not known.", action=text),
                msg("Use one of {actions}.", actions=", ".join(cls)),
            ) from None


def utc_iso(moment: datetime) -> str:
    """One fixed-width UTC form, so text order is time order in SQL."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _now() -> datetime:
    return datetime.now(UTC)


def canonical_details(details: Mapping[str, Any] | None) -> str:
    return json.dumps(
        dict(details or {}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def row_hash(prev_hash: str, event_id: int, at: str, user: str, action: str, details: str) -> str:
    body = json.dumps(
        {"action": action, "at": at, "details": details, "id": event_id, "user": user},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _sequence(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    return int(row[0]) if row else 0


def _anchor(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute(
        "SELECT last_pruned_id, last_pruned_hash FROM audit_anchor WHERE id = 1"
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def insert_event(
    conn: sqlite3.Connection,
    user: str,
    action: AuditAction | str,
    details: Mapping[str, Any] | None,
    at: datetime,
) -> int:
    """Append one event inside the caller's write transaction and return its id.

    Inside the caller's transaction, so a deletion and its audit row commit (or vanish)
    together; the writer's ``BEGIN IMMEDIATE`` makes reading the chain's head and appending
    one step, across processes too.
    """
    action = AuditAction(action)
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    anchor_id, anchor_hash = _anchor(conn)
    prev = str(last[1]) if last else anchor_hash
    event_id = max(_sequence(conn), int(last[0]) if last else 0, anchor_id) + 1
    stamp = utc_iso(at)
    text = canonical_details(details)
    conn.execute(
        "INSERT INTO audit (id, at, user, action, details, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            event_id,
            stamp,
            user,
            action.value,
            text,
            prev,
            row_hash(prev, event_id, stamp, user, action.value, text),
        ),
    )
    return event_id


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: str  # UTC, ISO 8601
    user: str
    action: str
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEvent:
        return cls(row["id"], row["at"], row["user"], row["action"], json.loads(row["details"]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "user": self.user,
            "action": self.action,
            "details": self.details,
        }


@dataclass(frozen=True)
class AuditFilter:
    """The view of F32: a time span (end exclusive), event types, a user name fragment."""

    start: datetime | None = None
    end: datetime | None = None
    actions: tuple[AuditAction, ...] = ()
    user_contains: str | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.start is not None:
            clauses.append("at >= ?")
            params.append(utc_iso(self.start))
        if self.end is not None:
            clauses.append("at < ?")
            params.append(utc_iso(self.end))
        if self.actions:
            clauses.append(f"action IN ({','.join('?' * len(self.actions))})")
            params.extend(AuditAction(a).value for a in self.actions)
        if self.user_contains:
            fragment = self.user_contains.strip()
            escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("user LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        return clauses, params

    def fingerprint(self) -> str:
        clauses, params = self.where()
        return hashlib.sha256(json.dumps([clauses, params]).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEvent]
    next_cursor: str | None


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""
    first_id: int | None = None
    last_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_broken_id": self.first_broken_id,
            "reason": self.reason,
            "first_id": self.first_id,
            "last_id": self.last_id,
        }


@dataclass
class _Walk:
    """State of a chain walk, in id order."""

    expected_id: int
    expected_prev: str
    checked: int = 0
    first_id: int | None = None
    broken: list[tuple[int, str]] = field(default_factory=list)


def _encode_cursor(last_id: int, fingerprint: str) -> str:
    raw = json.dumps({"i": last_id, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, fingerprint: str) -> int:
    bad = InvalidInput(
        msg("The cursor is not valid."),
        msg("Pass the cursor exactly as the previous page gave it."),
    )
    text = cursor.strip()
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        last_id, same = payload["i"], payload["f"] == fingerprint
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad from None
    if not same:
        raise InvalidInput(
            msg("The cursor belongs to a different set of filters."),
            msg("Repeat the same filters to continue, or start again without a cursor."),
        )
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise bad
    return last_id


class Audit:
    def __init__(self, db: Database, config: Config, clock: Callable[[], datetime] = _now) -> None:
        self.db = db
        self.config = config
        self.clock = clock

    # -- recording ------------------------------------------------------------------------
    def record(
        self,
        conn: sqlite3.Connection | None,
        user: str,
        action: AuditAction | str,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Append an event: inside the caller's write when ``conn`` is given, else on its own."""
        at = self.clock()
        if conn is not None:
            return insert_event(conn, user, action, details, at)
        return self.db.write(lambda c: insert_event(c, user, action, details, at))

    # -- reading --------------------------------------------------------------------------
    def list(
        self,
        filters: AuditFilter | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> AuditPage:
        """Newest first, one page at a time (keyset on id, never OFFSET)."""
        filters = filters or AuditFilter()
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(
                msg(
                    "The page size must be between 1 and {max}; got {limit}.",
                    max=MAX_LIMIT,
                    limit=limit,
                )
            )
        clauses, params = filters.where()
        if cursor:
            clauses.append("id < ?")
            params.append(_decode_cursor(cursor, filters.fingerprint()))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(
            f"SELECT id, at, user, action, details FROM audit {where} ORDER BY id DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = [AuditEvent.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(
            items, _encode_cursor(items[-1].id, filters.fingerprint()) if more else None
        )

    def iter_events(self, filters: AuditFilter | None = None) -> Iterator[AuditEvent]:
        """Every matching event, newest first, read as it is consumed."""
        clauses, params = (filters or AuditFilter()).where()
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.db.read() as conn:
            for row in conn.execute(
                f"SELECT id, at, user, action, details FROM audit {where} ORDER BY id DESC",
                params,
            ):
                yield AuditEvent.from_row(row)

    # -- integrity ------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Walk the chain in id order and report the first link that does not hold."""
        with self.db.read() as conn:
            conn.execute("BEGIN")  # anchor, sequence and rows from one snapshot
            anchor_id, anchor_hash = _anchor(conn)
            sequence = _sequence(conn)
            walk = _Walk(expected_id=anchor_id + 1, expected_prev=anchor_hash)
            last_id: int | None = None
            rows = conn.execute(
                "SELECT id, at, user, action, details, prev_hash, hash FROM audit ORDER BY id"
            )
            for row in rows:
                event_id = int(row["id"])
                if walk.first_id is None:
                    walk.first_id = event_id
                walk.checked += 1
                last_id = event_id
                problem = self._check(walk, row)
                if problem:
                    return VerifyReport(
                        False, walk.checked, event_id, problem, walk.first_id, event_id
                    )
                walk.expected_id = event_id + 1
                walk.expected_prev = str(row["hash"])
            newest = last_id if last_id is not None else anchor_id
            if sequence > newest:
                return VerifyReport(
                    False,
                    walk.checked,
                    newest + 1,
                    msg(
                        "events {first}..{last} were removed from the end of the trail",
                        first=newest + 1,
                        last=sequence,
                    ),
                    walk.first_id,
                    last_id,
                )
        return VerifyReport(True, walk.checked, None, "", walk.first_id, last_id)

    @staticmethod
    def _check(walk: _Walk, row: sqlite3.Row) -> str:
        event_id = int(row["id"])
        if event_id != walk.expected_id:
            if event_id > walk.expected_id:
                return msg(
                    "events {first}..{last} before it were removed",
                    first=walk.expected_id,
                    last=event_id - 1,
                )
            return msg(
                "event id {id} is out of order (expected {expected})",
                id=event_id,
                expected=walk.expected_id,
            )
        if row["prev_hash"] != walk.expected_prev:
            return msg("it does not follow the event before it (removed or reordered events)")
        recomputed = row_hash(
            str(row["prev_hash"]),
            event_id,
            str(row["at"]),
            str(row["user"]),
            str(row["action"]),
            str(row["details"]),
        )
        if recomputed != row["hash"]:
            return msg("its contents were changed after it was recorded")
        return ""

    # -- retention ------------------------------------------------------------------------
    def prune(self, now: datetime | None = None) -> int:
        """Remove events older than the audit retention days; returns how many went.

        Only a prefix of the chain goes (up to the first event young enough to keep), so a
        clock that once ran backwards never removes an event younger than the limit.
        """
        days = int(self.config.get("audit_retention_days"))
        now = now or self.clock()
        cutoff = utc_iso(now - timedelta(days=days))
        pruned_at = utc_iso(now)

        def batch(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT id, hash, at FROM audit ORDER BY id LIMIT ?", (PRUNE_BATCH,)
            ).fetchall()
            old = []
            for row in rows:
                if row["at"] >= cutoff:
                    break
                old.append(row)
            if not old:
                return 0
            last = old[-1]
            conn.execute("DELETE FROM audit WHERE id <= ?", (last["id"],))
            conn.execute(
                "INSERT INTO audit_anchor (id, last_pruned_id, last_pruned_hash, pruned_total,"
                " pruned_at) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " last_pruned_id = excluded.last_pruned_id,"
                " last_pruned_hash = excluded.last_pruned_hash,"
                " pruned_total = pruned_total + excluded.pruned_total,"
                " pruned_at = excluded.pruned_at",
                (last["id"], last["hash"], len(old), pruned_at),
            )
            return len(old)

        total = 0
        while removed := self.db.write(batch):
            total += removed
            if removed < PRUNE_BATCH:
                break
        return total

    # -- export ---------------------------------------------------------------------------
    def export(self, path: Path | str, password: str, filters: AuditFilter | None = None) -> int:
        """Write the filtered view as CSV inside an AES-256 zip (WinZip AES, opens in 7-Zip).

        Rows stream from the database into the zip, so the size of the trail does not matter.
        The file appears only when complete (written aside, then renamed) and is readable by
        its owner only. Returns the number of events written.
        """
        import pyzipper  # type: ignore[import-untyped]  # only export needs it

        check_new_password(password, N_("The export password"))
        target = Path(path)
        if target.is_dir():
            raise Refused(
                msg("{path} is a directory.", path=target),
                msg("Give a file name such as audit.zip."),
            )
        if not target.parent.is_dir():
            raise Refused(msg("The folder {folder} does not exist.", folder=target.parent))
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        count = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as raw:
                with pyzipper.AESZipFile(
                    raw, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
                ) as zf:
                    zf.setpassword(password.encode("utf-8"))
                    zf.setencryption(pyzipper.WZ_AES, nbits=256)
                    member = zf.open(f"{target.stem or 'audit'}.csv", "w", force_zip64=True)
                    with io.TextIOWrapper(member, encoding="utf-8", newline="") as text:
                        writer = csv.writer(text)
                        writer.writerow(CSV_HEADER)
                        # details is JSON and starts with "{": no cell is read as a formula
                        for event in self.iter_events(filters):
                            writer.writerow(
                                (
                                    event.id,
                                    event.at,
                                    event.user,
                                    event.action,
                                    canonical_details(event.details),
                                )
                            )
                            count += 1
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return count
