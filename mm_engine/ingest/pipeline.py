"""One handover file to one catalogued recording: parse, encode, store, sign, catalogue, remove.

Crash safety (DESIGN.md section 4): the handover file is removed only after the catalogue
transaction commits, and a hash of the input (``source_key``) makes a second ingest of the same
input a no-op. A crash before the commit leaves the input in place and at most an orphan stored
file at the same deterministic path, which the retry overwrites.

The stored file is built at ``store.temp_path`` and committed by ``store.commit``: a rename on a
local call storage, an upload from the data directory's spool folder on a hosted one
(mm_engine/primary_storage.py). When a hosted call storage does not take it, the input stays in
the handover folder (``Outcome.WAITING``, an alarm says why) and is ingested on a later scan.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.catalogue import NewRecording, find_by_source_key, insert_recording, next_seq
from mm_engine.db import Database
from mm_engine.ingest.audio import AudioError, encode_opus, probe
from mm_engine.ingest.calldetails import (
    CallDetailsError,
    opus_comments,
    read_call_details,
    sidecar_for,
)
from mm_engine.ingest.quarantine import quarantine
from mm_engine.primary_storage import PrimaryStore, PrimaryUnavailable, waiting
from mm_engine.signing import Signer, sha256_file
from mm_engine.storage.local import fsync_dir
from mm_engine.text import msg

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".opus", ".ogg"})
SIDECAR_SUFFIXES = frozenset({".json", ".xml"})
ORPHAN_SIDECAR_SECONDS = 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Outcome(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"  # already catalogued (a crash hit between commit and removal)
    QUARANTINED = "quarantined"
    VANISHED = "vanished"  # removed by someone else while we looked at it
    WAITING = "waiting"  # the hosted call storage is unavailable: the input stays for later


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    source: Path
    recording_id: int | None = None
    reason: str = ""


def safe_name(call_id: str) -> str:
    name = _UNSAFE.sub("_", call_id).strip("._")[:120]
    return name or "call"


def source_key(audio: Path, sidecar: Path | None) -> str:
    digest = hashlib.sha256()
    for part in (audio, sidecar):
        if part is None:
            continue
        with open(part, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


class Pipeline:
    def __init__(
        self,
        db: Database,
        alarms: Alarms,
        signer: Signer,
        store: PrimaryStore,
        quarantine_dir: Path,
    ) -> None:
        self.db = db
        self.alarms = alarms
        self.signer = signer
        self.store = store
        self.quarantine_dir = quarantine_dir

    def ingest(self, src: Path) -> Result:
        try:
            return self._ingest(src)
        except FileNotFoundError:
            if src.exists():
                raise
            return Result(Outcome.VANISHED, src)

    def _ingest(self, src: Path) -> Result:
        sidecar = sidecar_for(src)
        if src.suffix.lower() not in AUDIO_SUFFIXES:
            return self._reject(
                src,
                sidecar,
                AlarmType.FILE_PARSE_ERROR,
                msg(
                    "'{suffix}' is not a recording format (accepted: .wav, .opus, .ogg)",
                    suffix=src.suffix or src.name,
                ),
            )
        key = source_key(src, sidecar)
        existing = self.db.query_one("SELECT id FROM recordings WHERE source_key = ?", (key,))
        if existing:
            self._remove_input(src, sidecar)
            return Result(Outcome.DUPLICATE, src, int(existing["id"]))
        reason = waiting(self.store)
        if reason is not None:  # not encoded again and again while the storage is away
            return Result(Outcome.WAITING, src, reason=reason)

        try:
            info = probe(src)
        except AudioError as exc:
            kind = (
                AlarmType.FILE_PARSE_ERROR if exc.stage == "parse" else AlarmType.FILE_ENCODE_ERROR
            )
            return self._reject(src, sidecar, kind, exc.message, codec=exc.codec)
        try:
            parsed = read_call_details(src, info.duration_s)
        except CallDetailsError as exc:
            return self._reject(src, sidecar, AlarmType.FILE_PARSE_ERROR, exc.message)
        details = parsed.details

        with self.db.read() as conn:
            seq = next_seq(conn, details.call_id)
        day = details.start.strftime("%Y/%m/%d")
        rel = f"{day}/{safe_name(details.call_id)}-{seq}.opus"
        temp = self.store.temp_path(rel)
        comments = opus_comments(details, parsed.extra_tags)
        try:
            try:
                duration = encode_opus(src, temp, info, comments)
            except AudioError as exc:
                kind = (
                    AlarmType.FILE_PARSE_ERROR
                    if exc.stage == "parse"
                    else AlarmType.FILE_ENCODE_ERROR
                )
                return self._reject(src, sidecar, kind, exc.message, codec=exc.codec, target=rel)
            digest = sha256_file(temp)
            size = temp.stat().st_size
            signature = self.signer.sign(digest, details.to_dict())
            try:
                self.store.commit(temp, rel)
            except PrimaryUnavailable as exc:  # the alarm is raised; the input stays
                log.warning("%s waits in the handover folder: %s", src.name, exc.message)
                return Result(Outcome.WAITING, src, reason=exc.message)
        finally:
            temp.unlink(missing_ok=True)

        rec = NewRecording(
            details=details,
            duration_s=duration,
            path=rel,
            size=size,
            sha256=digest,
            signature=signature,
            key_id=self.signer.key_id,
            source_key=key,
            source_name=src.name,
        )

        def catalogue(conn: sqlite3.Connection) -> tuple[int, bool]:
            found = find_by_source_key(conn, key)
            if found is not None:
                return found, False
            if next_seq(conn, details.call_id) != seq:
                raise RuntimeError(f"sequence for call {details.call_id} changed during ingest")
            return insert_recording(conn, rec, seq), True

        rec_id, new = self.db.write(catalogue)
        self._remove_input(src, sidecar)
        log.info("ingested %s as #%d %s (%.1f s, %d bytes)", src.name, rec_id, rel, duration, size)
        return Result(Outcome.INGESTED if new else Outcome.DUPLICATE, src, rec_id)

    def sweep_sidecar(self, sidecar: Path, now: float) -> None:
        """Deal with a sidecar whose recording is gone.

        The recording is removed before its sidecar, so a crash between the two leaves a
        consumed sidecar: it is deleted. One that never got a recording is quarantined after
        an hour, with an alarm, so nobody waits for it silently.
        """
        if recordings_for(sidecar):
            return
        names = [c.name for c in _audio_names(sidecar)]
        written = datetime.fromtimestamp(int(sidecar.stat().st_mtime), UTC)
        # ingested after this sidecar was written: it was this sidecar's recording, not an
        # older one that happened to have the same name
        consumed = self.db.query_one(
            f"SELECT id FROM recordings WHERE source_name IN ({','.join('?' * len(names))})"
            " AND ingested_at >= ? LIMIT 1",
            (*names, written.isoformat()),
        )
        if consumed:
            sidecar.unlink(missing_ok=True)
        elif now - sidecar.stat().st_mtime > ORPHAN_SIDECAR_SECONDS:
            self._reject(
                sidecar,
                None,
                AlarmType.FILE_PARSE_ERROR,
                "call details without a recording for over an hour",
            )

    def _remove_input(self, src: Path, sidecar: Path | None) -> None:
        for path in (src, sidecar):
            if path is not None:
                path.unlink(missing_ok=True)
        fsync_dir(src.parent)

    def _reject(
        self,
        src: Path,
        sidecar: Path | None,
        kind: AlarmType,
        reason: str,
        *,
        codec: str = "",
        target: str = "",
    ) -> Result:
        files = [src] + ([sidecar] if sidecar else [])
        moved = quarantine(files, self.quarantine_dir, reason)
        if kind is AlarmType.FILE_ENCODE_ERROR:
            self.alarms.raise_(
                kind,
                file=src.name,
                codec=codec or "unknown",
                target=target or "Opus",
                reason=reason,
                dedupe=src.name,
            )
        else:
            self.alarms.raise_(kind, file=src.name, reason=reason, dedupe=src.name)
        log.warning("quarantined %s -> %s: %s", src.name, moved, reason)
        return Result(Outcome.QUARANTINED, src, reason=reason)


def _audio_names(sidecar: Path) -> list[Path]:
    """Where the recording of ``sidecar`` would be: same stem, any audio suffix, either case."""
    return [
        sidecar.with_suffix(s)
        for suffix in sorted(AUDIO_SUFFIXES)
        for s in (suffix, suffix.upper())
    ]


def recordings_for(sidecar: Path) -> list[Path]:
    """The recordings present beside ``sidecar`` (normally none or one)."""
    return [p for p in _audio_names(sidecar) if p.is_file()]


def is_sidecar(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in SIDECAR_SUFFIXES


def is_candidate(path: Path) -> bool:
    """Files the watcher hands to the pipeline: not hidden (still being written), not a sidecar."""
    name = path.name
    return not name.startswith(".") and path.suffix.lower() not in SIDECAR_SUFFIXES
