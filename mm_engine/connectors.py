"""Archive connectors (seed F14-F22): where archive copies go, and how to reach them again.

A connector is a named storage type plus its settings (the fields its backend declares in
``storage/<kind>.py``). Secret fields are sealed at rest with the installation's SecretBox and
are never shown back in full, logged or put into an alarm. Which connector is active is the
``active_connector`` setting (one truth: ``mm config set active_connector`` and
:meth:`Connectors.activate` are the same change); every archive copy records its connector, so
copies on a connector that is no longer active stay readable.

With "Encrypt recordings" on (F15; it can never be switched off again) new copies go through
:class:`~mm_engine.storage.crypt_store.CryptStore` with the connector's archive key from
``keys/``, which ``mm decrypt`` also reads.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from mm_engine.alarms import Alarms, AlarmType
from mm_engine.config import Config
from mm_engine.db import Database
from mm_engine.dvd.disc import DiscNeeded
from mm_engine.errors import InvalidInput, InvalidSetting, MMError, NotFound, Refused
from mm_engine.secrets import SecretError, is_sealed
from mm_engine.storage import registry
from mm_engine.storage.archive_keys import ArchiveKeys
from mm_engine.storage.base import Accessibility, Store
from mm_engine.storage.crypt_store import CryptStore
from mm_engine.storage.fields import Field, mask, validate
from mm_engine.storage.progress import OnBytes, ProgressStore
from mm_engine.storage.retry import RetryStore
from mm_engine.text import N_, Msg, msg, msgn, said_again, to_data

if TYPE_CHECKING:
    from mm_engine.storage.gdrive_auth import DeviceCode

log = logging.getLogger(__name__)

ACTIVE_KEY = "active_connector"
NAME = re.compile(r"^\w[\w .@()+-]{0,63}$")
NAME_RULE = N_("1-64 letters, digits, spaces or . _ @ ( ) + -, starting with a letter or digit")

REASONS: dict[Accessibility, str] = {
    Accessibility.UNREACHABLE: N_(
        "it cannot be reached; check its address, the network and that the server is running"
    ),
    Accessibility.DENIED: N_(
        "it refused access; check its user name, password or key, and that they may read, "
        "write, list and delete there"
    ),
    Accessibility.MISCONFIGURED: N_(
        "it is misconfigured; check its settings (bucket, container, share or folder name)"
    ),
}


class _Clause(Msg):
    """A sentence said inside another one's parentheses: the English loses its full stop, a
    front end still translates the sentence (the translation keeps its own stop)."""

    def __new__(cls, sentence: Msg) -> _Clause:
        self = str.__new__(cls, sentence.rstrip("."))
        vars(self).update(vars(sentence))  # its template, params and count
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Clause, (_remade(self, _own_params(self)),))


def _own_params(text: Msg) -> dict[str, Any]:
    """``text``'s params without the count that :class:`Msg` adds to them itself."""
    return {k: v for k, v in text.params.items() if not (k == "count" and v == text.n)}


def _remade(text: Msg, params: dict[str, Any]) -> Msg:
    """``text``'s sentence (template and count) with ``params``."""
    return Msg(text.template, text.n, **params)


def _clause(detail: str) -> str:
    """``detail`` without its closing full stop, to be said in parentheses."""
    if not detail.endswith("."):
        return detail
    return _Clause(detail) if isinstance(detail, Msg) else detail.rstrip(".")


def sentence(name: str, state: Accessibility, detail: str = "") -> str:
    """What a test found, for people: "Connector NAS is accessible." or why it is not."""
    if state is Accessibility.OK:
        if detail:
            return msg(
                "Connector {name} is accessible ({detail}).", name=name, detail=_clause(detail)
            )
        return msg("Connector {name} is accessible.", name=name)
    reason = Msg(REASONS[state])
    if detail:
        return msg(
            "Connector {name} is not accessible: {reason} ({detail}).",
            name=name,
            reason=reason,
            detail=_clause(detail),
        )
    return msg("Connector {name} is not accessible: {reason}.", name=name, reason=reason)


