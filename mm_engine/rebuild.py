"""Rebuilding the catalogue from the stored files: the way back when the database is lost.

Every stored recording describes itself: ingest writes all call-detail keys into its Opus
comments (``mm_engine.ingest.calldetails.opus_comments``), its path names the day, the call
and its sequence number (``YYYY/MM/DD/<call-id>-<n>.opus``), and its length is in the Ogg
stream. So a row can be made again from the file alone, except for what was never in it: the
name of the handover input, when it was ingested (the file's time stands in) and the signature.

The signature covers the file's SHA-256, so it cannot live inside the file. Rows get one of:

- **re-used**: the signature from an older copy of the database (``known``) verifies against
  the file and its details, so the recording is as authentic as it ever was;
- **kept, does not verify**: an older signature exists for that path but does not verify: the
  old hash and signature are kept, so the recording shows as tampered, exactly as before.
  Re-signing it would certify whatever the file now holds;
- **re-signed**: no older signature is known; the installation's key signs the file as it is
  now. (Ed25519 signatures are deterministic: with the original signing key restored, an
  unchanged file gets the very signature it had.)

The source is any Store: the call storage itself (files stay where they are), or a copy of the
tree elsewhere (a folder, a connector's archive), whose files are copied into the call storage,
decrypting ``.mmc`` archive files with the keys in ``keys/``. Rows are written in batches as
files are read, so an interrupted rebuild continues with ``merge``.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from mutagen.oggopus import OggOpus

from mm_engine.catalogue import NewRecording, insert_recording, next_seq
from mm_engine.db import Database
from mm_engine.domain import CallDetails
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.ingest.calldetails import CallDetailsError, read_call_details
from mm_engine.ingest.pipeline import safe_name
from mm_engine.signing import Signer, sha256_file
from mm_engine.storage.archive_keys import ArchiveKeys
from mm_engine.storage.base import Store
from mm_engine.storage.crypt import SUFFIX, CryptError, decrypt_stream
from mm_engine.storage.local import LocalStore
from mm_engine.storage_move import Progress
from mm_engine.text import msg, msgn

RECORDING_SUFFIX = ".opus"
BATCH = 200
_SEQ = re.compile(r"^(?P<name>.+)-(?P<seq>\d+)$")


@dataclass(frozen=True)
class KnownSignature:
    """A recording's hash and signature as an older catalogue held them."""

    sha256: str
    signature: str
    key_id: str


def signatures_from_database(path: Path | str) -> dict[str, KnownSignature]:
    """Path -> signature from an older mm database file (one moved aside by a restore, or the
    mm.db of an old backup), opened read-only."""
    db_file = Path(path)
    if not db_file.is_file():
        raise NotFound(
            msg("{path} does not exist.", path=db_file), msg("Give an mm database file (mm.db).")
        )
    try:
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(
            msg("{path} cannot be opened as a database ({error}).", path=db_file, error=exc)
        ) from None
    try:
        rows = conn.execute("SELECT path, sha256, signature, key_id FROM recordings").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(
            msg("{path} is not an mm database with recordings ({error}).", path=db_file, error=exc),
            msg("Give the mm.db of an mm data directory or of a backup."),
        ) from None
    finally:
        conn.close()
    return {str(r[0]): KnownSignature(str(r[1]), str(r[2]), str(r[3])) for r in rows}


@dataclass
class RebuildReport:
    source: str
    merge: bool
    signing_key_id: str
    files: int = 0  # recording files found in the source
    added: int = 0
    already_catalogued: int = 0
    signatures_reused: int = 0
    signatures_kept_failing: int = 0
    signatures_unverifiable: int = 0  # unchanged file, older key not in keys/
    resigned: int = 0
    copied: int = 0  # copied into the call storage from elsewhere
    decrypted: int = 0  # of those, from encrypted .mmc files
    other_files: int = 0  # not recordings (ignored)
    skipped: list[dict[str, str]] = field(default_factory=list)
    kept_failing: list[str] = field(default_factory=list)  # paths whose old signature fails

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Found:
    rec: NewRecording
    seq: int | None
    stored_at: str
    digest: str  # of the file as found (the row keeps an older hash when that fails)
    encrypted: bool


