"""The call storage (seed F9 "call storage type", F19): the one place recordings live.

``call_storage_type`` is ``local``, the tree at ``call_storage_path``, or the name of an S3, GCS
or Azure connector (bring your own storage). A connector rather than settings of its own: its
secrets are then sealed, masked, tested and edited in one place (`mm connectors`, the console's
connector forms), and `mm storage migrate --to NAME` names a storage the way archiving does.
That connector is not also the archive connector (the guards below refuse it: archiving onto
the library itself, then pruning the "archived" file, would lose it). Its "Encrypt recordings"
switch is for archive copies; a connector that encrypts cannot hold the call storage.

Ingest writes a hosted call storage through :class:`SpooledStore`: the Opus file is built in
the data directory's ``spool`` folder and uploaded whole on ``commit`` (retried on transient
errors by the connector's retry wrapper). When the upload fails, the recording's input stays
in the handover folder and one alarm says why (repeats count up); until a probe finds the
storage back, further inputs wait there without being encoded, and the first upload that
succeeds clears the alarm. Nothing is lost and nothing needs doing by hand.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.config import SETTINGS, Config, problem
from mm_engine.connectors import ACTIVE_KEY, Connectors, error_sentence, scrub, sentence
from mm_engine.db import Database
from mm_engine.errors import InvalidSetting, MMError, NotFound, Refused
from mm_engine.storage import registry
from mm_engine.storage.base import Accessibility, ObjectInfo, Store
from mm_engine.storage.local import TEMP_PREFIX, LocalStore
from mm_engine.text import Msg, msg, msgn

TYPE_KEY = "call_storage_type"
PATH_KEY = "call_storage_path"
LOCAL = "local"
HOSTED_KINDS = tuple(k for k in registry.PRIMARY_KINDS if k != LOCAL)
PROBE_SECONDS = 5.0  # while the hosted storage is down, how often ingest looks again
DOWN_DEDUPE = "primary:"


class PrimaryStore(Store, Protocol):
    """The call storage as ingest writes it: a file is built at ``temp_path`` and then
    ``commit`` makes it the object at ``path`` (LocalStore renames, SpooledStore uploads)."""

    def temp_path(self, path: str) -> Path: ...

    def commit(self, temp: Path, path: str) -> ObjectInfo: ...

    def remove_stale_temps(self) -> int: ...


class PrimaryUnavailable(MMError):
    """The hosted call storage did not take a recording; its input stays where it is."""


@dataclass(frozen=True)
class Location:
    """Where a whole library can live: the local tree at ``path``, or a hosted connector
    (``kind`` is then its storage type, empty when no connector has that name)."""

    kind: str
    path: str = ""
    connector: str = ""
    connector_id: int = 0

    @property
    def hosted(self) -> bool:
        return self.kind != LOCAL

    @property
    def label(self) -> str:
        """The path, or the connector's name (a connector name never holds a '/')."""
        return self.connector if self.hosted else self.path

    @property
    def spec(self) -> str:
        """As `mm storage migrate --to` takes it."""
        return self.connector if self.hosted else f"local:{self.path}"

    def same_place(self, other: Location) -> bool:
        if self.hosted != other.hosted:
            return False
        if self.hosted:
            return self.connector_id == other.connector_id
        mine, theirs = Path(self.path), Path(other.path)
        if mine.resolve() == theirs.resolve():
            return True
        # a bind mount (or another name for the same directory) shows only in the inode:
        # moving onto it and then cleaning up would delete the only copy of every file
        try:
            return os.path.samefile(mine, theirs)
        except OSError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Location:
        return cls(**{k: data[k] for k in ("kind", "path", "connector", "connector_id")})


