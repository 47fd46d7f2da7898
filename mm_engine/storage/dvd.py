"""The ``dvd`` storage type: the DVD+RW in one drive, written a session at a time with xorriso.

A disc is write-once-append, so this Store keeps the conformance contract with three documented
differences:

- **put is buffered.** ``put`` streams the file into a local spool folder (atomically: a failed
  stream leaves nothing) and returns; the file is *pending*, not on the disc, and ``stat``,
  ``open`` and ``list`` do not see it. :meth:`DvdStore.flush` writes every pending file as ONE
  session (volume id ``<label>-<sequence>``), reads the session back, checks every file against
  the MD5 taken while it was spooled, and only then forgets the pending batch. A batch that does
  not fit is refused before anything is written (DiscFull, with the free and needed bytes) and
  stays pending for the next disc. The spool survives a restart: files found in it are pending.
- **remove is refused for a file on the disc** (AppendOnly). A newer session could hide the file
  from the merged tree, but its bytes would stay on the disc and a copy the catalogue relies on
  would silently disappear; a disc is retired whole instead. Removing a pending file drops it
  from the batch; removing what is on neither is not an error.
- **put over a path already on the disc replaces it** in the next session: the merged tree shows
  the new file, the old bytes stay on the disc (hidden) and still count as used.

Only a blank disc or one of ours (see ``mm_engine.dvd.disc``) is ever written; a foreign disc
makes :meth:`test` say MISCONFIGURED and every read or write raise ForeignDisc, as does a medium
that is not a DVD+RW. An image file (``stdio:/path/disc.iso``) stands in for a DVD+RW in tests;
its ``capacity`` setting stands for the disc size.

The listing of the disc is cached: for an image file until the file changes, for a real drive
until :meth:`DvdStore.media_changed` is called (the drive monitor's callback should call it) or
this store writes, ejects or blanks.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from mm_engine.dvd.disc import (
    MARKER_PATH,
    SESSIONS_DIR,
    DiscKind,
    DiscMarker,
    DiscState,
    ForeignDisc,
    classify,
    erase,
    erase_token,
    label_problem,
    volume_id,
)
from mm_engine.dvd.xorriso import (
    BLOCK,
    DiscFull,
    DriveUnavailable,
    Md5Check,
    MediaInfo,
    MediaState,
    NoMedium,
    Xorriso,
    XorrisoError,
    drive_exists,
)
from mm_engine.errors import MMError, Refused
from mm_engine.storage.base import Accessibility, ObjectInfo
from mm_engine.storage.fields import Field
from mm_engine.text import N_, msg, msgn

KIND = "dvd"
TITLE = N_("DVD+RW")

COPY_CHUNK = 1 << 20
RESERVED = (MARKER_PATH.lstrip("/"), SESSIONS_DIR.lstrip("/"))


def _drive_problem(value: str) -> str | None:
    if value.startswith("stdio:/") or value.startswith("/dev/"):
        return None
    return msg("must be a device such as /dev/sr0 (or stdio:/path/disc.iso for an image file)")


def _capacity_problem(value: str) -> str | None:
    return None if value.isdigit() and int(value) >= 1 << 20 else msg("must be a number of bytes")


FIELDS = (
    Field(
        "drive",
        N_("Drive"),
        N_("The DVD writer, e.g. /dev/sr0 (`mm dvd status` lists the drives found)"),
        default="/dev/sr0",
        check=_drive_problem,
    ),
    Field(
        "label",
        N_("DVD label"),
        N_(
            "Names the discs: 1-27 letters, digits or _ (it becomes the discs' volume id, "
            "e.g. ARCHIVE-0001)"
        ),
        check=label_problem,
    ),
    Field(
        "capacity",
        N_("Capacity (bytes)"),
        N_("Only for an image file standing in for a disc: the disc size, e.g. 4700372992"),
        required=False,
        check=_capacity_problem,
    ),
)


class AppendOnly(Refused):
    title = N_("Discs are append-only")


class WrongMedium(Refused):
    title = N_("Not a DVD+RW")


class VerifyFailed(MMError):
    """The session was written but did not read back as sent; the batch stays pending."""

    title = N_("DVD verification failed")

    def __init__(self, volume_id: str, paths: list[str]) -> None:
        if len(paths) > 5:
            said = msgn(
                "Disc {volume_id} did not read back correctly: {paths} and {more} more.",
                len(paths),
                volume_id=volume_id,
                paths=", ".join(paths[:5]),
                more=len(paths) - 5,
            )
        else:
            said = msg(
                "Disc {volume_id} did not read back correctly: {paths}.",
                volume_id=volume_id,
                paths=", ".join(paths),
            )
        super().__init__(
            said,
            msg(
                "The files stay pending and are written again in the next session; if this "
                "repeats, replace the disc."
            ),
        )
        self.volume_id = volume_id
        self.paths = paths


@dataclass
class _Pending:
    size: int
    md5: str | None = None  # None for files recovered from the spool after a restart
    sha256: str | None = None


@dataclass(frozen=True)
class FlushReport:
    """One session written and verified."""

    volume_id: str
    sequence: int  # the disc's number under its label
    session: int  # the session's number on the disc (1 = first)
    new_disc: bool  # the disc was blank before this session
    files: tuple[ObjectInfo, ...]
    sha256: Mapping[str, str] = field(default_factory=dict)  # path -> SHA-256 of what was sent
    bytes_written: int = 0
    free_bytes: int = 0  # left on the disc afterwards


@dataclass
class _Snapshot:
    state: DiscState
    objects: dict[str, ObjectInfo] | None = None  # None until listed


def _hash_file(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def _blocks(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


class DvdStore:
    """The disc in one drive as a Store (see the module docstring for what differs)."""

    def __init__(
        self,
        drive: str,
        label: str,
        *,
        name: str = "dvd",
        library: str = "",
        capacity: int | None = None,
        spool: Path | None = None,
        new_disc_sequence: Callable[[], int] | None = None,
        close: bool = False,
        binary: str = "xorriso",
    ) -> None:
        problem = label_problem(label)
        if problem:
            raise ValueError(f"DVD label {label!r} {problem}")
        self.name = name
        self.label = label
        self.library = library
        self.close_discs = close
        self.x = Xorriso(drive, capacity=capacity, binary=binary)
        self._own_spool = spool is None
        self._spool = spool
        self._next_sequence = new_disc_sequence
        self._highest_seen = 0
        self._lock = threading.RLock()
        self._pending: dict[str, _Pending] = {}
        self._generation = 0
        self._cache: tuple[object, _Snapshot] | None = None
        if spool is not None:
            self._make_spool(spool)
            self._recover_spool()

    @property
    def drive(self) -> str:
        return self.x.drive

    @property
    def spool(self) -> Path:
        """The spool folder; without one given, a temporary folder made on first use (a store
        opened only to test the drive leaves nothing behind)."""
        if self._spool is None:
            self._spool = self._make_spool(Path(tempfile.mkdtemp(prefix="mm-dvd-spool-")))
        return self._spool

    @staticmethod
    def _make_spool(spool: Path) -> Path:
        for sub in ("tree", "incoming"):
            (spool / sub).mkdir(parents=True, exist_ok=True)
        return spool

    @property
    def _tree(self) -> Path:
        return self.spool / "tree"

    @property
    def _incoming(self) -> Path:
        return self.spool / "incoming"

    # paths --------------------------------------------------------------------------------

    @staticmethod
    def _rel(path: str, *, folder: bool = False) -> str:
        if path.startswith("/") or "\\" in path:
            raise ValueError(f"storage path must be relative and inside the store: {path!r}")
        parts = [p for p in PurePosixPath(path).parts if p != "."]
        if ".." in parts or (not parts and not folder):
            raise ValueError(f"storage path must be relative and inside the store: {path!r}")
        rel = "/".join(parts)
        if rel and rel.split("/")[0] in RESERVED:
            raise ValueError(f"{path!r} is reserved for mm's own records on the disc")
        return rel

    # the pending batch --------------------------------------------------------------------

    def _recover_spool(self) -> None:
        for temp in self._incoming.iterdir():
            temp.unlink(missing_ok=True)
        for dirpath, _dirs, files in os.walk(self._tree):
            for filename in files:
                full = Path(dirpath) / filename
                rel = full.relative_to(self._tree).as_posix()
                self._pending[rel] = _Pending(full.stat().st_size)

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        """Spool ``stream`` as a pending file; it goes onto the disc at the next :meth:`flush`."""
        rel = self._rel(path)
        temp = self._incoming / uuid.uuid4().hex
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        written = 0
        try:
            with open(temp, "wb") as out:
                while chunk := stream.read(COPY_CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    sha.update(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            with self._lock:
                target = self._tree / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, target)
                self._pending[rel] = _Pending(written, md5.hexdigest(), sha.hexdigest())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return ObjectInfo(rel, written, time.time())

    def pending(self) -> list[ObjectInfo]:
        """The files put since the last flush, waiting to be written."""
        with self._lock:
            out = []
            for rel, item in sorted(self._pending.items()):
                mtime = (self._tree / rel).stat().st_mtime
                out.append(ObjectInfo(rel, item.size, mtime))
            return out

    def pending_bytes(self) -> int:
        """What the pending files will take on the disc (whole blocks)."""
        with self._lock:
            return sum(_blocks(p.size) for p in self._pending.values())

    def _drop_pending(self, rel: str) -> None:
        self._pending.pop(rel, None)
        target = self._tree / rel
        target.unlink(missing_ok=True)
        parent = target.parent
        while parent != self._tree and self._tree in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    # the disc -----------------------------------------------------------------------------

    def media_changed(self) -> None:
        """Forget what was read from the disc (a disc went in or out)."""
        with self._lock:
            self._generation += 1
            self._cache = None

    def _key(self) -> object:
        if self.x.is_image:
            try:
                st = os.stat(self.x.where())
            except OSError:
                return (self._generation, None)
            return (self._generation, st.st_ino, st.st_size, st.st_mtime_ns)
        return (self._generation,)

    def _snapshot(self) -> _Snapshot:
        key = self._key()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        state = classify(self.x, self.label, self.library)
        if state.marker is not None and state.kind is DiscKind.OURS:
            self._highest_seen = max(self._highest_seen, state.marker.sequence)
        snap = _Snapshot(state)
        self._cache = (key, snap)
        return snap

    def disc(self) -> DiscState:
        """The disc in the drive: absent, blank, ours or foreign, with its media figures."""
        with self._lock:
            return self._snapshot().state

    def _readable(self) -> _Snapshot:
        snap = self._snapshot()
        state = snap.state
        if state.kind is DiscKind.ABSENT:
            raise NoMedium(
                msg("There is no disc in the drive {drive}.", drive=self.drive),
                msg("Insert the disc of label {label} that holds the file.", label=self.label),
            )
        if state.kind is DiscKind.FOREIGN:
            raise ForeignDisc(
                msg(
                    "The disc in {drive} is not one of ours: {reason}.",
                    drive=self.drive,
                    reason=state.reason,
                ),
                msg("Insert a disc of label {label}, or a blank DVD+RW.", label=self.label),
            )
        return snap

    def _objects(self) -> dict[str, ObjectInfo]:
        snap = self._readable()
        if snap.objects is not None:
            return snap.objects
        objects: dict[str, ObjectInfo] = {}
        if snap.state.kind is DiscKind.OURS:
            files = self.x.files()
            written = self._session_times(
                [f.path for f in files if f.path.startswith(SESSIONS_DIR + "/")]
            )
            for f in files:
                rel = f.path.lstrip("/")
                if rel.split("/")[0] in RESERVED:
                    continue
                objects[rel] = ObjectInfo(rel, f.size, written.get(rel, 0.0))
        snap.objects = objects
        return objects

    def _session_times(self, manifests: list[str]) -> dict[str, float]:
        """When each file was written, from the session manifests (newest wins)."""
        if not manifests:
            return {}
        out: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="mm-dvd-") as tmp:
            dest = Path(tmp) / "sessions"
            try:
                self.x.extract(SESSIONS_DIR, dest)
            except (FileNotFoundError, XorrisoError):
                return {}
            for manifest in sorted(dest.glob("*.json")):
                try:
                    body: Any = json.loads(manifest.read_text("utf-8"))
                    stamp = datetime.fromisoformat(body["written"]).timestamp()
                    for rel in body["files"]:
                        out[str(rel)] = stamp
                except (ValueError, KeyError, TypeError):
                    continue
        return out

    # reading ------------------------------------------------------------------------------

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        rel = self._rel(path)
        with self._lock:
            info = self._objects().get(rel)
            if info is None:
                raise FileNotFoundError(
                    msg("{path} is not on the disc in {drive}", path=rel, drive=self.drive)
                )
            if offset >= info.size or length == 0:
                return io.BytesIO(b"")
            tmp = Path(tempfile.mkdtemp(prefix="mm-dvd-read-"))
            try:
                dest = tmp / "file"
                if offset or length is not None:
                    count = (
                        info.size - offset if length is None else min(length, info.size - offset)
                    )
                    self.x.extract(rel, dest, offset, count)
                else:
                    self.x.extract(rel, dest)
                fh = open(dest, "rb")  # noqa: SIM115 - returned to the caller
                dest.unlink()  # the open handle keeps the data; nothing is left behind
                return fh
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    def stat(self, path: str) -> ObjectInfo | None:
        rel = self._rel(path)
        with self._lock:
            return self._objects().get(rel)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._rel(prefix, folder=True) if prefix else ""
        with self._lock:
            objects = self._objects()
        for rel in sorted(objects):
            if not base or rel.startswith(base + "/"):
                yield objects[rel]

    def remove(self, path: str) -> None:
        """Drop a pending file; a file on the disc cannot be removed (AppendOnly)."""
        rel = self._rel(path)
        with self._lock:
            if rel in self._pending:
                self._drop_pending(rel)
                return
            if self._objects().get(rel) is not None:
                raise AppendOnly(
                    msg(
                        "{path} is on disc {volume_id} and cannot be removed: "
                        "a DVD is append-only.",
                        path=rel,
                        volume_id=self.disc().volume_id,
                    ),
                    msg("Retire the whole disc instead (blank it once nothing on it is needed)."),
                )

    # writing ------------------------------------------------------------------------------

    def _sequence_for_new_disc(self) -> int:
        if self._next_sequence is not None:
            return int(self._next_sequence())
        return self._highest_seen + 1

    def flush(self, close: bool | None = None) -> FlushReport | None:
        """Write every pending file onto the disc as one session, read it back and check it.

        Returns None when nothing is pending. Raises DiscFull (nothing written; the batch stays
        pending for the next disc), ForeignDisc / WrongMedium (never written to), NoMedium /
        DriveUnavailable (try again later), or VerifyFailed (the batch stays pending).
        ``close`` (default: the store's setting) closes the disc after the session, on media
        that can be closed; a DVD+RW cannot and is simply full when its space is used up.
        """
        with self._lock:
            if not self._pending:
                return None
            self.media_changed()
            state = self._snapshot().state
            media = state.media
            if state.kind is DiscKind.ABSENT:
                raise NoMedium(
                    msg("There is no disc in the drive {drive}.", drive=self.drive),
                    msg("Insert a blank DVD+RW."),
                )
            if state.kind is DiscKind.FOREIGN:
                raise ForeignDisc(
                    msg(
                        "Not writing to the disc in {drive}: {reason}.",
                        drive=self.drive,
                        reason=state.reason,
                    ),
                    msg("mm never writes on a disc it did not start; insert a blank DVD+RW."),
                )
            self._check_medium(media)
            if media.state is MediaState.CLOSED:
                raise DiscFull(state.volume_id, 0, self.pending_bytes())
            if state.kind is DiscKind.BLANK:
                marker = DiscMarker.new(self.label, self._sequence_for_new_disc(), self.library)
                expect = None
            else:
                assert state.marker is not None
                marker, expect = state.marker, state.marker.volume_id
            sessions = len(media.sessions) if expect is not None else None
            for rel, item in self._pending.items():
                if item.md5 is None or item.sha256 is None:
                    item.md5, item.sha256 = _hash_file(self._tree / rel)
            session_no = len(media.sessions) + 1
            batch = dict(self._pending)
            try:
                after = self._write(marker, session_no, batch, (expect, sessions), close)
            finally:
                self.media_changed()
            if len(after.sessions) != session_no:  # another disc went in meanwhile
                raise VerifyFailed(marker.volume_id, sorted(batch))
            self._verify_session(after, marker.volume_id, batch)
            for rel in batch:
                self._drop_pending(rel)
            objects = self._objects()
            return FlushReport(
                volume_id=marker.volume_id,
                sequence=marker.sequence,
                session=session_no,
                new_disc=state.kind is DiscKind.BLANK,
                files=tuple(objects[rel] for rel in sorted(batch)),
                sha256={rel: str(item.sha256) for rel, item in sorted(batch.items())},
                bytes_written=after.used_bytes - media.used_bytes,
                free_bytes=after.free_bytes,
            )

    def _check_medium(self, media: MediaInfo) -> None:
        if not (media.dvd_plus_rw or media.image_file):
            hint = msg("Insert a DVD+RW: mm writes only DVD+RW discs.")
            if media.media_type:
                raise WrongMedium(
                    msg(
                        "The disc in {drive} is a {media_type}, not a DVD+RW.",
                        drive=self.drive,
                        media_type=media.media_type,
                    ),
                    hint,
                )
            raise WrongMedium(
                msg("The disc in {drive} is an unknown medium, not a DVD+RW.", drive=self.drive),
                hint,
            )

    def _write(
        self,
        marker: DiscMarker,
        session_no: int,
        batch: Mapping[str, _Pending],
        expect: tuple[str | None, int | None],
        close: bool | None,
    ) -> MediaInfo:
        with tempfile.TemporaryDirectory(prefix="mm-dvd-meta-") as tmp:
            meta = Path(tmp)
            (meta / "disc.json").write_bytes(marker.to_json())
            manifest = {
                "volume_id": marker.volume_id,
                "session": session_no,
                "written": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": {
                    rel: {"size": item.size, "sha256": item.sha256, "md5": item.md5}
                    for rel, item in sorted(batch.items())
                },
            }
            (meta / "session.json").write_text(json.dumps(manifest, indent=1), "utf-8")
            files = {
                MARKER_PATH: meta / "disc.json",
                f"{SESSIONS_DIR}/{session_no:04d}.json": meta / "session.json",
            }
            return self.x.append(
                marker.volume_id,
                files,
                [self._tree],
                close=self.close_discs if close is None else close,
                expect_volume_id=expect[0],
                expect_sessions=expect[1],
            )

    def _verify_session(self, after: MediaInfo, volid: str, batch: Mapping[str, _Pending]) -> None:
        session = after.sessions[-1] if after.sessions else None
        if session is None:
            raise VerifyFailed(volid, sorted(batch))
        check = self.x.check_range(session.start_block, session.blocks)
        on_disc = {f.path: f for f in self.x.files()}
        end = session.start_block + session.blocks
        bad = set(check.mismatched)
        for rel, item in batch.items():
            disc_path = "/" + rel
            found = on_disc.get(disc_path)
            if (
                found is None
                or found.size != item.size
                or check.recorded.get(disc_path) != item.md5
                or (found.blocks and not session.start_block <= found.start_block < end)
            ):
                bad.add(disc_path)
        if bad:
            raise VerifyFailed(volid, sorted(p.lstrip("/") for p in bad))

    def verify(self) -> Md5Check:
        """Read every file on the disc back and compare it with its MD5 recorded at writing."""
        with self._lock:
            self._readable()
            return self.x.check_md5()

    # the drive ----------------------------------------------------------------------------

    def eject(self) -> None:
        with self._lock:
            try:
                self.x.eject()
            finally:
                self.media_changed()

    def erase_token(self) -> str:
        """The confirmation :meth:`erase` needs for the disc now in the drive."""
        return erase_token(self.disc())

    def erase(self, confirm: str) -> MediaInfo:
        """Blank a disc of ours (everything on it is lost): ``confirm`` must be
        :meth:`erase_token`. A foreign disc is refused."""
        with self._lock:
            try:
                return erase(self.x, self.label, self.library, confirm)
            finally:
                self.media_changed()

    def diagnose(self) -> tuple[Accessibility, str]:
        """Whether the drive holds a disc this store can write, and in words what was found."""
        if not drive_exists(self.drive):
            where = self.x.where()
            if self.x.is_image:
                said = msg("The folder of the image file {where} does not exist", where=where)
            else:
                said = msg(
                    "There is no DVD drive at {where}: connect it, or correct the drive path",
                    where=where,
                )
            return Accessibility.UNREACHABLE, said
        try:
            with self._lock:
                self.media_changed()
                state = self.disc()
        except DriveUnavailable as exc:
            if exc.hint:
                said = msg("{message} {hint}", message=exc.message, hint=exc.hint)
                return Accessibility.UNREACHABLE, said
            return Accessibility.UNREACHABLE, exc.message
        except XorrisoError as exc:
            return (
                Accessibility.UNREACHABLE,
                msg("The disc in {drive} cannot be read: {error}", drive=self.drive, error=exc),
            )
        media = state.media
        if state.kind is DiscKind.ABSENT:
            return (
                Accessibility.UNREACHABLE,
                msg("There is no disc in {drive}: insert a blank DVD+RW", drive=self.drive),
            )
        if not (media.dvd_plus_rw or media.image_file):
            return (
                Accessibility.MISCONFIGURED,
                msg(
                    "The disc in {drive} is a {media_type}, not a DVD+RW",
                    drive=self.drive,
                    media_type=media.media_type,
                ),
            )
        if state.kind is DiscKind.FOREIGN:
            return (
                Accessibility.MISCONFIGURED,
                msg(
                    "{reason}: mm will not write on it; insert a blank DVD+RW",
                    reason=state.opening,
                ),
            )
        if state.kind is DiscKind.BLANK:
            if media.dvd_plus_rw:
                return Accessibility.OK, msg("A blank DVD+RW is in {drive}", drive=self.drive)
            return (
                Accessibility.OK,
                msg("A blank disc (an image file) is in {drive}", drive=self.drive),
            )
        return (
            Accessibility.OK,
            msg(
                "Disc {volume_id} is in {drive}: {used:,} bytes used, {free:,} bytes free",
                volume_id=state.volume_id,
                drive=self.drive,
                used=media.used_bytes,
                free=media.free_bytes,
            ),
        )

    def test(self) -> Accessibility:
        return self.diagnose()[0]

    def free_space(self) -> int | None:
        """Bytes still free on the disc for new puts (pending files already counted), or None
        when there is no usable disc."""
        try:
            with self._lock:
                state = self.disc()
                pending = self.pending_bytes()
        except XorrisoError:
            return None
        if state.kind not in (DiscKind.BLANK, DiscKind.OURS):
            return None
        return max(0, state.media.free_bytes - pending)

    def is_permanent_error(self, exc: BaseException) -> bool:
        if isinstance(exc, DriveUnavailable):
            return False  # a drive plugged back in, a disc inserted: waiting helps
        return isinstance(exc, (Refused, FileNotFoundError, ValueError))

    def close(self) -> None:
        """Remove the spool folder when this store made it and nothing is pending."""
        if self._own_spool and not self._pending and self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None


def from_settings(settings: Mapping[str, str], name: str) -> DvdStore:
    capacity = settings.get("capacity") or ""
    return DvdStore(
        settings["drive"],
        settings["label"],
        name=name,
        capacity=int(capacity) if capacity else None,
    )


__all__ = [
    "FIELDS",
    "KIND",
    "TITLE",
    "AppendOnly",
    "DiscFull",
    "DvdStore",
    "FlushReport",
    "ForeignDisc",
    "VerifyFailed",
    "WrongMedium",
    "from_settings",
    "volume_id",
]
