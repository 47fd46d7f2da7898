"""Configuration (seed F9): every setting declared once, with its default and validation.

The declarations drive `mm config show/set`, the console's form and docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mm_engine.alarms import Alarm, Alarms, AlarmType, insert_alarm
from mm_engine.db import Database
from mm_engine.errors import InvalidSetting
from mm_engine.paths import DataDir
from mm_engine.secrets import SecretBox, SecretError, is_sealed
from mm_engine.text import N_, Msg, msg

EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$")


def problem(exc: ValueError) -> str:
    """What a parser's ValueError says: its msg() sentence when it has one, so a front end can
    translate it, else the English text."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, Msg) else str(exc)


def _text(value: str) -> str:
    return value.strip()


def _path(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(msg("a path is required"))
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(msg("'{value}' is not an absolute path", value=value))
    return str(path)


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in choices:
            raise ValueError(
                msg("'{value}' is not one of {choices}", value=value, choices=", ".join(choices))
            )
        return value

    return parse


def _int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(msg("'{value}' is not a whole number", value=value)) from None
        if high is not None and not low <= number <= high:
            raise ValueError(
                msg("{number} is out of range ({low}..{high})", number=number, low=low, high=high)
            )
        if number < low:
            raise ValueError(
                msg("{number} is out of range (at least {low})", number=number, low=low)
            )
        return number

    return parse


def _float_min(low: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(msg("'{value}' is not a number", value=value)) from None
        if number < low:
            raise ValueError(msg("{number} is below the minimum {low}", number=number, low=low))
        return number

    return parse


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("yes", "true", "on", "1"):
        return True
    if v in ("no", "false", "off", "0", ""):
        return False
    raise ValueError(msg("'{value}' is not yes or no", value=value))


def _email_or_empty(value: str) -> str:
    value = value.strip()
    if value and not EMAIL.match(value):
        raise ValueError(msg("'{value}' is not an e-mail address", value=value))
    return value


def _email_list(value: str) -> str:
    parts = [p.strip() for p in value.split(";") if p.strip()]
    bad = [p for p in parts if not EMAIL.match(p)]
    if bad:
        raise ValueError(
            msg(
                "{addresses} is not an e-mail address (separate several addresses with ';')",
                addresses=", ".join(repr(b) for b in bad),
            )
        )
    return ";".join(parts)


def _connector_name(value: str) -> str:
    """Only the shape here; that the connector exists is checked by the engine's guard
    (mm_engine/connectors.py), inside the same write."""
    return value.strip()


def _storage_type(value: str) -> str:
    """``local``, or the name of the S3, GCS or Azure connector holding the recordings; that
    the connector exists and may serve is checked by the engine's guard
    (mm_engine/primary_storage.py), inside the same write."""
    value = value.strip()
    if not value:
        raise ValueError(msg("give local, or the name of an S3, GCS or Azure connector"))
    return "local" if value.lower() == "local" else value


MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
BINDING_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
KEY_NAME = re.compile(r"^([a-z][a-z0-9_]*|[^\s,;=+])$")  # a name, or one character


def key_bindings(value: str) -> dict[str, tuple[str, ...]]:
    """``console_keys`` read as binding id -> keys. Only the shape is checked here: which ids
    and key names exist is the console's to say (it owns the bindings)."""
    bindings: dict[str, tuple[str, ...]] = {}
    for entry in (e.strip() for e in value.split(";")):
        if not entry:
            continue
        binding_id, equals, keys_text = (part.strip() for part in entry.partition("="))
        if not equals or not BINDING_ID.match(binding_id):
            raise ValueError(
                msg(
                    "'{entry}' is not binding.id=key[,key] "
                    "(e.g. recordings.delete=ctrl+d; separate several with ';')",
                    entry=entry,
                )
            )
        if binding_id in bindings:
            raise ValueError(
                msg(
                    "{binding_id} is given twice; give it once, with all its keys",
                    binding_id=binding_id,
                )
            )
        keys = tuple(k.strip() for k in keys_text.split(","))
        for key in keys:
            *modifiers, name = key.split("+") if key != "+" else [key]
            odd = [m for m in modifiers if m not in MODIFIERS]
            if not key or odd or not KEY_NAME.match(name):
                raise ValueError(
                    msg(
                        "'{key}' (for {binding_id}) is not a key: write a key such as ctrl+d, "
                        "f2, slash or x (modifiers ctrl+, shift+, alt+; the characters , ; = + "
                        "are written comma, semicolon, equals_sign, plus)",
                        key=key,
                        binding_id=binding_id,
                    )
                )
        bindings[binding_id] = keys
    return bindings


def _console_keys(value: str) -> str:
    return ";".join(f"{i}={','.join(keys)}" for i, keys in key_bindings(value).items())


@dataclass(frozen=True)
class Setting:
    key: str
    description: str
    parse: Callable[[str], Any]
    default: Callable[[DataDir], str]
    secret: bool = False


def _const(value: str) -> Callable[[DataDir], str]:
    return lambda _d: value


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting("profile", N_("Unique name of this configuration"), _text, _const("")),
        Setting(
            "log_level",
            N_("Log level: info, debug or error"),
            _choice("info", "debug", "error"),
            _const("info"),
        ),
        Setting(
            "handover_folder",
            N_("Where the voicemail server drops finished recordings"),
            _path,
            lambda d: str(d.default_handover),
        ),
        Setting(
            "retention_days",
            N_("Days to keep calls (0 = never delete)"),
            _int_range(0),
            _const("180"),
        ),
        Setting(
            "audit_retention_days",
            N_("Days to keep the audit trail (1..365)"),
            _int_range(1, 365),
            _const("180"),
        ),
        Setting(
            "active_connector",
            N_("The connector used for archiving (empty = none)"),
            _connector_name,
            _const(""),
        ),
        Setting(
            "call_storage_path",
            N_("Where recordings are stored (an additional disk)"),
            _path,
            lambda d: str(d.default_call_storage),
        ),
        Setting(
            "call_storage_type",
            N_("local (the call storage path), or the name of an S3, GCS or Azure connector"),
            _storage_type,
            _const("local"),
        ),
        Setting("send_email", N_("Send alarms and events by e-mail (yes/no)"), _bool, _const("no")),
        Setting("smtp_server", N_("SMTP server host name"), _text, _const("")),
        Setting("smtp_port", N_("SMTP server port"), _int_range(1, 65535), _const("25")),
        Setting("smtp_secure", N_("Use TLS to the SMTP server (yes/no)"), _bool, _const("no")),
        Setting("smtp_user", N_("SMTP user name (empty = no login)"), _text, _const("")),
        Setting("smtp_password", N_("SMTP password"), lambda v: v, _const(""), secret=True),
        Setting("smtp_from", N_("Sender address of alarm e-mails"), _email_or_empty, _const("")),
        Setting("smtp_to", N_("Recipients, separated by ';'"), _email_list, _const("")),
        Setting(
            "ingest_settle_seconds",
            N_("A handover file is taken once size and time are unchanged this long"),
            _float_min(0.0),
            _const("2"),
        ),
        Setting(
            "ingest_rescan_seconds",
            N_("Full rescan of the handover folder (file events can be lost)"),
            _float_min(0.5),
            _const("30"),
        ),
        Setting(
            "archive_interval_minutes",
            N_("Archive new recordings to the active connector every this many minutes"),
            _int_range(1, 1440),
            _const("5"),
        ),
        Setting(
            "disk_min_free_gb",
            N_("Prune the oldest recordings before free space on the call storage falls below"),
            _float_min(0.0),
            _const("2"),
        ),
        Setting(
            "console_keys",
            N_(
                "Console keys to change: binding.id=key[,key] separated by ';' "
                "(ids: ? in the console)"
            ),
            _console_keys,
            _const(""),
        ),
    ]
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def on_root_filesystem(path: Path) -> bool:
    """True when ``path`` (or its nearest existing parent) shares a device with ``/`` (F7)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.stat(probe).st_dev == os.stat("/").st_dev


ChangeHook = Callable[[sqlite3.Connection, str, Any, Any], None]


class Config:
    def __init__(self, db: Database, data_dir: DataDir, alarms: Alarms) -> None:
        self.db = db
        self.data_dir = data_dir
        self.alarms = alarms
        self.secrets = SecretBox(data_dir.keys)
        self._guards: dict[str, list[ChangeHook]] = {}

    def guard(self, key: str, hook: ChangeHook) -> None:
        """Run ``hook(conn, key, old, new)`` inside the write; it may refuse by raising."""
        self._guards.setdefault(key, []).append(hook)

    def _stored(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.db.query("SELECT key, value FROM config")}

    def get(self, key: str) -> Any:
        setting = SETTINGS[key]
        row = self.db.query_one("SELECT value FROM config WHERE key = ?", (key,))
        raw = row["value"] if row else setting.default(self.data_dir)
        return setting.parse(self._unseal(key, raw))

    def _unseal(self, key: str, raw: str) -> str:
        if SETTINGS[key].secret and is_sealed(raw):
            try:
                return self.secrets.open(raw, context=f"config:{key}")
            except SecretError as exc:
                raise SecretError(
                    exc.message,
                    msg(
                        "{hint} To set it again: `mm config set {key} ...`.", hint=exc.hint, key=key
                    ),
                ) from None
        return raw

    def _seal(self, key: str, value: str) -> str:
        # an empty secret stays empty: "no password" is not worth hiding, and shows as unset
        return self.secrets.seal(value, context=f"config:{key}") if value else value

    def seal_stored_secrets(self) -> int:
        """Seal secrets that an older mm stored in clear; returns how many were sealed."""
        keys = [k for k, s in SETTINGS.items() if s.secret]
        marks = ",".join("?" * len(keys))
        rows = self.db.query(f"SELECT key, value FROM config WHERE key IN ({marks})", keys)
        clear = {r["key"]: r["value"] for r in rows if r["value"] and not is_sealed(r["value"])}
        if not clear:
            return 0
        sealed = {k: self._seal(k, v) for k, v in clear.items()}

        def apply(conn: sqlite3.Connection) -> None:
            for k, v in sealed.items():
                conn.execute(
                    "UPDATE config SET value = ? WHERE key = ? AND value = ?", (v, k, clear[k])
                )

        self.db.write(apply)
        return len(sealed)

    def path(self, key: str) -> Path:
        return Path(str(self.get(key)))

    def show(self) -> list[dict[str, Any]]:
        stored = self._stored()
        out = []
        for key, setting in SETTINGS.items():
            raw = stored.get(key)
            value = setting.parse(raw if raw is not None else setting.default(self.data_dir))
            if setting.secret:
                value = "********" if value else ""
            out.append(
                {
                    "key": key,
                    "value": value,
                    "source": "set" if raw is not None else "default",
                    "description": setting.description,
                }
            )
        return out

    def set(self, key: str, text: str) -> Any:
        return self._set(key, text, guarded=True)

    def set_unguarded(self, key: str, text: str) -> Any:
        """For the engine's own jobs (a finished storage move) that already did what guards ask."""
        return self._set(key, text, guarded=False)

    def _set(self, key: str, text: str, *, guarded: bool) -> Any:
        setting = SETTINGS.get(key)
        if setting is None:
            raise InvalidSetting(
                key,
                msg("there is no such setting"),
                msg("Known settings: {keys}.", keys=", ".join(SETTINGS)),
            )
        try:
            value = setting.parse(text)
        except ValueError as exc:
            raise InvalidSetting(key, problem(exc)) from None
        stored = "yes" if value is True else "no" if value is False else str(value)
        shown = "********" if setting.secret else stored
        if setting.secret:
            stored = self._seal(key, stored)

        def apply(conn: sqlite3.Connection) -> None:
            hooks = self._guards.get(key, []) if guarded else []
            if hooks:
                # only decrypted when a guard asks: re-setting a secret whose key was lost works
                row = conn.execute("SELECT value FROM config WHERE key = ?", (key,)).fetchone()
                raw = row[0] if row else setting.default(self.data_dir)
                old = setting.parse(self._unseal(key, raw))
                for hook in hooks:
                    hook(conn, key, old, value)
            conn.execute(
                "INSERT INTO config (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, stored, _now()),
            )
            insert_alarm(conn, changed)

        changed = Alarm.make(
            AlarmType.CONFIGURATION_CHANGED,
            details=f"{key} = {shown}",
            dedupe=f"{key}@{time.time_ns()}",
        )
        self.db.write(apply)
        self.alarms.notify(changed)
        if key == "call_storage_path":
            self.check_storage_location()
        return value

    def check_storage_location(self) -> bool:
        """F7: warn (never refuse) when recordings would live on the system disk."""
        path = self.path("call_storage_path")
        if on_root_filesystem(path):
            self.alarms.raise_(
                AlarmType.CONFIGURATION_ERROR,
                attribute="call_storage_path",
                reason=msg(
                    "{path} is on the system disk; put recordings on an additional disk.",
                    path=path,
                ),
            )
            return False
        return True
