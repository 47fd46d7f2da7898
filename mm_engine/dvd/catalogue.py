"""The disc catalogue: every disc the ``dvd`` connectors wrote, where it is, and what is on it.

One ``dvd_discs`` row per disc (label and sequence, volume id ``LABEL-0003``), with its bytes,
recordings, first and last call, and state: ``in_drive``, ``ejected``, ``full`` (out of the
drive, never written again) or ``blanked`` (erased; its number is never used again). Each DVD
archive copy names its disc (``archive_copies.disc_id``), so "which disc holds recording 12" is
one lookup and a recording whose local file was pruned can say which disc to insert.

The *library id* marks every disc as this installation's (``/.mm-disc.json`` on the disc): a
random id kept in ``keys/library-id``. It lives with the keys because they are what make an
installation itself: a backup carries them, a restore brings them back, and a catalogue rebuilt
from scratch beside the same keys still recognises its discs.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mm_engine.db import Database
from mm_engine.domain import Recording
from mm_engine.dvd.disc import volume_id as make_volume_id
from mm_engine.dvd.xorriso import MediaInfo
from mm_engine.errors import NotFound
from mm_engine.text import msg

LIBRARY_FILE = "library-id"

IN_DRIVE, EJECTED, FULL, BLANKED = "in_drive", "ejected", "full", "blanked"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def library_id(keys_dir: Path) -> str:
    """This installation's library id (made once, then read from ``keys/library-id``)."""
    path = keys_dir / LIBRARY_FILE
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    new = uuid.uuid4().hex
    temp = keys_dir / f".{LIBRARY_FILE}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(new + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(temp, path)  # the first process to get here wins; the others read its id
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return path.read_text("ascii").strip()


@dataclass(frozen=True)
class DiscInfo:
    id: int
    connector_id: int
    connector: str
    label: str
    sequence: int
    volume_id: str
    state: str
    full: bool
    used_bytes: int
    capacity_bytes: int
    sessions: int
    recordings: int
    bytes: int
    first_call: str | None
    last_call: str | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "volume_id": self.volume_id,
            "label": self.label,
            "sequence": self.sequence,
            "connector": self.connector,
            "state": self.state,
            "full": self.full,
            "recordings": self.recordings,
            "bytes": self.bytes,
            "used_bytes": self.used_bytes,
            "capacity_bytes": self.capacity_bytes,
            "sessions": self.sessions,
            "first_call": self.first_call,
            "last_call": self.last_call,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_SELECT = (
    "SELECT d.*, k.name AS connector FROM dvd_discs d JOIN connectors k ON k.id = d.connector_id"
)


