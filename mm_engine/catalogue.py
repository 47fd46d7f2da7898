"""The catalogue of recordings (seed F24-F26, F29, F30): insert, search, verify, delete."""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from mm_engine.db import Database
from mm_engine.domain import CallDetails, Direction, OwnerKind, Recording, Verification
from mm_engine.dvd.disc import DiscNeeded
from mm_engine.errors import MMError, NotFound, Refused
from mm_engine.search import (
    COLUMNS,
    LengthFilter,
    Page,
    Scope,
    SearchQuery,
    compile_query,
    parse_length,
    run_count,
    run_page,
    scope_test_sql,
)
from mm_engine.signing import Signer, sha256_file
from mm_engine.storage.base import Store
from mm_engine.storage.crypt import ChunkAuthFailed, TrailingData, Truncated
from mm_engine.text import msg, msgn

__all__ = [
    "Catalogue",
    "LengthFilter",
    "NewRecording",
    "Page",
    "Scope",
    "SearchQuery",
    "VerifyResult",
    "parse_length",
]

log = logging.getLogger(__name__)

BATCH = 500
Progress = Callable[[int, int], None]
# A recording's bytes from an archive copy, by recording id (mm_engine/connectors.py): NotFound
# when it has no copy, MMError when no copy can be read.
RemoteOpener = Callable[[int], BinaryIO]


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
            d.call_id,
            seq,
            d.start.isoformat(),
            d.start.timestamp(),
            rec.duration_s,
            d.direction.value,
            ";".join(d.parties),
            ";".join(d.agents),
            d.owner,
            d.owner_kind.value if d.owner_kind else None,
            d.target,
            d.skill,
            int(d.authenticated),
            rec.path,
            rec.size,
            rec.sha256,
            rec.signature,
            rec.key_id,
            rec.source_key,
            rec.source_name,
            datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
    rec_id = int(cur.lastrowid or 0)
    members = [(rec_id, "party", p) for p in d.parties] + [(rec_id, "agent", a) for a in d.agents]
    if members:
        conn.executemany(
            "INSERT INTO recording_members (recording_id, role, value) VALUES (?, ?, ?)", members
        )
    return rec_id


def _split(joined: str) -> list[str]:
    return joined.split(";") if joined else []


def recording_from_row(row: sqlite3.Row) -> Recording:
    """The inverse of :func:`insert_recording`: ``details.to_dict()`` is what was signed."""
    details = CallDetails(
        call_id=row["call_id"],
        start=datetime.fromisoformat(row["start"]),
        direction=Direction(row["direction"]),
        parties=_split(row["parties"]),
        agents=_split(row["agents"]),
        owner=row["owner"],
        owner_kind=OwnerKind(row["owner_kind"]) if row["owner_kind"] else None,
        target=row["target"],
        skill=row["skill"],
        authenticated=bool(row["authenticated"]),
    )
    return Recording(
        id=row["id"],
        details=details,
        seq=row["seq"],
        duration_s=row["duration_s"],
        path=row["path"],
        size=row["size"],
        sha256=row["sha256"],
        signature=row["signature"],
        key_id=row["key_id"],
        ingested_at=row["ingested_at"],
        source_name=row["source_name"],
    )


@dataclass(frozen=True)
class VerifyResult:
    id: int
    call_id: str
    verification: Verification
    note: str = ""  # what to do for a result that is not final, e.g. which disc to insert

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "call_id": self.call_id, "verification": self.verification.value}
        return {**out, "note": self.note} if self.note else out


def _id_list(ids: Iterable[int]) -> list[int]:
    """Unique ids in the caller's order."""
    return list(dict.fromkeys(int(i) for i in ids))