def error_sentence(exc: BaseException) -> str:
    """What an error says, as a sentence a front end can translate when the engine built it
    with msg(); the class name when it says nothing."""
    said: str = exc.message if isinstance(exc, MMError) and not exc.hint else str(exc)
    if len(exc.args) == 1 and isinstance(exc.args[0], Msg) and not isinstance(exc, MMError):
        said = exc.args[0]
    return said or type(exc).__name__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def alarm_dedupe(connector_id: int) -> str:
    """The ARCHIVE_ERROR dedupe key of one connector; the trailing ':' keeps 1 apart from 10
    when alarms are cleared by prefix."""
    return f"connector:{connector_id}:"


@dataclass(frozen=True)
class KindInfo:
    kind: str
    title: str
    fields: tuple[Field, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "title": self.title,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "help": f.help,
                    "secret": f.secret,
                    "required": f.required and not f.default,
                    "default": f.default,
                    "choices": list(f.choices),
                    "multiline": f.multiline,
                }
                for f in self.fields
            ],
        }


@dataclass(frozen=True)
class ConnectorInfo:
    """A connector as people see it: secrets in ``settings`` are masked."""

    id: int
    name: str
    kind: str
    settings: dict[str, str]
    encrypt: bool
    key_id: str | None
    active: bool
    created_at: str
    updated_at: str
    archived_count: int
    last_archived_at: str | None
    last_test_at: str | None
    accessibility: str | None
    last_test_message: str
    pending: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "active": self.active,
            "accessible": self.accessibility,
            "last_test_at": self.last_test_at,
            "last_test_message": self.last_test_message,
            "pending": self.pending,
            "archived": self.archived_count,
            "last_archived_at": self.last_archived_at,
            "encrypt": self.encrypt,
            "key_id": self.key_id,
            "settings": dict(self.settings),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class TestResult:
    name: str
    accessibility: Accessibility
    message: str
    at: str

    @property
    def ok(self) -> bool:
        return self.accessibility is Accessibility.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accessible": self.accessibility.value,
            "ok": self.ok,
            "message": self.message,
            "tested_at": self.at,
        }


@dataclass
class _Cached:
    stamp: str
    store: Store = field(repr=False)


def _kind_fields(kind: str) -> tuple[Field, ...]:
    try:
        return registry.fields(kind)
    except ModuleNotFoundError:
        raise InvalidSetting(
            "type", msg("storage type {kind!r} is not available in this installation", kind=kind)
        ) from None


def available_kinds() -> list[KindInfo]:
    """The storage types a connector can have here (a backend missing from the build is left
    out rather than offered and then failing)."""
    out = []
    for kind in registry.kinds():
        try:
            out.append(KindInfo(kind, registry.title(kind), registry.fields(kind)))
        except ModuleNotFoundError:
            continue
    return out


def _said(stored: str | None, english: str) -> str:
    """A stored last-test sentence: translatable again when it was stored as one."""
    try:
        return said_again(json.loads(stored) if stored else None, english)
    except ValueError:  # damaged: the English is still right
        return english


def scrub(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with every secret value masked: backend errors may quote a URL with a token.
    A msg() sentence stays one (its values are masked), so a front end can still translate it."""
    values = [v for v in secrets.values() if len(v) >= 4]
    if not any(v in text for v in values):
        return text
    if isinstance(text, Msg) and not isinstance(text, _Clause):
        params = {
            k: scrub(str(v) if isinstance(v, BaseException) else v, secrets)
            if isinstance(v, str | BaseException) and any(s in str(v) for s in values)
            else v
            for k, v in _own_params(text).items()
        }
        masked = _remade(text, params)
        if not any(v in masked for v in values):
            return masked
    for value in values:
        text = text.replace(value, mask(value))
    return text


def device_url_for(token_url: str) -> str:
    """Google's device-code endpoint sits beside its token endpoint (``…/token`` ->
    ``…/device/code``); a token address of another shape falls back to Google's."""
    from mm_engine.storage import gdrive_auth

    base, _, last = token_url.rstrip("/").rpartition("/")
    return f"{base}/device/code" if last == "token" and base else gdrive_auth.DEVICE_URL


class SignInCancelled(MMError):
    title = N_("Sign-in cancelled")