def connector_problem(conn: sqlite3.Connection, name: str) -> tuple[sqlite3.Row | None, str]:
    """The connector row named ``name`` and, if it cannot hold the call storage, why not."""
    row = conn.execute(
        "SELECT id, name, kind, encrypt FROM connectors WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None, msg("no connector named '{name}'", name=name)
    if row["kind"] not in HOSTED_KINDS:
        return row, msg(
            "connector '{name}' is of type {kind}; the call storage is local or "
            "a connector of type {kinds}",
            name=row["name"],
            kind=row["kind"],
            kinds=", ".join(HOSTED_KINDS),
        )
    if row["encrypt"]:
        return row, msg(
            "connector '{name}' encrypts what it stores (for archive copies); the call "
            "storage keeps recordings as they are",
            name=row["name"],
        )
    active = conn.execute("SELECT value FROM config WHERE key = ?", (ACTIVE_KEY,)).fetchone()
    if active is not None and str(active[0]).lower() == str(row["name"]).lower():
        return row, msg(
            "connector '{name}' is the active archive connector; the library and its "
            "archive must be two places",
            name=row["name"],
        )
    return row, ""


HOSTED_HINT = msg(
    "Add one with `mm connectors add NAME --type s3|gcs|azure` (without encryption), and see "
    "`mm connectors list`."
)


class _Health:
    """Whether the hosted call storage took the last upload, shared by every SpooledStore."""

    def __init__(self, alarms: Alarms, clock: Callable[[], float] = time.monotonic) -> None:
        self.alarms = alarms
        self.clock = clock
        self.reason: str | None = None
        self.probed_at = 0.0
        self.alarm_checked = False  # an alarm from before a restart is cleared on success
        self._lock = threading.Lock()

    def down(self, reason: str, path: str, where: str) -> None:
        with self._lock:
            self.reason, self.probed_at = reason, self.clock()
        self.alarms.raise_(
            AlarmType.FILE_ERROR,
            "copy",
            dedupe=DOWN_DEDUPE,
            file1=path,
            file2=where,
            reason=reason,
        )

    def up(self) -> None:
        with self._lock:
            was = self.reason is not None or not self.alarm_checked
            self.reason, self.alarm_checked = None, True
        if was:
            self.alarms.clear(AlarmType.FILE_ERROR, "copy", dedupe=DOWN_DEDUPE)

    def waiting(self, probe: Callable[[], str | None]) -> str | None:
        """None when uploads may be tried; else why not (``probe`` looks again, at most every
        PROBE_SECONDS, and returns None when the storage answers)."""
        with self._lock:
            if self.reason is None:
                return None
            if self.clock() - self.probed_at < PROBE_SECONDS:
                return self.reason
            self.probed_at = self.clock()
        found = probe()
        if found is not None:
            with self._lock:
                self.reason = found
        return found


class SpooledStore:
    """A hosted call storage as ingest writes to it; everything else goes to the backend."""

    def __init__(
        self,
        opener: Callable[[], Store],
        spool: Path,
        health: _Health,
        where: str,
        redact: Callable[[str], str],
        name: str,
    ) -> None:
        self._opener = opener
        self._inner: Store | None = None
        self._lock = threading.Lock()
        self.spool = spool
        self.health = health
        self.where = where
        self.redact = redact
        self.name = name

    @property
    def inner(self) -> Store:
        with self._lock:
            if self._inner is None:
                self._inner = self._opener()
            return self._inner

    # -- staging for ingest ---------------------------------------------------------------------
    def temp_path(self, path: str) -> Path:
        rel = Path(path)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"storage path must be relative and inside the store: {path!r}")
        self.spool.mkdir(parents=True, exist_ok=True)
        return self.spool / f"{TEMP_PREFIX}{uuid.uuid4().hex}-{rel.name}"

    def commit(self, temp: Path, path: str) -> ObjectInfo:
        """Upload ``temp`` as ``path`` and remove it; PrimaryUnavailable (with the alarm
        raised) when the storage does not take it."""
        try:
            store = self.inner
            with open(temp, "rb") as fh:
                info = store.put(path, fh, temp.stat().st_size)
        except Exception as exc:
            reason = self._why(exc)
            self.health.down(reason, path, self.where)
            raise PrimaryUnavailable(
                msg("Recording {path} could not be stored: {reason}", path=path, reason=reason),
                msg("Its input stays in the handover folder and is ingested again by itself."),
            ) from None
        finally:
            temp.unlink(missing_ok=True)
        self.health.up()
        return info

    def waiting(self) -> str | None:
        """Why an upload would fail now (the last failure, until a probe finds it back)."""
        return self.health.waiting(self._probe)

    def _probe(self) -> str | None:
        try:
            state = self.inner.test()
        except Exception as exc:
            return self._why(exc)
        return None if state is Accessibility.OK else sentence(self.name, state)

    def _why(self, exc: BaseException) -> str:
        if isinstance(exc, MMError):  # the connector is gone, or its secret cannot be opened
            return exc.message if not exc.hint else str(exc)
        detail = self.redact(error_sentence(exc))
        try:
            state = self.inner.test()
        except Exception:
            state = Accessibility.UNREACHABLE
        if state is Accessibility.OK:
            state = Accessibility.UNREACHABLE  # it answers a probe but failed the upload
        return sentence(self.name, state, detail)

    def remove_stale_temps(self) -> int:
        """Delete spool files left by a crash mid-ingest; returns how many."""
        if not self.spool.is_dir():
            return 0
        stale = list(self.spool.glob(f"{TEMP_PREFIX}*"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    # -- the Store interface --------------------------------------------------------------------
    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        return self.inner.put(path, stream, size)

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return self.inner.open(path, offset, length)

    def stat(self, path: str) -> ObjectInfo | None:
        return self.inner.stat(path)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def remove(self, path: str) -> None:
        self.inner.remove(path)

    def test(self) -> Accessibility:
        try:
            return self.inner.test()
        except NotFound:
            return Accessibility.MISCONFIGURED

    def free_space(self) -> int | None:
        return None  # hosted storage does not fill up: nothing is pruned for space

    def is_permanent_error(self, exc: BaseException) -> bool:
        return self.inner.is_permanent_error(exc)


def waiting(store: Store) -> str | None:
    """Why ingest should leave its input in the handover folder for now (None: go ahead)."""
    return store.waiting() if isinstance(store, SpooledStore) else None


class PrimaryStorage:
    """Which storage is the call storage, and a Store for it. Unchecked (Session checks)."""

    def __init__(
        self,
        db: Database,
        config: Config,
        connectors: Connectors,
        alarms: Alarms,
        spool: Path,
    ) -> None:
        self.db = db
        self.config = config
        self.connectors = connectors
        self.spool = spool
        self._health = _Health(alarms)
        self._cached: tuple[tuple[int, str], SpooledStore] | None = None
        self._lock = threading.Lock()

    # -- where --------------------------------------------------------------------------------
    def location(self) -> Location:
        value = str(self.config.get(TYPE_KEY))
        if value == LOCAL:
            return Location(LOCAL, path=str(self.config.path(PATH_KEY)))
        row = self.db.query_one("SELECT id, name, kind FROM connectors WHERE name = ?", (value,))
        if row is None:
            return Location("", connector=value)
        return Location(row["kind"], connector=row["name"], connector_id=row["id"])

    def local_store(self) -> LocalStore:
        """The tree at ``call_storage_path`` (the call storage when the type is local)."""
        return LocalStore(self.config.path(PATH_KEY))

    def where(self, loc: Location | None = None) -> str:
        """For people and listings: the path, or the bucket/container URL of the connector."""
        loc = loc or self.location()
        if not loc.hosted:
            return loc.path
        try:
            s = self.connectors.get(loc.connector).settings
        except NotFound:
            return msg("{name} (no such connector)", name=loc.connector)
        folder = s.get("folder", "").strip("/")
        if loc.kind == "azure":
            base = f"azure://{s.get('account', '')}/{s.get('container', '')}"
        else:
            base = f"{'gs' if loc.kind == 'gcs' else loc.kind}://{s.get('bucket', '')}"
        return f"{base}/{folder}" if folder else base

    def describe(self, loc: Location | None = None) -> str:
        loc = loc or self.location()
        if not loc.hosted:
            return msg("the local disk at {path}", path=loc.path)
        if not loc.kind:
            return msg(
                "connector '{name}' (missing, {where})", name=loc.connector, where=self.where(loc)
            )
        return msg(
            "connector '{name}' ({title}, {where})",
            name=loc.connector,
            title=Msg(registry.title(loc.kind)),
            where=self.where(loc),
        )

    # -- stores -------------------------------------------------------------------------------
    def store(self) -> PrimaryStore:
        """The call storage as configured now. Never raises for a hosted one: a connector that
        cannot be opened fails its first use (and ingest then leaves its input waiting)."""
        loc = self.location()
        if not loc.hosted:
            return LocalStore(Path(loc.path))
        row = self.db.query_one(
            "SELECT updated_at FROM connectors WHERE id = ?", (loc.connector_id,)
        )
        key = (loc.connector_id, row["updated_at"] if row is not None else loc.connector)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        store = SpooledStore(
            lambda: self._open_hosted(loc),
            self.spool,
            self._health,
            self.where(loc),
            self._redactor(loc),
            loc.connector,
        )
        with self._lock:
            self._cached = (key, store)
        return store

    def open_location(self, loc: Location) -> Store:
        """A Store for any place a library can live (a migration's source and target)."""
        if not loc.hosted:
            return LocalStore(Path(loc.path))
        return self._open_hosted(loc)

    def _open_hosted(self, loc: Location) -> Store:
        if not loc.connector_id:
            raise NotFound(
                msg(
                    "The call storage is set to connector '{name}', which does not exist.",
                    name=loc.connector,
                ),
                msg(
                    "Add it again, or point `{key}` elsewhere. {hint}",
                    key=TYPE_KEY,
                    hint=HOSTED_HINT,
                ),
            )
        # plain: the connector's encryption is for archive copies (refused for the call storage)
        return self.connectors.build_store(loc.connector_id, False)

    def _redactor(self, loc: Location) -> Callable[[str], str]:
        def redact(text: str) -> str:
            try:
                secrets = self.connectors.secrets_of(loc.connector_id)
            except MMError:
                return text
            return scrub(text, secrets)

        return redact

    # -- choosing a storage ---------------------------------------------------------------------
    def resolve(self, text: str) -> Location:
        """A place named as `mm storage migrate --to` takes it: ``local`` (the configured
        call storage path), ``local:PATH``, or the name of a hosted connector."""
        text = text.strip()
        if text.lower() == LOCAL:
            return Location(LOCAL, path=str(self.config.path(PATH_KEY)))
        if text.lower().startswith(f"{LOCAL}:"):
            try:
                path = SETTINGS[PATH_KEY].parse(text[len(LOCAL) + 1 :])
            except ValueError as exc:
                raise InvalidSetting(PATH_KEY, problem(exc)) from None
            return Location(LOCAL, path=str(path))
        with self.db.read() as conn:
            row, why = connector_problem(conn, text)
        if row is None:
            raise NotFound(
                msg("No connector named '{name}'.", name=text),
                msg(
                    "Give local:PATH for a local disk, or a connector's name. {hint}",
                    hint=HOSTED_HINT,
                ),
            )
        if why:
            raise Refused(
                msg(
                    "Connector '{name}' cannot hold the call storage: {problem}.",
                    name=row["name"],
                    problem=why,
                ),
                HOSTED_HINT,
            )
        return Location(row["kind"], connector=row["name"], connector_id=row["id"])

    # -- configuration guards -------------------------------------------------------------------
    def guard_type(self, conn: sqlite3.Connection, key: str, old: Any, new: Any) -> None:
        """``call_storage_type`` names a connector that may hold the library, and does not
        change under existing recordings (that is what `mm storage migrate` is for)."""
        if str(old).lower() == str(new).lower():
            return
        if new != LOCAL:
            _row, why = connector_problem(conn, str(new))
            if why:
                raise InvalidSetting(key, why, HOSTED_HINT)
        held = conn.execute("SELECT count(*) FROM recordings WHERE local_present = 1").fetchone()
        gone = (
            old != LOCAL
            and conn.execute("SELECT 1 FROM connectors WHERE name = ?", (old,)).fetchone() is None
        )
        count = int(held[0])
        if count and not gone:  # a connector renamed or removed: naming the right one repairs
            target = str(new) if new != LOCAL else f"local:{self.config.path(PATH_KEY)}"
            raise Refused(
                msgn(
                    "{count} recordings are stored in {old}; pointing {key} elsewhere would make "
                    "them unreachable.",
                    count,
                    old=old,
                    key=key,
                ),
                msg(
                    "Migrate them instead with `mm storage migrate --to {target}`: it copies and "
                    "verifies every recording, then switches the setting, and can be re-run if "
                    "interrupted.",
                    target=target,
                ),
            )

    def guard_active(self, conn: sqlite3.Connection, key: str, old: Any, new: Any) -> None:
        """The archive connector is never the connector holding the call storage."""
        row = conn.execute("SELECT value FROM config WHERE key = ?", (TYPE_KEY,)).fetchone()
        if new and row is not None and str(row[0]).lower() == str(new).lower():
            raise Refused(
                msg(
                    "Connector '{name}' holds the call storage; archiving onto it would copy "
                    "every recording onto itself.",
                    name=new,
                ),
                msg("Archive to another connector."),
            )
