"""Backup and restore of one installation (seed F4): database, configuration and keys in one
password-protected file. Recordings are not included: they live on the call storage disk and
on the archive connectors.

Format, "mm backup v1" (docs/cli.md, "Backup file format")::

    header   b"MMBACKUP" | version 1 | log2(scrypt n) | scrypt r | scrypt p | salt (16 bytes)
    body     an mm encrypted archive stream (docs/archive-format.md, MMCRYPT v1) sealed with
             key = scrypt(password UTF-8, salt, n, r, p, 32 bytes)
    inside   a gzip-compressed POSIX tar: manifest.json (first), mm.db, keys/<file>...

Why not an AES zip (pyzipper, as the audit export uses): WinZip AES derives its key with 1,000
rounds of PBKDF2-HMAC-SHA1, cheap to guess at on a GPU, and this file carries every key of the
installation (signing, secrets, archive keys). scrypt at 128 MiB (the cost the account
passwords use) makes each guess expensive. The body reuses the archive format, already
documented and tested with vectors, which also detects a file cut short or reordered; a zip
authenticates each member but not the archive around them. The cost: 7-Zip cannot open it;
mm (or the two documents above and Python's ``cryptography``) can.

The database is taken with SQLite's online backup API, in one step under one read
transaction: a consistent snapshot while the service keeps writing (WAL lets writers go on).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import sqlite3
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mm_engine import __version__
from mm_engine.config import SETTINGS, problem
from mm_engine.db.database import connect
from mm_engine.db.migrations import STEPS
from mm_engine.errors import InvalidInput, MMError, NotFound, Refused
from mm_engine.lock import EngineLock
from mm_engine.passwords import ScryptParams, check_new_password
from mm_engine.paths import DataDir
from mm_engine.storage.crypt import (
    HEADER_SIZE,
    ArchiveKey,
    ChunkReader,
    CryptError,
    Header,
    decrypting_reader,
    encrypt_stream,
)
from mm_engine.storage.local import LocalStore
from mm_engine.storage.progress import counting
from mm_engine.text import N_, msg, msgn

Progress = Callable[[int, int], None]

MAGIC = b"MMBACKUP"
VERSION = 1
SALT_BYTES = 16
BACKUP_HEADER_SIZE = len(MAGIC) + 4 + SALT_BYTES  # 28
KDF = ScryptParams()  # n=2**17, r=8, p=1: 128 MiB, as account passwords
MANIFEST = "manifest.json"
DATABASE = "mm.db"
KEYS = "keys"
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TAR_BLOCK = 512
_TAR_RECORD = 20 * _TAR_BLOCK
_COPY = 1 << 20
# level 1: a 184 MB catalogue packs to 55 MB at 75 MB/s; level 6 to 53 MB at 44 MB/s
GZIP_LEVEL = 1
_DAMAGED = msg("The backup file is damaged or incomplete; use another copy.")


class BackupError(MMError):
    title = N_("Backup cannot be read")


class WrongPassword(Refused):
    title = N_("Wrong backup password")


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, readable after decryption, first in the archive."""

    format: int
    mm_version: str
    schema_version: int
    created_at: str  # UTC
    host: str
    data_dir: str
    call_storage_path: str
    counts: dict[str, int]
    keys: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw.decode("utf-8"))
            manifest = cls(
                format=int(doc["format"]),
                mm_version=str(doc["mm_version"]),
                schema_version=int(doc["schema_version"]),
                created_at=str(doc["created_at"]),
                host=str(doc.get("host", "")),
                data_dir=str(doc.get("data_dir", "")),
                call_storage_path=str(doc["call_storage_path"]),
                counts={str(k): int(v) for k, v in dict(doc.get("counts", {})).items()},
                keys=[str(k) for k in doc["keys"]],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError(msg("The backup's manifest is not readable."), _DAMAGED) from None
        return manifest


# -- the file header and the key ---------------------------------------------------------------


@dataclass(frozen=True)
class BackupHeader:
    params: ScryptParams
    salt: bytes

    def to_bytes(self) -> bytes:
        log2n = self.params.n.bit_length() - 1
        return MAGIC + bytes([VERSION, log2n, self.params.r, self.params.p]) + self.salt

    @classmethod
    def read(cls, src: BinaryIO, name: str) -> BackupHeader:
        raw = src.read(BACKUP_HEADER_SIZE)
        if raw[: len(MAGIC)] != MAGIC:
            raise BackupError(
                msg("{name} is not an mm backup (it does not start with MMBACKUP).", name=name),
                msg("Give the file `mm backup create` wrote."),
            )
        version = raw[len(MAGIC)] if len(raw) > len(MAGIC) else None
        if version != VERSION:
            raise BackupError(
                msg(
                    "{name} is an mm backup of format version {version}, which this mm "
                    "(reading version {known}) does not know.",
                    name=name,
                    version=version,
                    known=VERSION,
                ),
                msg("Restore it with the mm version that wrote it, or a newer one."),
            )
        if len(raw) < BACKUP_HEADER_SIZE:
            raise BackupError(msg("{name} is cut short inside its header.", name=name), _DAMAGED)
        log2n, r, p = raw[len(MAGIC) + 1 : len(MAGIC) + 4]
        try:
            params = ScryptParams(1 << log2n, r, p)
        except ValueError:
            raise BackupError(
                msg("{name} has an impossible key-derivation header.", name=name), _DAMAGED
            ) from None
        return cls(params, raw[len(MAGIC) + 4 :])


def derive_key(password: str, header: BackupHeader) -> ArchiveKey:
    p = header.params
    kdf = Scrypt(salt=header.salt, length=32, n=p.n, r=p.r, p=p.p)
    return ArchiveKey(kdf.derive(password.encode("utf-8")))


# -- a tar written as a pull stream (no thread, flat memory) --------------------------------------


def _tar_stream(
    members: list[tuple[str, Path]], on_bytes: Callable[[int], None]
) -> Iterator[bytes]:
    written = 0
    for name, path in members:
        info = tarfile.TarInfo(name)
        with open(path, "rb") as fh:
            info.size = os.fstat(fh.fileno()).st_size
            info.mtime = int(os.fstat(fh.fileno()).st_mtime)
            info.mode = 0o600
            head = info.tobuf(format=tarfile.PAX_FORMAT)
            yield head
            left = info.size
            while left:
                block = fh.read(min(_COPY, left))
                if not block:
                    raise MMError(msg("{path} shrank while it was being backed up.", path=path))
                left -= len(block)
                on_bytes(len(block))
                yield block
        pad = -info.size % _TAR_BLOCK
        if pad:
            yield b"\0" * pad
        written += len(head) + info.size + pad
    end = 2 * _TAR_BLOCK
    end += -(written + end) % _TAR_RECORD
    yield b"\0" * end


def _gzip(pieces: Iterator[bytes]) -> Iterator[bytes]:
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for piece in pieces:
        out = z.compress(piece)
        if out:
            yield out
    yield z.flush()


# -- create ------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def snapshot_database(db_path: Path, dest: Path) -> int:
    """Copy the live database to ``dest`` with SQLite's online backup API; returns its schema.

    One backup step copies every page under one read transaction, so the copy is one
    consistent moment even while other connections and processes write.
    """
    if not db_path.exists():
        raise NotFound(msg("There is no database at {path}: nothing to back up.", path=db_path))
    src = connect(db_path, readonly=True)
    try:
        dst = sqlite3.connect(dest, isolation_level=None)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            schema = int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        raise MMError(
            msg(
                "The database copy fails SQLite's check ({check}); no backup was written.",
                check=check,
            ),
            msg("Run `sqlite3 mm.db 'PRAGMA integrity_check'` on the data directory."),
        )
    os.chmod(dest, 0o600)
    return schema


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # a table an older schema does not have
        return 0


def _call_storage_path(conn: sqlite3.Connection, data_dir: DataDir) -> str:
    row = conn.execute("SELECT value FROM config WHERE key = 'call_storage_path'").fetchone()
    return str(row[0]) if row else SETTINGS["call_storage_path"].default(data_dir)


def _describe(db_copy: Path, schema: int, data_dir: DataDir, keys: list[str]) -> Manifest:
    conn = sqlite3.connect(f"file:{db_copy}?mode=ro", uri=True)
    try:
        counts = {
            t: _count(conn, t)
            for t in ("recordings", "users", "connectors", "archive_copies", "audit", "alarms")
        }
        storage = _call_storage_path(conn, data_dir)
    finally:
        conn.close()
    return Manifest(
        format=VERSION,
        mm_version=__version__,
        schema_version=schema,
        created_at=_now().isoformat(timespec="seconds"),
        host=socket.gethostname(),
        data_dir=str(data_dir.root),
        call_storage_path=storage,
        counts=counts,
        keys=keys,
    )


def _copy_keys(keys_dir: Path, dest: Path) -> list[str]:
    """The key files (never half-written ones, which are hidden until linked into place)."""
    dest.mkdir(mode=0o700)
    names: list[str] = []
    if not keys_dir.is_dir():
        return names
    for path in sorted(keys_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file() or not _KEY_NAME.match(path.name):
            continue
        fd = os.open(dest / path.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(path.read_bytes())
        names.append(path.name)
    return names


def _staging(root: Path, kind: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".{kind}-{os.getpid()}-{os.urandom(4).hex()}"
    path.mkdir(mode=0o700)
    return path


def _check_target(target: Path, force: bool) -> None:
    if target.is_dir():
        raise Refused(
            msg("{path} is a directory.", path=target),
            msg("Give a file name such as mm-backup.mmb."),
        )
    if not target.parent.is_dir():
        raise Refused(msg("The folder {path} does not exist.", path=target.parent))
    if target.exists() and not force:
        raise Refused(
            msg("{path} exists.", path=target),
            msg("Pass --force to replace it, or choose another name."),
        )


def create_backup(
    data_dir: DataDir,
    target: Path | str,
    password: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Manifest:
    """Write the backup of ``data_dir`` to ``target`` (mode 0600, complete or not at all)."""
    check_new_password(password, N_("The backup password"))
    target = Path(target)
    _check_target(target, force)
    stage = _staging(data_dir.root, "backup")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        db_copy = stage / DATABASE
        schema = snapshot_database(data_dir.db, db_copy)
        # keys after the database: a key the snapshot refers to was written before it
        names = _copy_keys(data_dir.keys, stage / KEYS)
        manifest = _describe(db_copy, schema, data_dir, names)
        manifest_path = stage / MANIFEST
        manifest_path.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", "utf-8")
        members = [(MANIFEST, manifest_path), (DATABASE, db_copy)] + [
            (f"{KEYS}/{n}", stage / KEYS / n) for n in names
        ]
        total = sum(p.stat().st_size for _, p in members)
        done = 0

        def on_bytes(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        header = BackupHeader(KDF, os.urandom(SALT_BYTES))
        key = derive_key(password, header)
        payload = io.BufferedReader(ChunkReader(_gzip(_tar_stream(members, on_bytes))))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(header.to_bytes())
            encrypt_stream(payload, out, key)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


# -- restore -----------------------------------------------------------------------------------


def installation_files(root: Path) -> list[str]:
    """What makes ``root`` an installation a restore would replace: a database or any key."""
    found = [n for n in (DATABASE, f"{DATABASE}-wal") if (root / n).exists()]
    keys = root / KEYS
    if keys.is_dir():
        found += sorted(f"{KEYS}/{p.name}" for p in keys.iterdir() if not p.name.startswith("."))
    return found


def check_restore_target(root: Path, force: bool) -> list[str]:
    """Refuse (before any password is asked) a data directory in use, unless ``force``, and
    one an engine is running on. Returns what ``force`` will move aside."""
    present = _refuse_in_use(root, force)
    lock = root / "engine.lock"
    if lock.exists() and EngineLock(lock).is_held_elsewhere():
        raise Refused(
            msg("An mm engine is running on {path}.", path=root),
            msg("Stop it first (e.g. `systemctl stop mm`) and close any console on it."),
        )
    return present


def _refuse_in_use(root: Path, force: bool) -> list[str]:
    present = installation_files(root)
    if present and not force:
        keys = sum(1 for n in present if n.startswith(f"{KEYS}/"))
        has_db = any(n.startswith(DATABASE) for n in present)
        if has_db and keys:
            in_use = msgn(
                "The data directory {root} is in use (it holds {db}, {count} key file(s)); "
                "a restore would replace it.",
                keys,
                root=root,
                db=DATABASE,
            )
        elif keys:
            in_use = msgn(
                "The data directory {root} is in use (it holds {count} key file(s)); "
                "a restore would replace it.",
                keys,
                root=root,
            )
        else:
            in_use = msg(
                "The data directory {root} is in use (it holds {db}); a restore would replace it.",
                root=root,
                db=DATABASE,
            )
        raise Refused(
            in_use,
            msg(
                "Restore into an empty data directory (--home DIR), or pass --force: the current "
                "database and keys are then moved aside (mm.db.before-restore-<time>), "
                "never deleted."
            ),
        )
    return present


@dataclass
class RestoreResult:
    manifest: Manifest
    data_dir: str
    keys_restored: list[str]
    keys_carried_over: list[str] = field(default_factory=list)
    moved_aside: list[str] = field(default_factory=list)
    call_storage_path: str = ""
    call_storage_exists: bool = False
    recordings: int = 0
    files_present: int = 0
    files_missing: int = 0
    audit_ok: bool = False
    audit_checked: int = 0
    audit_problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["manifest"] = self.manifest.to_dict()
        return out


def _open_backup(source: Path, password: str) -> tuple[BinaryIO, ArchiveKey, Header]:
    """The backup positioned after the archive header, its key, and that header.

    The password is checked against the key id in the header before anything is decrypted.
    """
    try:
        fh: BinaryIO = open(source, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise NotFound(msg("{path} does not exist.", path=source)) from None
    except OSError as exc:
        raise MMError(
            msg("{path} cannot be read: {error}.", path=source, error=exc.strerror)
        ) from None
    try:
        header = BackupHeader.read(fh, str(source))
        try:
            inner = Header.parse(fh.read(HEADER_SIZE))
        except CryptError:
            raise BackupError(
                msg("{path} is cut short or damaged after its header.", path=source), _DAMAGED
            ) from None
        key = derive_key(password, header)
        if key.key_id != inner.key_id:
            raise WrongPassword(
                msg("The password does not open {path}.", path=source),
                msg("Nothing was changed. Try again with the password given when it was created."),
            )
    except BaseException:
        fh.close()
        raise
    return fh, key, inner


def _member_target(member: tarfile.TarInfo, stage: Path, seen: set[str]) -> Path:
    name = member.name
    if not member.isreg() or name in seen:
        raise BackupError(
            msg("The backup holds an unexpected entry {name!r}.", name=name), _DAMAGED
        )
    if name == DATABASE:
        return stage / DATABASE
    folder, _, base = name.partition("/")
    if folder == KEYS and _KEY_NAME.match(base):
        return stage / KEYS / base
    raise BackupError(msg("The backup holds an unexpected entry {name!r}.", name=name), _DAMAGED)


def _extract(
    fh: BinaryIO, key: ArchiveKey, header: Header, stage: Path, size: int, progress: Progress | None
) -> Manifest:
    """Decrypt and unpack into ``stage``; every byte is authenticated before this returns."""
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, size), size)

    reader = decrypting_reader(counting(fh, on_bytes), key, header)
    (stage / KEYS).mkdir(mode=0o700)
    manifest: Manifest | None = None
    seen: set[str] = set()
    try:
        with reader, tarfile.open(fileobj=reader, mode="r|gz") as tar:
            for member in tar:
                if manifest is None:
                    if member.name != MANIFEST or not member.isreg():
                        raise BackupError(
                            msg("The backup does not start with its manifest."), _DAMAGED
                        )
                    data = tar.extractfile(member)
                    assert data is not None
                    manifest = Manifest.from_bytes(data.read())
                    _check_manifest(manifest)
                    continue
                path = _member_target(member, stage, seen)
                seen.add(member.name)
                data = tar.extractfile(member)
                assert data is not None
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(data, out, _COPY)
                    out.flush()
                    os.fsync(out.fileno())
            while reader.read(_COPY):  # the rest, so the final chunk is authenticated too
                pass
    except CryptError as exc:
        raise BackupError(
            msg("The backup cannot be decrypted: {error}", error=exc.message), _DAMAGED
        ) from None
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise BackupError(
            msg("The backup's contents are not readable ({error}).", error=exc), _DAMAGED
        ) from None
    if manifest is None or DATABASE not in seen:
        raise BackupError(msg("The backup holds no database."), _DAMAGED)
    missing = [k for k in manifest.keys if f"{KEYS}/{k}" not in seen]
    if missing:
        raise BackupError(
            msgn("The backup lacks key file(s) {names}.", len(missing), names=", ".join(missing)),
            _DAMAGED,
        )
    return manifest


def _check_manifest(manifest: Manifest) -> None:
    if manifest.schema_version > len(STEPS):
        raise Refused(
            msg(
                "The backup's database has schema {schema}, newer than this mm ({known}); it "
                "was made by mm {version}.",
                schema=manifest.schema_version,
                known=len(STEPS),
                version=manifest.mm_version,
            ),
            msg("Install that mm version or a newer one, then restore. Nothing was changed."),
        )


def _check_database(path: Path, manifest: Manifest) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            msg("The backup's database is not readable ({error}).", error=exc), _DAMAGED
        ) from None
    finally:
        conn.close()
    if check != "ok" or schema != manifest.schema_version:
        raise BackupError(
            msg("The backup's database fails SQLite's check ({check}).", check=check), _DAMAGED
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_aside(data_dir: DataDir, stamp: str) -> tuple[list[str], Path | None]:
    """Rename the current database (with its -wal and -shm, so it still opens) and keys/."""
    moved: list[str] = []
    root = data_dir.root
    base = f"{DATABASE}.before-restore-{stamp}"
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = root / f"{DATABASE}{suffix}"
        if src.exists():
            dst = root / f"{base}{suffix}"
            os.rename(src, dst)
            moved.append(str(dst))
    old_keys: Path | None = None
    if data_dir.keys.is_dir() and any(data_dir.keys.iterdir()):
        old_keys = root / f"{KEYS}.before-restore-{stamp}"
        os.rename(data_dir.keys, old_keys)
        moved.append(str(old_keys))
    _fsync_dir(root)
    return moved, old_keys


def _place(stage: Path, data_dir: DataDir, old_keys: Path | None) -> tuple[list[str], list[str]]:
    """Keys first, the database last: a database in place means the restore completed."""
    data_dir.ensure()
    restored = sorted(p.name for p in (stage / KEYS).iterdir())
    for name in restored:
        os.replace(stage / KEYS / name, data_dir.keys / name)
    carried: list[str] = []
    if old_keys is not None:
        # archive keys made after the backup still open the archives they wrote
        for path in sorted(old_keys.glob("archive-*.key")):
            if not (data_dir.keys / path.name).exists():
                fd = os.open(data_dir.keys / path.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(path.read_bytes())
                    out.flush()
                    os.fsync(out.fileno())
                carried.append(path.name)
    _fsync_dir(data_dir.keys)
    os.replace(stage / DATABASE, data_dir.db)
    os.chmod(data_dir.db, 0o600)
    _fsync_dir(data_dir.root)
    return restored, carried


def restore_backup(
    root: Path | str,
    source: Path | str,
    password: str,
    *,
    actor: str,
    force: bool = False,
    call_storage_path: str | None = None,
    progress: Progress | None = None,
) -> RestoreResult:
    """Restore ``source`` into the data directory ``root``; no engine may have it open.

    Wrong password, a damaged file or a too-new schema change nothing. With ``force`` an
    installation already there is moved aside first (never deleted). Afterwards the restored
    engine records the restore in its audit trail and reports whether the recordings' files
    are reachable from the restored call storage path.
    """
    data_dir = DataDir.resolve(root)
    source = Path(source)
    if not password:
        raise InvalidInput(msg("No backup password given."))
    if call_storage_path is not None:
        try:
            call_storage_path = str(SETTINGS["call_storage_path"].parse(call_storage_path))
        except ValueError as exc:
            raise InvalidInput(
                msg("--call-storage-path: {problem}.", problem=problem(exc))
            ) from None
    check_restore_target(data_dir.root, force)
    fh, key, header = _open_backup(source, password)
    lock: EngineLock | None = None
    stage: Path | None = None
    created = not data_dir.root.exists()
    placed = False
    try:
        size = os.fstat(fh.fileno()).st_size
        data_dir.root.mkdir(parents=True, exist_ok=True)
        lock = EngineLock(data_dir.lock)
        lock.acquire()
        stage = _staging(data_dir.root, "restore")
        manifest = _extract(fh, key, header, stage, size, progress)
        _check_database(stage / DATABASE, manifest)
        _refuse_in_use(data_dir.root, force)  # nothing appeared meanwhile
        moved, old_keys = _move_aside(data_dir, _now().strftime("%Y%m%dT%H%M%SZ"))
        restored, carried = _place(stage, data_dir, old_keys)
        placed = True
        result = RestoreResult(manifest, str(data_dir.root), restored, carried, moved)
        _after_restore(data_dir, source, result, actor, call_storage_path, progress)
    except BaseException:
        if created and not placed:  # leave no trace of a restore that did not happen
            shutil.rmtree(data_dir.root, ignore_errors=True)
            stage = None
        raise
    finally:
        fh.close()
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if lock is not None:
            lock.release()
    return result


def _after_restore(
    data_dir: DataDir,
    source: Path,
    result: RestoreResult,
    actor: str,
    call_storage_path: str | None,
    progress: Progress | None,
) -> None:
    """Open the restored installation: migrate, audit, and look for the recordings' files."""
    from mm_engine.audit import AuditAction
    from mm_engine.engine import Engine

    with Engine(data_dir.root) as engine:
        m = result.manifest
        engine.audit.record(
            None,
            actor,
            AuditAction.CONFIGURATION,
            {
                "op": "backup restore",
                "file": str(source),
                "backup_created_at": m.created_at,
                "backup_host": m.host,
                "mm_version": m.mm_version,
                "schema_version": m.schema_version,
                "moved_aside": result.moved_aside,
            },
        )
        if call_storage_path is not None:
            engine.config.set_unguarded("call_storage_path", call_storage_path)
            engine.audit.record(
                None,
                actor,
                AuditAction.CONFIGURATION,
                {"key": "call_storage_path", "value": call_storage_path, "op": "backup restore"},
            )
        store = engine.store()
        if isinstance(store, LocalStore):
            result.call_storage_path = str(store.root)
            result.call_storage_exists = store.root.is_dir()
        else:  # hosted (F19): what the restored configuration names, asked object by object
            result.call_storage_path = engine.primary.where()
            result.call_storage_exists = True
        paths = [str(r["path"]) for r in engine.db.query("SELECT path FROM recordings")]
        result.recordings = len(paths)
        if result.call_storage_exists:
            for done, rel in enumerate(paths, start=1):
                if store.stat(rel) is not None:
                    result.files_present += 1
                if progress is not None:
                    progress(done, len(paths))
        result.files_missing = len(paths) - result.files_present
        report = engine.audit.verify()
        result.audit_ok, result.audit_checked = report.ok, report.checked
        result.audit_problem = report.reason


def storage_advice(result: RestoreResult) -> str:
    """What to do when the restored recordings' files are not where the backup says."""
    if not result.recordings or result.files_missing == 0:
        return ""
    path = result.call_storage_path
    if not result.call_storage_exists:
        return msgn(
            "The call storage path {path} from the backup does not exist on this machine, so "
            "its {count} recording(s) can be searched but not played or verified. Mount the "
            "disk holding the recordings at {path}; or, if the recording tree is elsewhere on "
            "this machine, restore again with `--force --call-storage-path DIR` "
            "(`mm config set call_storage_path` is refused while recordings are catalogued, "
            "and `mm storage move` needs the old tree readable). Then check with "
            "`mm recordings verify --all`.",
            result.recordings,
            path=path,
        )
    return msg(
        "{missing} of {recordings} recording file(s) are missing from {path}; those can be "
        "searched but not played or verified. Mount the disk holding the recordings at "
        "{path}; or, if the recording tree is elsewhere on this machine, restore again with "
        "`--force --call-storage-path DIR` (`mm config set call_storage_path` is refused while "
        "recordings are catalogued, and `mm storage move` needs the old tree readable). Then "
        "check with `mm recordings verify --all`.",
        missing=result.files_missing,
        recordings=result.recordings,
        path=path,
    )