class DriveSignIn:
    """A Google sign-in under way (OAuth device flow, storage/gdrive_auth.py): show
    ``verification_url`` and ``user_code``, then :meth:`wait` for the refresh token. The client
    secret stays in here. :meth:`check_now` and :meth:`cancel` may be called from any thread."""

    def __init__(
        self, client_id: str, client_secret: str, token_url: str, code: DeviceCode
    ) -> None:
        self._client = (client_id, client_secret, token_url)
        self._code = code
        self._wake = threading.Event()
        self._cancelled = False
        self.verification_url = code.verification_url
        self.user_code = code.user_code
        self.expires_in = code.expires_in

    def wait(self) -> str:
        """Poll Google at the interval it asked for until the person approves; the refresh
        token, or OAuthError (declined, expired, unreachable) or SignInCancelled."""
        from mm_engine.storage.gdrive_auth import poll_device_flow

        def sleep(seconds: float) -> None:
            self._wake.wait(seconds)
            self._wake.clear()
            if self._cancelled:
                raise SignInCancelled(msg("The Google sign-in was cancelled; nothing was stored."))

        client_id, client_secret, token_url = self._client
        return poll_device_flow(
            client_id,
            client_secret,
            self._code.device_code,
            self._code.interval,
            token_url=token_url,
            sleep=sleep,
            deadline=time.monotonic() + self.expires_in,
        )

    def check_now(self) -> None:
        """Ask Google now rather than at the next interval (the person says they approved)."""
        self._wake.set()

    def cancel(self) -> None:
        self._cancelled = True
        self._wake.set()


class DiscDrives(Protocol):
    """The ``dvd`` connectors' drives (mm_engine/dvd/archive.py): one shared store per
    connector, and which disc must be in the drive to read a copy."""

    def store(self, connector_id: int, name: str, settings: Mapping[str, str]) -> Store: ...

    def require_disc(self, recording_id: int, connector: str, volume_id: str) -> None: ...


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise InvalidInput(
            msg("Connector name {name!r} is not valid.", name=name),
            msg("Use {rule}.", rule=Msg(NAME_RULE)),
        )
    return name