def _plain_path(path: str) -> tuple[str, bool] | None:
    """(catalogue path, encrypted) for a recording file's name, else None."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith("."):
        return None
    encrypted = path.endswith(SUFFIX)
    plain = path.removesuffix(SUFFIX) if encrypted else path
    if not plain.endswith(RECORDING_SUFFIX):
        return None
    return plain, encrypted


def _seq_from_path(path: str, call_id: str) -> int | None:
    stem = path.rsplit("/", 1)[-1].removesuffix(RECORDING_SUFFIX)
    match = _SEQ.match(stem)
    if match is None or match.group("name") != safe_name(call_id):
        return None
    return int(match.group("seq"))


def _opus_length(path: Path) -> float | None:
    try:
        audio: Any = OggOpus(str(path))  # type: ignore[no-untyped-call]
        return float(audio.info.length)
    except Exception:  # mutagen fails on damaged input with whatever it trips over
        return None


def _details(path: Path) -> tuple[CallDetails, float] | str:
    """The call details from the file's Opus comments and its length, or why not."""
    length = _opus_length(path)
    if length is None:
        return msg("not a readable Ogg/Opus file")
    try:
        parsed = read_call_details(path, length)
    except CallDetailsError as exc:
        return msg("its call details are invalid: {error}", error=exc)
    missing = [k for k in ("call_id", "start") if parsed.sources.get(k) != "opus"]
    if missing:
        return msg(
            "its Opus comments carry no {keys} (not written by mm ingest)",
            keys=" or ".join(missing),
        )
    return parsed.details, length


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class CatalogueRebuild:
    """Re-create catalogue rows from ``source`` (default: the call storage itself)."""

    def __init__(self, db: Database, signer: Signer, store: LocalStore, keys_dir: Path) -> None:
        self.db = db
        self.signer = signer
        self.store = store
        self.keys = ArchiveKeys(keys_dir)

    def run(
        self,
        source: Store | None = None,
        *,
        merge: bool = False,
        known: Mapping[str, KnownSignature] | None = None,
        connector_id: int | None = None,
        progress: Progress | None = None,
    ) -> RebuildReport:
        """``connector_id``: ``source`` is that connector's store; each recording added also
        gets its archive copy recorded there, so archiving does not send it again."""
        source = source or self.store
        in_place = isinstance(source, LocalStore) and _same(source.root, self.store.root)
        label = str(source.root) if isinstance(source, LocalStore) else source.name
        if isinstance(source, LocalStore) and not source.root.is_dir():
            raise NotFound(
                msg(
                    "{path} does not exist, so there is nothing to rebuild from.",
                    path=source.root,
                ),
                msg("Mount the disk holding the recordings there, or give --path DIR."),
            )
        count = int(self.db.query_one("SELECT count(*) FROM recordings")[0])  # type: ignore[index]
        if count and not merge:
            raise Refused(
                msgn("The catalogue already holds {count} recording(s).", count),
                msg(
                    "Pass --merge to add only the recordings it lacks; existing rows stay as "
                    "they are."
                ),
            )
        report = RebuildReport(label, merge, self.signer.key_id)
        known = known or {}
        files = self._candidates(source, report)
        report.files = len(files)
        catalogued = {str(r[0]) for r in self.db.query("SELECT path FROM recordings")}
        batch: list[_Found] = []
        for done, (plain, actual, encrypted, mtime) in enumerate(files, start=1):
            if plain in catalogued:
                report.already_catalogued += 1
            else:
                found = self._one(source, in_place, plain, actual, encrypted, mtime, known, report)
                if found is not None:
                    batch.append(found)
                    catalogued.add(plain)
            if len(batch) >= BATCH:
                self._insert(batch, report, connector_id)
                batch = []
            if progress is not None:
                progress(done, len(files))
        if batch:
            self._insert(batch, report, connector_id)
        return report

    # -- finding the files ----------------------------------------------------------------------
    def _candidates(
        self, source: Store, report: RebuildReport
    ) -> list[tuple[str, str, bool, float]]:
        """(catalogue path, path in the source, encrypted, mtime), a plain file before an
        encrypted copy of the same recording, oldest day first."""
        chosen: dict[str, tuple[str, bool, float]] = {}
        for info in source.list():
            kind = _plain_path(info.path)
            if kind is None:
                report.other_files += 1
                continue
            plain, encrypted = kind
            if plain in chosen and (encrypted or not chosen[plain][1]):
                continue
            chosen[plain] = (info.path, encrypted, info.mtime)
        return [(p, *chosen[p]) for p in sorted(chosen)]

    def _skip(self, report: RebuildReport, path: str, reason: str) -> None:
        report.skipped.append({"path": path, "reason": reason})

    def _one(
        self,
        source: Store,
        in_place: bool,
        plain: str,
        actual: str,
        encrypted: bool,
        mtime: float,
        known: Mapping[str, KnownSignature],
        report: RebuildReport,
    ) -> _Found | None:
        if in_place and not encrypted:
            return self._describe(self.store.root / plain, plain, mtime, False, known, report)
        temp = self.store.temp_path(plain)
        try:
            try:
                self._fetch(source, actual, encrypted, temp)
            except CryptError as exc:
                self._skip(report, actual, str(exc) if exc.hint else exc.message)
                return None
            except OSError as exc:
                self._skip(report, actual, msg("cannot be read: {error}", error=exc))
                return None
            existing = self.store.root / plain
            if existing.exists():
                if sha256_file(existing) != sha256_file(temp):
                    self._skip(
                        report,
                        actual,
                        msg(
                            "a different file is already at {path} in the call storage "
                            "(both left untouched)",
                            path=plain,
                        ),
                    )
                    return None
                return self._describe(existing, plain, mtime, encrypted, known, report)
            found = self._describe(temp, plain, mtime, encrypted, known, report)
            if found is not None:
                self.store.commit(temp, plain)
                report.copied += 1
                report.decrypted += int(encrypted)
            return found
        finally:
            temp.unlink(missing_ok=True)

    def _fetch(self, source: Store, path: str, encrypted: bool, temp: Path) -> None:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as out, source.open(path) as src:
            if encrypted:
                decrypt_stream(src, out, self.keys)
            else:
                _copy(src, out)

    def _describe(
        self,
        file: Path,
        plain: str,
        mtime: float,
        encrypted: bool,
        known: Mapping[str, KnownSignature],
        report: RebuildReport,
    ) -> _Found | None:
        got = _details(file)
        if isinstance(got, str):
            self._skip(report, plain, got)
            return None
        details, length = got
        digest = sha256_file(file)
        old = known.get(plain)
        sha, signature, key_id = digest, "", self.signer.key_id
        if old is not None:
            genuine = self.signer.verify(digest, details.to_dict(), old.signature, old.key_id)
            if genuine:
                signature, key_id = old.signature, old.key_id
                report.signatures_reused += 1
            elif old.sha256 != digest or genuine is False:
                # evidence kept: the row says what was signed, so verify shows "tampered"
                sha, signature, key_id = old.sha256, old.signature, old.key_id
                report.signatures_kept_failing += 1
                report.kept_failing.append(plain)
            else:  # unchanged file, signed by a key this installation lacks: keep it
                signature, key_id = old.signature, old.key_id
                report.signatures_unverifiable += 1
        if not signature:
            signature = self.signer.sign(digest, details.to_dict())
            report.resigned += 1
        rec = NewRecording(
            details=details,
            duration_s=length,
            path=plain,
            size=file.stat().st_size,
            sha256=sha,
            signature=signature,
            key_id=key_id,
            source_key=f"rebuilt:{plain}",
            source_name="",
        )
        seq = _seq_from_path(plain, details.call_id)
        return _Found(rec, seq, _utc(mtime), digest, encrypted)

    # -- writing the rows --------------------------------------------------------------------
    def _insert(self, batch: list[_Found], report: RebuildReport, connector_id: int | None) -> None:
        def write(conn: sqlite3.Connection) -> int:
            added = 0
            for found in batch:
                rec = found.rec
                if conn.execute("SELECT 1 FROM recordings WHERE path = ?", (rec.path,)).fetchone():
                    report.already_catalogued += 1
                    continue
                seq = found.seq
                taken = (
                    seq is not None
                    and conn.execute(
                        "SELECT 1 FROM recordings WHERE call_id = ? AND seq = ?",
                        (rec.details.call_id, seq),
                    ).fetchone()
                )
                if seq is None or taken:
                    seq = next_seq(conn, rec.details.call_id)
                rec_id = insert_recording(conn, rec, seq)
                conn.execute(
                    "UPDATE recordings SET ingested_at = ? WHERE id = ?", (found.stored_at, rec_id)
                )
                if connector_id is not None:
                    conn.execute(
                        "INSERT INTO archive_copies (connector_id, recording_id, remote_path,"
                        " size, sha256, encrypted, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT DO NOTHING",
                        (
                            connector_id,
                            rec_id,
                            rec.path,
                            rec.size,
                            found.digest,
                            int(found.encrypted),
                            found.stored_at,
                        ),
                    )
                added += 1
            if connector_id is not None and added:
                conn.execute(
                    "UPDATE connectors SET archived_count = archived_count + ? WHERE id = ?",
                    (added, connector_id),
                )
            return added

        report.added += self.db.write(write)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _copy(src: BinaryIO, dst: BinaryIO) -> None:
    while block := src.read(1 << 20):
        dst.write(block)