def _info(row: sqlite3.Row) -> DiscInfo:
    return DiscInfo(
        id=row["id"],
        connector_id=row["connector_id"],
        connector=row["connector"],
        label=row["label"],
        sequence=row["sequence"],
        volume_id=row["volume_id"],
        state=row["state"],
        full=row["full_at"] is not None,
        used_bytes=row["used_bytes"],
        capacity_bytes=row["capacity_bytes"],
        sessions=row["sessions"],
        recordings=row["recordings"],
        bytes=row["bytes"],
        first_call=row["first_call"],
        last_call=row["last_call"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _out_of_drive(conn: sqlite3.Connection, connector_id: int, keep: int | None = None) -> None:
    """Every disc of the connector said to be in its drive is out now (but ``keep``)."""
    conn.execute(
        "UPDATE dvd_discs SET state = CASE WHEN full_at IS NULL THEN 'ejected' ELSE 'full' END,"
        " updated_at = ? WHERE connector_id = ? AND state = 'in_drive' AND id IS NOT ?",
        (_now(), connector_id, keep),
    )


class DiscCatalogue:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ------------------------------------------------------------------------------
    def list(self, connector_id: int | None = None) -> list[DiscInfo]:
        """Every disc, by label and sequence."""
        where, params = ("WHERE d.connector_id = ?", (connector_id,)) if connector_id else ("", ())
        rows = self.db.query(f"{_SELECT} {where} ORDER BY d.label, d.sequence", params)
        return [_info(r) for r in rows]

    def get(self, label: str, sequence: int) -> DiscInfo | None:
        row = self.db.query_one(
            f"{_SELECT} WHERE d.label = ? AND d.sequence = ?", (label, sequence)
        )
        return _info(row) if row is not None else None

    def by_volume_id(self, volume_id: str) -> DiscInfo | None:
        row = self.db.query_one(f"{_SELECT} WHERE d.volume_id = ?", (volume_id,))
        return _info(row) if row is not None else None

    def in_drive(self, connector_id: int) -> DiscInfo | None:
        row = self.db.query_one(
            f"{_SELECT} WHERE d.connector_id = ? AND d.state = 'in_drive'"
            " ORDER BY d.updated_at DESC LIMIT 1",
            (connector_id,),
        )
        return _info(row) if row is not None else None

    def next_sequence(self, label: str) -> int:
        """The sequence number a new disc of ``label`` gets: one more than any catalogued."""
        row = self.db.query_one(
            "SELECT COALESCE(MAX(sequence), 0) + 1 FROM dvd_discs WHERE label = ?", (label,)
        )
        return int(row[0]) if row is not None else 1

    def holding(self, recording_id: int) -> builtins.list[DiscInfo]:
        """The discs that hold a copy of the recording."""
        rows = self.db.query(
            f"{_SELECT} JOIN archive_copies c ON c.disc_id = d.id WHERE c.recording_id = ?"
            " ORDER BY d.label, d.sequence",
            (recording_id,),
        )
        return [_info(r) for r in rows]

    def only_here(self, disc_id: int, limit: int = 20) -> builtins.list[int]:
        """Recordings whose only copy is on this disc: no local file and no other archive copy
        (blanking the disc would lose them)."""
        rows = self.db.query(
            "SELECT r.id FROM archive_copies c JOIN recordings r ON r.id = c.recording_id"
            " WHERE c.disc_id = ? AND r.local_present = 0"
            " AND NOT EXISTS (SELECT 1 FROM archive_copies o WHERE o.recording_id = r.id"
            "   AND (o.disc_id IS NULL OR o.disc_id != c.disc_id))"
            " ORDER BY r.id LIMIT ?",
            (disc_id, limit),
        )
        return [int(r[0]) for r in rows]

    # -- changing -----------------------------------------------------------------------------
    def record_session(
        self,
        conn: sqlite3.Connection,
        connector_id: int,
        label: str,
        sequence: int,
        media: MediaInfo,
        recordings: Iterable[Recording],
    ) -> int:
        """Inside the caller's transaction: the disc's row after a session was written onto it
        (made when the disc is new to the catalogue); it is the disc in the drive now. Returns
        the disc's id for the copies."""
        now = _now()
        recs = list(recordings)
        row = conn.execute(
            "SELECT id, first_call, first_call_ts, last_call, last_call_ts FROM dvd_discs"
            " WHERE label = ? AND sequence = ?",
            (label, sequence),
        ).fetchone()
        calls = [(r.details.start.timestamp(), r.details.start.isoformat()) for r in recs]
        if row is not None and row["first_call_ts"] is not None:
            calls += [
                (row["first_call_ts"], row["first_call"]),
                (row["last_call_ts"], row["last_call"]),
            ]
        first = min(calls) if calls else (None, None)
        last = max(calls) if calls else (None, None)
        if row is None:
            cur = conn.execute(
                "INSERT INTO dvd_discs (connector_id, label, sequence, volume_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (connector_id, label, sequence, make_volume_id(label, sequence), now, now),
            )
            disc_id = int(cur.lastrowid or 0)
        else:
            disc_id = int(row["id"])
        _out_of_drive(conn, connector_id, keep=disc_id)
        conn.execute(
            "UPDATE dvd_discs SET connector_id = ?, state = 'in_drive', used_bytes = ?,"
            " capacity_bytes = ?, sessions = ?, recordings = recordings + ?, bytes = bytes + ?,"
            " first_call_ts = ?, first_call = ?, last_call_ts = ?, last_call = ?, updated_at = ?"
            " WHERE id = ?",
            (
                connector_id,
                media.used_bytes,
                media.capacity_bytes,
                len(media.sessions),
                len(recs),
                sum(r.size for r in recs),
                *first,
                *last,
                now,
                disc_id,
            ),
        )
        return disc_id

    def seen_in_drive(
        self, connector_id: int, label: str, sequence: int | None, media: MediaInfo | None
    ) -> None:
        """The connector's drive holds disc ``sequence`` of ``label`` (None: no disc of ours,
        or none at all): the states follow, and a catalogued disc's figures are refreshed."""

        def apply(conn: sqlite3.Connection) -> None:
            found = None
            if sequence is not None:
                found = conn.execute(
                    "SELECT id FROM dvd_discs WHERE label = ? AND sequence = ?", (label, sequence)
                ).fetchone()
            keep = int(found["id"]) if found is not None else None
            _out_of_drive(conn, connector_id, keep=keep)
            if keep is not None and media is not None:
                conn.execute(
                    "UPDATE dvd_discs SET state = 'in_drive', used_bytes = ?, capacity_bytes = ?,"
                    " sessions = ?, updated_at = ? WHERE id = ?",
                    (media.used_bytes, media.capacity_bytes, len(media.sessions), _now(), keep),
                )

        self.db.write(apply)

    def out_of_drive(self, connector_id: int) -> None:
        """The connector's disc came out of the drive."""
        self.db.write(lambda conn: _out_of_drive(conn, connector_id))

    def mark_full(self, disc_id: int) -> None:
        """Never write this disc again (it stays ``in_drive`` until it is ejected)."""
        self.db.execute_write(
            "UPDATE dvd_discs SET full_at = COALESCE(full_at, ?), updated_at = ? WHERE id = ?",
            (_now(), _now(), disc_id),
        )

    def blanked(self, disc_id: int) -> int:
        """The disc was erased: its copies are gone (those recordings become pending again on
        its connector); its row stays, emptied, as ``blanked``, so its number is not given to
        another disc. Returns how many copies were dropped."""

        def apply(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM dvd_discs WHERE id = ?", (disc_id,)).fetchone() is None:
                raise NotFound(
                    msg("No disc with id {disc_id} in the disc catalogue.", disc_id=disc_id)
                )
            dropped = conn.execute("DELETE FROM archive_copies WHERE disc_id = ?", (disc_id,))
            conn.execute(
                "UPDATE dvd_discs SET state = 'blanked', full_at = NULL, used_bytes = 0,"
                " sessions = 0, recordings = 0, bytes = 0, first_call = NULL,"
                " first_call_ts = NULL, last_call = NULL, last_call_ts = NULL, updated_at = ?"
                " WHERE id = ?",
                (_now(), disc_id),
            )
            return int(dropped.rowcount)

        return self.db.write(apply)
