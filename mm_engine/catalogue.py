"""The catalogue of recordings (seed F24-F26, F29, F30): insert, search, verify, delete."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mm_engine.db import Database
from mm_engine.domain import CallDetails
from mm_engine.signing import Signer
from mm_engine.storage import LocalStore


@dataclass(frozen=True)
class NewRecording:
    details: CallDetails
    duration_s: float
    path: str  # relative to the call storage root
    size: int
    sha256: str
    signature: str
    key_id: str
    source_key: str
    source_name: str


def next_seq(conn: sqlite3.Connection, call_id: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM recordings WHERE call_id = ?", (call_id,)
    ).fetchone()
    return int(row[0])


def find_by_source_key(conn: sqlite3.Connection, source_key: str) -> int | None:
    row = conn.execute("SELECT id FROM recordings WHERE source_key = ?", (source_key,)).fetchone()
    return int(row[0]) if row else None


def insert_recording(conn: sqlite3.Connection, rec: NewRecording, seq: int) -> int:
    """Insert the row, its party/agent members and (by trigger) its FTS row; returns the id."""
    d = rec.details
    cur = conn.execute(
        """INSERT INTO recordings (call_id, seq, start, start_ts, duration_s, direction, parties,
               agents, owner, owner_kind, target, skill, authenticated, path, size, sha256,
               signature, key_id, source_key, source_name, ingested_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            d.call_id, seq, d.start.isoformat(), d.start.timestamp(), rec.duration_s,
            d.direction.value, ";".join(d.parties), ";".join(d.agents), d.owner,
            d.owner_kind.value if d.owner_kind else None, d.target, d.skill,
            int(d.authenticated), rec.path, rec.size, rec.sha256, rec.signature, rec.key_id,
            rec.source_key, rec.source_name, datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
    rec_id = int(cur.lastrowid or 0)
    members = [(rec_id, "party", p) for p in d.parties] + [(rec_id, "agent", a) for a in d.agents]
    if members:
        conn.executemany(
            "INSERT INTO recording_members (recording_id, role, value) VALUES (?, ?, ?)", members
        )
    return rec_id


class Catalogue:
    def __init__(self, db: Database, signer: Signer, store: Callable[[], LocalStore]) -> None:
        self.db = db
        self.signer = signer
        self.store = store