def iter_report_lines(report: RebuildReport) -> Iterator[str]:
    """The report as lines a person reads (the CLI and the console print these)."""
    counts = {
        "source": report.source,
        "files": report.files,
        "added": report.added,
        "already": report.already_catalogued,
        "skipped": len(report.skipped),
    }
    if report.already_catalogued and report.skipped:
        yield msg(
            "Rebuilt the catalogue from {source}: {files} recording file(s), {added} added, "
            "{already} already catalogued, {skipped} skipped.",
            **counts,
        )
    elif report.already_catalogued:
        yield msg(
            "Rebuilt the catalogue from {source}: {files} recording file(s), {added} added, "
            "{already} already catalogued.",
            **counts,
        )
    elif report.skipped:
        yield msg(
            "Rebuilt the catalogue from {source}: {files} recording file(s), {added} added, "
            "{skipped} skipped.",
            **counts,
        )
    else:
        yield msg(
            "Rebuilt the catalogue from {source}: {files} recording file(s), {added} added.",
            **counts,
        )
    if report.signatures_reused:
        yield msgn(
            "  {count} signature(s) re-used: the older signature verifies against the file.",
            report.signatures_reused,
        )
    if report.resigned:
        yield msgn(
            "  {count} re-signed with this installation's key ({key_id}): no older signature "
            "was given, so their authenticity before the rebuild cannot be shown.",
            report.resigned,
            key_id=report.signing_key_id,
        )
    if report.signatures_kept_failing:
        yield msgn(
            "  {count} kept their older signature, which does NOT verify against the file "
            "(they show as tampered): {paths}",
            report.signatures_kept_failing,
            paths=", ".join(report.kept_failing[:20])
            + (" ..." if len(report.kept_failing) > 20 else ""),
        )
    if report.signatures_unverifiable:
        yield msgn(
            "  {count} kept their older signature by a key this installation lacks (they show "
            "as 'cannot verify' until keys/ holds that key).",
            report.signatures_unverifiable,
        )
    if report.copied and report.decrypted:
        yield msgn(
            "  {count} file(s) copied into the call storage ({decrypted} decrypted from {suffix}).",
            report.copied,
            decrypted=report.decrypted,
            suffix=SUFFIX,
        )
    elif report.copied:
        yield msgn("  {count} file(s) copied into the call storage.", report.copied)
    if report.other_files:
        yield msgn("  {count} other file(s) ignored (not .opus recordings).", report.other_files)
    for item in report.skipped[:50]:
        yield msg("  skipped {path}: {reason}", path=item["path"], reason=item["reason"])
    if len(report.skipped) > 50:
        yield msgn("  ... and {count} more skipped (see --json).", len(report.skipped) - 50)