class Connectors:
    """Connector records and the stores they open. Unchecked: :class:`Session` checks rights."""

    def __init__(self, db: Database, config: Config, alarms: Alarms, keys_dir: Path) -> None:
        self.db = db
        self.config = config
        self.alarms = alarms
        self.secrets = config.secrets
        self.keys = ArchiveKeys(keys_dir)
        self._stores: dict[tuple[int, bool], _Cached] = {}
        self._lock = threading.Lock()
        self.dvd: DiscDrives | None = None  # set by the engine

    # -- settings at rest ---------------------------------------------------------------------
    def _seal(self, connector_id: int, kind: str, clean: Mapping[str, str]) -> str:
        secret = {f.name for f in _kind_fields(kind) if f.secret}
        stored = {
            k: (self.secrets.seal(v, f"connector:{connector_id}:{k}") if k in secret and v else v)
            for k, v in clean.items()
        }
        return json.dumps(stored, sort_keys=True)

    def _open_settings(self, row: sqlite3.Row) -> dict[str, str]:
        stored: dict[str, str] = json.loads(row["settings"])
        secret = {f.name for f in _kind_fields(row["kind"]) if f.secret}
        out = {}
        for k, v in stored.items():
            if k in secret and is_sealed(v):
                try:
                    v = self.secrets.open(v, f"connector:{row['id']}:{k}")
                except SecretError as exc:
                    raise SecretError(
                        exc.message,
                        msg(
                            "{hint} To set it again: `mm connectors edit {name!r} --secret {key}`.",
                            hint=exc.hint,
                            name=row["name"],
                            key=k,
                        ),
                    ) from None
            out[k] = v
        return out

    @staticmethod
    def _masked(row: sqlite3.Row) -> dict[str, str]:
        stored: dict[str, str] = json.loads(row["settings"])
        secret = {f.name for f in _kind_fields(row["kind"]) if f.secret}
        # a sealed value's mask would show the token's ends, not the secret's: show stars only
        return {k: ("••••" if v else "") if k in secret else v for k, v in stored.items()}

    @staticmethod
    def _secret_fields(kind: str) -> set[str]:
        return {f.name for f in _kind_fields(kind) if f.secret}

    def _secret_values(self, row: sqlite3.Row) -> dict[str, str]:
        secret = {f.name for f in _kind_fields(row["kind"]) if f.secret}
        try:
            opened = self._open_settings(row)
        except MMError:
            return {}
        return {k: v for k, v in opened.items() if k in secret}

    # -- reading ------------------------------------------------------------------------------
    def active_name(self) -> str:
        return str(self.config.get(ACTIVE_KEY))

    def _row(self, name: str) -> sqlite3.Row:
        row = self.db.query_one("SELECT * FROM connectors WHERE name = ?", (name.strip(),))
        if row is None:
            raise NotFound(
                msg("No connector named {name!r}.", name=name),
                msg("`mm connectors list` shows the connectors."),
            )
        return row

    def _row_by_id(self, connector_id: int) -> sqlite3.Row:
        row = self.db.query_one("SELECT * FROM connectors WHERE id = ?", (connector_id,))
        if row is None:
            raise NotFound(msg("No connector with id {connector_id}.", connector_id=connector_id))
        return row

    def pending_count(self, connector_id: int) -> int:
        """Recordings with no copy on the connector: every recording has at most one copy per
        connector (the primary key) and copies go with their recording (the foreign key), so
        this is a difference of two counts rather than a walk of the catalogue."""
        row = self.db.query_one(
            "SELECT (SELECT count(*) FROM recordings)"
            " - (SELECT count(*) FROM archive_copies WHERE connector_id = ?)",
            (connector_id,),
        )
        assert row is not None
        return int(row[0])

    def _info(self, row: sqlite3.Row, active: str) -> ConnectorInfo:
        is_active = bool(active) and row["name"].lower() == active.lower()
        return ConnectorInfo(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            settings=self._masked(row),
            encrypt=bool(row["encrypt"]),
            key_id=row["key_id"],
            active=is_active,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            archived_count=row["archived_count"],
            last_archived_at=row["last_archived_at"],
            last_test_at=row["last_test_at"],
            accessibility=row["last_test_result"],
            last_test_message=_said(row["last_test_said"], row["last_test_message"]),
            # only the active connector has work waiting; the others receive nothing
            pending=self.pending_count(row["id"]) if is_active else 0,
        )

    def get(self, name: str) -> ConnectorInfo:
        return self._info(self._row(name), self.active_name())

    def list(self) -> list[ConnectorInfo]:
        active = self.active_name()
        rows = self.db.query("SELECT * FROM connectors ORDER BY name")
        return [self._info(r, active) for r in rows]

    def active(self) -> ConnectorInfo | None:
        name = self.active_name()
        if not name:
            return None
        row = self.db.query_one("SELECT * FROM connectors WHERE name = ?", (name,))
        return self._info(row, name) if row is not None else None

    # -- changing -----------------------------------------------------------------------------
    def add(
        self, name: str, kind: str, settings: Mapping[str, str], encrypt: bool = False
    ) -> ConnectorInfo:
        name = check_name(name)
        clean = validate(_kind_fields(kind), settings)
        if self.db.query_one("SELECT 1 FROM connectors WHERE name = ?", (name,)):
            raise Refused(
                msg("A connector named {name!r} exists already.", name=name),
                msg("Choose another name, or change that one with `mm connectors edit`."),
            )
        key_id = self.keys.create().key_id_hex if encrypt else None
        now = _now()

        def insert(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM connectors WHERE name = ?", (name,)).fetchone():
                raise Refused(
                    msg("A connector named {name!r} exists already.", name=name),
                    msg("Choose another name, or change that one with `mm connectors edit`."),
                )
            cur = conn.execute(
                "INSERT INTO connectors (name, kind, encrypt, key_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, kind, int(encrypt), key_id, now, now),
            )
            new_id = int(cur.lastrowid or 0)
            conn.execute(
                "UPDATE connectors SET settings = ? WHERE id = ?",
                (self._seal(new_id, kind, clean), new_id),
            )
            return new_id

        self.db.write(insert)
        log.info("connector %s (%s) added", name, kind)
        return self.get(name)

    def edit(
        self,
        name: str,
        settings: Mapping[str, str] | None = None,
        *,
        new_name: str | None = None,
        encrypt: bool | None = None,
    ) -> ConnectorInfo:
        """Change settings (only the fields given), the name, or switch encryption on."""
        row = self._row(name)
        changes = dict(settings or {})
        if encrypt is False and row["encrypt"]:
            raise Refused(
                msg(
                    "Encryption cannot be switched off on connector {name!r}: once on, it "
                    "stays on (the copies there are encrypted and need their key).",
                    name=row["name"],
                ),
                msg("To archive without encryption, add a new connector and activate it."),
            )
        renamed = check_name(new_name) if new_name is not None else row["name"]
        clean: dict[str, str] | None = None
        if changes:
            stored: dict[str, str] = json.loads(row["settings"])
            secret = {f.name for f in _kind_fields(row["kind"]) if f.secret}
            unchanged_secrets = {k for k in stored if k in secret and k not in changes}
            current = {k: v for k, v in stored.items() if k not in unchanged_secrets}
            if unchanged_secrets:
                opened = self._open_settings(row)
                current.update({k: opened[k] for k in unchanged_secrets})
            current.update(changes)
            clean = validate(_kind_fields(row["kind"]), current)
        switch_on = bool(encrypt) and not row["encrypt"]
        key_id = self.keys.create().key_id_hex if switch_on else row["key_id"]
        old_name = row["name"]

        def apply(conn: sqlite3.Connection) -> None:
            if (
                renamed.lower() != old_name.lower()
                and conn.execute(
                    "SELECT 1 FROM connectors WHERE name = ? AND id != ?", (renamed, row["id"])
                ).fetchone()
            ):
                raise Refused(msg("A connector named {name!r} exists already.", name=renamed))
            sealed = self._seal(row["id"], row["kind"], clean) if clean is not None else None
            conn.execute(
                "UPDATE connectors SET name = ?, settings = COALESCE(?, settings),"
                " encrypt = MAX(encrypt, ?), key_id = ?, updated_at = ? WHERE id = ?",
                (renamed, sealed, int(bool(encrypt)), key_id, _now(), row["id"]),
            )
            if renamed != old_name:
                # the active connector is named in the configuration: follow the rename there
                conn.execute(
                    "UPDATE config SET value = ?, updated_at = ?"
                    " WHERE key = ? AND value = ? COLLATE NOCASE",
                    (renamed, _now(), ACTIVE_KEY, old_name),
                )

        self.db.write(apply)
        self._forget(row["id"])
        return self.get(renamed)

    def remove(self, name: str) -> None:
        """F14: a connector that has archived anything cannot be deleted."""
        row = self._row(name)

        def apply(conn: sqlite3.Connection) -> None:
            fresh = conn.execute(
                "SELECT archived_count FROM connectors WHERE id = ?", (row["id"],)
            ).fetchone()
            if fresh is None:
                raise NotFound(msg("No connector named {name!r}.", name=name))
            if fresh[0]:
                raise Refused(
                    msgn(
                        "Connector {name!r} cannot be deleted: it has archived "
                        "{count} recording(s), and those copies must stay reachable.",
                        fresh[0],
                        name=row["name"],
                    ),
                    msg(
                        "Activate another connector instead; this one then only serves the "
                        "copies it holds."
                    ),
                )
            conn.execute(
                "UPDATE config SET value = '', updated_at = ?"
                " WHERE key = ? AND value = ? COLLATE NOCASE",
                (_now(), ACTIVE_KEY, row["name"]),
            )
            conn.execute("DELETE FROM connectors WHERE id = ?", (row["id"],))

        self.db.write(apply)
        self._forget(row["id"])
        self.alarms.clear(AlarmType.ARCHIVE_ERROR, dedupe=alarm_dedupe(row["id"]))

    def activate(self, name: str) -> ConnectorInfo:
        """Make ``name`` the connector new archives go to; the old one keeps its copies."""
        row = self._row(name)
        self.config.set(ACTIVE_KEY, row["name"])
        return self.get(row["name"])

    def deactivate(self) -> None:
        """No connector: archiving stops (copies already made stay readable)."""
        self.config.set(ACTIVE_KEY, "")

    def guard_active(self, conn: sqlite3.Connection, key: str, old: Any, new: Any) -> None:
        """Config guard: ``active_connector`` names an existing connector or nothing."""
        if new and not conn.execute("SELECT 1 FROM connectors WHERE name = ?", (new,)).fetchone():
            raise InvalidSetting(
                key,
                msg("no connector named '{name}'", name=new),
                msg("`mm connectors list` shows the connectors; add one with `mm connectors add`."),
            )

    # -- testing ------------------------------------------------------------------------------
    def _probe(self, name: str, kind: str, settings: Mapping[str, str]) -> TestResult:
        detail = ""
        try:
            store = registry.open_store(kind, settings, name)
            diagnose = getattr(store, "diagnose", None)
            if callable(diagnose):  # smb, gcs, azure, dvd say in words what they found
                state, detail = diagnose()
            else:
                state = store.test()
        except InvalidSetting:
            raise
        except Exception as exc:  # a backend failing to even start is "cannot be reached"
            detail = error_sentence(exc)
            state = Accessibility.UNREACHABLE
        secrets = {k: v for k, v in settings.items() if k in self._secret_fields(kind)}
        return TestResult(name, state, sentence(name, state, scrub(detail, secrets)), _now())

    def test_settings(self, name: str, kind: str, settings: Mapping[str, str]) -> TestResult:
        """Test settings before saving them (the console's "test connection" in a form)."""
        return self._probe(name, kind, validate(_kind_fields(kind), settings))

    def test_changes(self, name: str, changes: Mapping[str, str]) -> TestResult:
        """Test a saved connector as it would be with ``changes``, before saving them (an edit
        form's "test connection": secrets not typed again are the saved ones). Not remembered."""
        row = self._row(name)
        current = self._open_settings(row)
        current.update(changes)
        return self._probe(row["name"], row["kind"], validate(_kind_fields(row["kind"]), current))

    # -- Google Drive sign-in -----------------------------------------------------------------
    def start_sign_in(self, settings: Mapping[str, str], name: str | None = None) -> DriveSignIn:
        """Start the OAuth device flow with the OAuth client in ``settings`` (a form's values);
        what they leave empty comes from the saved connector ``name``, whose client secret a
        form never shows. Nothing is stored: :meth:`authorize` (or adding the connector with
        the token) does that."""
        from mm_engine.storage import gdrive, gdrive_auth

        values: dict[str, str] = {}
        if name:
            row = self._row(name)
            if row["kind"] != gdrive.KIND:
                raise Refused(
                    msg(
                        "Connector {name!r} is not a Google Drive connector; only those "
                        "sign in with a Google account.",
                        name=row["name"],
                    )
                )
            values = self._open_settings(row)
        values.update({k: v.strip() for k, v in settings.items() if v and v.strip()})
        fields = {f.name: f for f in gdrive.FIELDS}
        for key in ("client_id", "client_secret"):
            if not values.get(key):
                raise InvalidSetting(
                    key,
                    msg("{label} is needed to sign in with Google", label=Msg(fields[key].label)),
                    Msg(fields[key].help),
                )
        token_url = values.get("token_url") or gdrive_auth.TOKEN_URL
        check = fields["token_url"].check
        if check is not None and (problem := check(token_url)):
            raise InvalidSetting(
                "token_url",
                msg("{label} {problem}", label=Msg(fields["token_url"].label), problem=problem),
            )
        code = gdrive_auth.start_device_flow(
            values["client_id"], device_url=device_url_for(token_url)
        )
        return DriveSignIn(values["client_id"], values["client_secret"], token_url, code)

    def authorize(self, name: str, refresh_token: str) -> ConnectorInfo:
        """Store a Google Drive connector's new authorization (sealed, as every secret)."""
        row = self._row(name)
        if row["kind"] != "gdrive":
            raise Refused(
                msg("Connector {name!r} is not a Google Drive connector.", name=row["name"])
            )
        if not refresh_token.strip():
            raise InvalidSetting("refresh_token", msg("the authorization is empty"))
        return self.edit(row["name"], {"refresh_token": refresh_token.strip()})

    def test(self, name: str) -> TestResult:
        """How the connector is now; remembered for the list's "accessible" column."""
        row = self._row(name)
        result = self._probe(row["name"], row["kind"], self._open_settings(row))
        self.record_test(row["id"], result)
        if result.ok:
            self.alarms.clear(AlarmType.ARCHIVE_ERROR, dedupe=alarm_dedupe(row["id"]))
        return result

    def record_test(self, connector_id: int, result: TestResult) -> None:
        self.db.execute_write(
            "UPDATE connectors SET last_test_at = ?, last_test_result = ?, last_test_message = ?,"
            " last_test_said = ? WHERE id = ?",
            (
                result.at,
                result.accessibility.value,
                result.message,
                json.dumps(to_data(result.message)),
                connector_id,
            ),
        )

    # -- stores -------------------------------------------------------------------------------
    def build_store(
        self,
        connector_id: int,
        encrypted: bool,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_bytes: OnBytes | None = None,
    ) -> Store:
        """The connector's store as archiving uses it: retry outside, then crypt (for encrypted
        copies), then progress, then the backend. Retry sits outside crypt so a retried put
        re-encrypts from the start of the recording rather than resuming a spent stream."""
        row = self._row_by_id(connector_id)
        settings = self._open_settings(row)
        if self.dvd is not None and row["kind"] == "dvd":
            store: Store = self.dvd.store(row["id"], row["name"], settings)
        else:
            store = registry.open_store(row["kind"], settings, row["name"])
        if on_bytes is not None:
            store = ProgressStore(store, on_bytes)
        if encrypted:
            if not row["key_id"]:
                raise MMError(
                    msg("Connector {name!r} has no archive key recorded.", name=row["name"])
                )
            store = CryptStore(store, self.keys.load(row["key_id"]), self.keys)
        secrets = {k: v for k, v in settings.items() if k in self._secret_fields(row["kind"])}
        return RetryStore(store, sleep=sleep, redact=lambda text: scrub(text, secrets))

    def secrets_of(self, connector_id: int) -> dict[str, str]:
        """The connector's secret values, for :func:`scrub` only."""
        return self._secret_values(self._row_by_id(connector_id))

    def _forget(self, connector_id: int) -> None:
        with self._lock:
            for key in [k for k in self._stores if k[0] == connector_id]:
                del self._stores[key]

    def _reader(self, connector_id: int, encrypted: bool) -> Store:
        """A cached store for reads (playback, verify): clients are costly to make."""
        row = self._row_by_id(connector_id)
        key = (connector_id, encrypted)
        with self._lock:
            cached = self._stores.get(key)
            if cached is not None and cached.stamp == row["updated_at"]:
                return cached.store
        store = self.build_store(connector_id, encrypted)
        with self._lock:
            self._stores[key] = _Cached(row["updated_at"], store)
        return store

    def copies(self, recording_id: int) -> builtins.list[dict[str, Any]]:
        """The archive copies of a recording, the active connector's first, then newest."""
        rows = self.db.query(
            "SELECT c.connector_id, k.name AS connector, c.remote_path, c.size, c.sha256,"
            " c.encrypted, c.archived_at, d.volume_id AS disc FROM archive_copies c"
            " JOIN connectors k ON k.id = c.connector_id"
            " LEFT JOIN dvd_discs d ON d.id = c.disc_id"
            " WHERE c.recording_id = ? ORDER BY c.archived_at DESC",
            (recording_id,),
        )
        active = self.active_name().lower()
        out = [{**dict(r), "encrypted": bool(r["encrypted"])} for r in rows]
        out.sort(key=lambda c: c["connector"].lower() != active)
        return out

    def open_archived(self, recording_id: int) -> BinaryIO:
        """The recording's bytes from an archive copy (its local file is gone).

        NotFound when it has no copy; DiscNeeded (a NotFound) when it is on a disc that is not
        in the drive; MMError naming each connector's failure when none of its copies can be
        read.
        """
        copies = self.copies(recording_id)
        if not copies:
            raise NotFound(
                msg("Recording {recording_id} has no archive copy.", recording_id=recording_id)
            )
        failures = []
        needed: builtins.list[DiscNeeded] = []
        for copy in copies:
            try:
                if copy["disc"] and self.dvd is not None:  # that disc must be in the drive
                    self.dvd.require_disc(recording_id, copy["connector"], copy["disc"])
                store = self._reader(copy["connector_id"], copy["encrypted"])
                return store.open(copy["remote_path"])
            except DiscNeeded as exc:
                needed.append(exc)
            except Exception as exc:
                detail = scrub(f"{exc}", self.secrets_of(copy["connector_id"]))
                failures.append(f"{copy['connector']}: {detail or type(exc).__name__}")
        if needed:
            raise needed[0]
        raise MMError(
            msg(
                "No archive copy of recording {recording_id} can be read ({failures}).",
                recording_id=recording_id,
                failures="; ".join(failures),
            ),
            msg("Check the connector with `mm connectors test NAME`."),
        )