def _delete_rows(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.execute(f"DELETE FROM recordings WHERE id IN ({','.join('?' * len(ids))})", ids)


def _sha256_stream(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _describe_ids(ids: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    if len(ids) > limit:
        return msg("{ids} and {more} more", ids=shown, more=len(ids) - limit)
    return shown


class Catalogue:
    """Find, verify and delete catalogued recordings (seed F24-F26, F29, F30).

    ``store`` is a callable because the call storage (its path, or the hosted connector holding
    it) can change while the engine runs.
    """

    def __init__(self, db: Database, signer: Signer, store: Callable[[], Store]) -> None:
        self.db = db
        self.signer = signer
        self.store = store
        self.remote: RemoteOpener | None = None  # set by the engine once connectors exist

    # -- search -------------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> Page:
        compiled = compile_query(query)
        with self.db.read() as conn:
            rows, cursor = run_page(conn, compiled)
        return Page([recording_from_row(r) for r in rows], cursor)

    def count(self, query: SearchQuery) -> int:
        """How many recordings match, ignoring paging: apart from search because it must
        visit every match, which a page never does."""
        compiled = compile_query(query)
        with self.db.read() as conn:
            return run_count(conn, compiled)

    # -- lookup -------------------------------------------------------------------------------
    def _rows(self, conn: sqlite3.Connection, ids: list[int]) -> dict[int, sqlite3.Row]:
        found: dict[int, sqlite3.Row] = {}
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {COLUMNS} FROM recordings r WHERE r.id IN ({marks})", chunk
            ):
                found[row["id"]] = row
        return found

    def get(self, id: int) -> Recording:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM recordings r WHERE r.id = ?", (id,)
            ).fetchone()
        if row is None:
            raise NotFound(
                msg("Recording {id} does not exist.", id=id), msg("Search to find its id.")
            )
        return recording_from_row(row)

    def in_scope(self, ids: Iterable[int], scope: Scope) -> set[int]:
        """Which of ``ids`` lie in ``scope``: the very condition searches use, so "may I see
        this one" and "does my search show it" can never disagree."""
        wanted = _id_list(ids)
        test, test_params = scope_test_sql(scope)
        inside: set[int] = set()
        with self.db.read() as conn:
            for start in range(0, len(wanted), BATCH):
                chunk = wanted[start : start + BATCH]
                marks = ",".join("?" * len(chunk))
                inside.update(
                    int(row[0])
                    for row in conn.execute(
                        f"SELECT r.id FROM recordings r WHERE r.id IN ({marks}) AND {test}",
                        [*chunk, *test_params],
                    )
                )
        return inside

    def get_many(self, ids: Iterable[int]) -> list[Recording]:
        """The recordings in the order asked; NotFound names every id that does not exist."""
        wanted = _id_list(ids)
        with self.db.read() as conn:
            rows = self._rows(conn, wanted)
        missing = [i for i in wanted if i not in rows]
        if missing:
            raise NotFound(msg("No recording with id {ids}.", ids=_describe_ids(missing)))
        return [recording_from_row(rows[i]) for i in wanted]

    def iter_oldest(
        self,
        before_ts: float | None = None,
        batch: int = BATCH,
        *,
        archived: bool | None = None,
        local_only: bool = False,
    ) -> Iterator[Recording]:
        """Oldest call first, in short reads, so retention can walk a huge catalogue and delete
        as it goes without holding a read transaction open.

        ``archived``: only recordings with (True) or without (False) an archive copy;
        ``local_only``: only recordings whose file is still in the call storage.
        """
        last: tuple[float, int] | None = None
        fixed: list[str] = []
        if archived is not None:
            fixed.append(
                f"{'' if archived else 'NOT '}EXISTS"
                " (SELECT 1 FROM archive_copies c WHERE c.recording_id = r.id)"
            )
        if local_only:
            fixed.append("r.local_present = 1")
        while True:
            clauses, params = list(fixed), []
            if before_ts is not None:
                clauses.append("r.start_ts < ?")
                params.append(before_ts)
            if last is not None:
                clauses.append("(r.start_ts, r.id) > (?, ?)")
                params.extend(last)
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            rows = self.db.query(
                f"SELECT {COLUMNS} FROM recordings r {where} ORDER BY r.start_ts, r.id LIMIT ?",
                [*params, batch],
            )
            yield from (recording_from_row(r) for r in rows)
            if len(rows) < batch:
                return
            last = (rows[-1]["start_ts"], rows[-1]["id"])

    # -- verify (F29) -------------------------------------------------------------------------
    def verify(
        self, ids: Iterable[int] | None = None, progress: Progress | None = None
    ) -> list[VerifyResult]:
        """Verify the given recordings, or every one when ``ids`` is None."""
        return list(self.iter_verify(ids, progress))

    def iter_verify(
        self, ids: Iterable[int] | None = None, progress: Progress | None = None
    ) -> Iterator[VerifyResult]:
        """Results one by one, reading rows in batches: verify-all streams through millions."""
        if ids is None:
            total = int(self.db.query_one("SELECT count(*) FROM recordings")[0])  # type: ignore[index]
            batches: Iterator[list[sqlite3.Row]] = self._all_rows()
        else:
            wanted = _id_list(ids)
            with self.db.read() as conn:
                found = self._rows(conn, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFound(msg("No recording with id {ids}.", ids=_describe_ids(missing)))
            total = len(wanted)
            batches = iter([[found[i] for i in wanted]])
        done = 0
        store = self.store()
        for rows in batches:
            for row in rows:
                try:
                    verdict = self._verify_row(store, row)
                except DiscNeeded as exc:  # only on a disc that is not in the drive
                    yield VerifyResult(
                        row["id"],
                        row["call_id"],
                        Verification.CANNOT_VERIFY,
                        exc.message if not exc.hint else str(exc),
                    )
                else:
                    yield VerifyResult(row["id"], row["call_id"], verdict)
                done += 1
                if progress is not None:
                    progress(done, total)

    def _all_rows(self) -> Iterator[list[sqlite3.Row]]:
        last = 0
        while True:
            rows = self.db.query(
                f"SELECT {COLUMNS} FROM recordings r WHERE r.id > ? ORDER BY r.id LIMIT ?",
                (last, BATCH),
            )
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]

    def _digest(self, store: Store, row: sqlite3.Row) -> str | Verification:
        """SHA-256 of the recording's bytes: the call storage's file, else an archive copy (read
        whole, decrypted if need be). A copy that fails authentication was altered: TAMPERED."""
        if row["local_present"]:
            try:
                with store.open(row["path"]) as fh:
                    return _sha256_stream(fh)
            except Exception:  # missing, or a hosted call storage unreachable: try an archive
                pass
        elif (migrated := self.migrated_file(row["id"], row["path"])) is not None:
            try:
                return sha256_file(migrated)
            except OSError:
                pass
        if self.remote is None:
            return Verification.CANNOT_VERIFY
        try:
            with self.remote(row["id"]) as fh:
                return _sha256_stream(fh)
        except (ChunkAuthFailed, Truncated, TrailingData):
            return Verification.TAMPERED
        except DiscNeeded:
            raise
        except Exception as exc:  # only the type: a backend's message could quote a secret
            log.info(
                "recording %s: no archive copy could be read (%s)", row["id"], type(exc).__name__
            )
            return Verification.CANNOT_VERIFY

    def _verify_row(self, store: Store, row: sqlite3.Row) -> Verification:
        """Hash first: a changed file is tampered whatever the signature says; a changed row
        (hash or details) fails the signature, which covers both."""
        if not row["sha256"]:
            # migrated from Contact Recorder without a checksum: nothing vouches for its content
            return Verification.CANNOT_VERIFY
        digest = self._digest(store, row)
        if isinstance(digest, Verification):
            return digest
        if digest != row["sha256"]:
            return Verification.TAMPERED
        details = recording_from_row(row).details.to_dict()
        details["start"] = row["start"]  # as stored, which is what was signed
        genuine = self.signer.verify(digest, details, row["signature"], row["key_id"])
        if genuine is None:
            return Verification.CANNOT_VERIFY
        return Verification.VERIFIED if genuine else Verification.TAMPERED

    # -- reading a recording's bytes -----------------------------------------------------------
    def open_audio(self, rec: Recording) -> BinaryIO:
        """The stored Opus file of ``rec``, wherever it lives: the one way playback, download and
        verification read a recording. When the local file is gone (pruned by retention, or
        lost) an archive copy is read instead, from the active connector first. A recording
        migrated from Contact Recorder is read where it was (:meth:`migrated_file`)."""
        migrated = self.migrated_file(rec.id, rec.path)
        unreadable: Exception | None = None
        try:
            if migrated is not None:
                return open(migrated, "rb")
            return self.store().open(rec.path)
        except FileNotFoundError:
            pass
        except Exception as exc:  # a hosted call storage unreachable: an archive copy may serve
            if migrated is not None:
                raise
            unreadable = exc
        if self.remote is not None:
            try:
                return self.remote(rec.id)
            except DiscNeeded:  # says which disc to insert
                raise
            except NotFound:
                pass
        if unreadable is not None:
            detail: object = type(unreadable).__name__
            if isinstance(unreadable, MMError) and str(unreadable):
                detail = unreadable
            raise MMError(
                msg(
                    "Recording {id} cannot be read from the call storage ({detail}) and it has "
                    "no archive copy.",
                    id=rec.id,
                    detail=detail,
                ),
                msg("Check the call storage with `mm storage status`."),
            ) from None
        hint = msg("Run `mm recordings verify` to see which files are affected.")
        if migrated is not None:
            raise NotFound(
                msg(
                    "The file of recording {id} ({path}, migrated from Contact Recorder) is "
                    "missing and it has no archive copy.",
                    id=rec.id,
                    path=migrated,
                ),
                hint,
            )
        raise NotFound(
            msg(
                "The file of recording {id} ({path} in the call storage) is missing and it has "
                "no archive copy.",
                id=rec.id,
                path=rec.path,
            ),
            hint,
        )

    def migrated_file(self, rec_id: int, path: str) -> Path | None:
        """Where a recording migrated from Contact Recorder is: it stays in the legacy tree,
        outside the call storage (mm_engine/contact_recorder). None for any other recording."""
        row = self.db.query_one(
            "SELECT root FROM migrated_recordings WHERE recording_id = ?", (rec_id,)
        )
        return Path(row["root"]) / path if row is not None else None

    def drop_local(self, ids: Iterable[int]) -> list[int]:
        """Remove the local files of recordings that have an archive copy; their rows stay
        (``local_present = 0``) and they play from the archive. Ids without a copy are left
        alone. File first, then row: a crash between leaves a row whose file is gone, which
        :meth:`open_audio` serves from the archive all the same."""
        wanted = _id_list(ids)
        store = self.store()
        dropped: list[int] = []
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            marks = ",".join("?" * len(chunk))
            rows = self.db.query(
                f"SELECT r.id, r.path FROM recordings r WHERE r.id IN ({marks})"
                " AND r.local_present = 1"
                " AND EXISTS (SELECT 1 FROM archive_copies c WHERE c.recording_id = r.id)",
                chunk,
            )
            for row in rows:
                store.remove(row["path"])
            done = [int(r["id"]) for r in rows]
            if done:
                marks = ",".join("?" * len(done))
                self.db.execute_write(
                    f"UPDATE recordings SET local_present = 0 WHERE id IN ({marks})", done
                )
            dropped.extend(done)
        return dropped

    # -- delete (F30) -------------------------------------------------------------------------
    def delete(self, ids: Iterable[int]) -> list[int]:
        """Remove the stored files, then the rows (members cascade, FTS by trigger).

        Files go first: a crash in between leaves a row whose file is missing, which shows as
        "cannot verify" and deletes cleanly on a second try, rather than an orphan file no
        one can see. A file already gone is not an error.
        """
        wanted = _id_list(ids)
        with self.db.read() as conn:
            found = self._rows(conn, wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise Refused(
                msg("Cannot delete: no recording with id {ids}.", ids=_describe_ids(missing)),
                msg("Nothing was deleted."),
            )
        self._refuse_remote_only([found[i] for i in wanted])
        store = self.store()
        deleted: list[int] = []
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            for rec_id in chunk:
                try:
                    store.remove(found[rec_id]["path"])
                except Exception as exc:  # only an OSError's text: a backend's may quote a secret
                    raise MMError(
                        msg(
                            "Could not remove the file of recording {id} ({path}): {error}",
                            id=rec_id,
                            path=found[rec_id]["path"],
                            error=exc if isinstance(exc, OSError) else type(exc).__name__,
                        ),
                        msgn("Deleted {count} recording(s) before this one.", len(deleted)),
                    ) from exc
            self.db.write(functools.partial(_delete_rows, ids=chunk))
            deleted.extend(chunk)
        log.info("deleted %d recording(s)", len(deleted))
        return deleted

    def _refuse_remote_only(self, rows: list[sqlite3.Row]) -> None:
        """F30: "recordings held only on a remote archive cannot be deleted"."""
        remote = [int(r["id"]) for r in rows if not r["local_present"]]
        if remote:
            raise Refused(
                msg(
                    "Cannot delete recording {ids}: held only on a remote archive (the local "
                    "file was removed by retention or for disk space), and such recordings are "
                    "kept as the archive's record. Nothing was deleted.",
                    ids=_describe_ids(remote),
                ),
                msg("Leave these ids out to delete the others."),
            )
