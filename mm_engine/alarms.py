"""Alarms (seed F34/F35): typed, with the seed's texts, de-duplicated while open.

An alarm is *open* until it is cleared (the condition went away) or acknowledged (a person saw
it). Repeats of an open alarm only count up, so a flood of the same failure is one line and one
e-mail; a repeat after acknowledgement is news again and starts a new alarm.

The stored ``message`` is English (whoever reads it later may speak anything else); a front end
says it in its reader's language from what is stored beside it, type, variant and params::

    _(template_of(row["type"], row["variant"])), then fill(that, row["params"])
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mm_engine import outbox
from mm_engine.db import Database
from mm_engine.errors import NotFound
from mm_engine.text import N_, from_data, msg, to_data

log = logging.getLogger(__name__)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class AlarmType(StrEnum):
    DISK_SPACE_ERROR = "DISK_SPACE_ERROR"
    FILE_PARSE_ERROR = "FILE_PARSE_ERROR"
    FILE_ENCODE_ERROR = "FILE_ENCODE_ERROR"
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    SYSTEM_RESTART = "SYSTEM_RESTART"
    FILE_ERROR = "FILE_ERROR"
    INTERNAL_SERVICE_ERROR = "INTERNAL_SERVICE_ERROR"
    CONFIGURATION_CHANGED = "CONFIGURATION_CHANGED"
    EMAIL_ERROR = "EMAIL_ERROR"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    ARCHIVE_ERROR = "ARCHIVE_ERROR"
    DVD_ERROR = "DVD_ERROR"  # a DVD connector needs a technician: full, foreign or no disc


# Mailing a failure to mail would loop (and could not arrive anyway).
NOT_MAILED: frozenset[AlarmType] = frozenset({AlarmType.EMAIL_ERROR})

# Who acknowledges until users exist (a later issue passes the principal's name instead).
SYSTEM_OPERATOR = "system operator"


# (type, variant) -> (severity, template). Templates are the seed's texts, with named fields;
# marked for the catalogs, translated by a front end with template_of() and fill().
# Words the service puts into the templates' fields ({event}, {action}); marked here so the
# catalogs carry them, and a front end translates a field's value when its catalog has it.
FIELD_WORDS = (N_("started"), N_("shutdown"), N_("run"))

TEMPLATES: dict[tuple[AlarmType, str], tuple[Severity, str]] = {
    (AlarmType.DISK_SPACE_ERROR, "calculate"): (
        Severity.MAJOR,
        N_("Failed to calculate disk space of {path}: {error}"),
    ),
    (AlarmType.DISK_SPACE_ERROR, "low"): (
        Severity.MAJOR,
        N_(
            "Not enough space on the local disk available for Media Manager. "
            "Will attempt to free {gb} GB."
        ),
    ),
    (AlarmType.DISK_SPACE_ERROR, "rename"): (
        Severity.MAJOR,
        N_("Failed to rename file {file1} to {file2}."),
    ),
    (AlarmType.FILE_PARSE_ERROR, ""): (
        Severity.MINOR,
        N_("Failed to parse file {file}. due to unsupported file format. {reason}"),
    ),
    (AlarmType.FILE_ENCODE_ERROR, ""): (
        Severity.MINOR,
        N_("Failed to encode file {file} from codec {codec} to {target}. {reason}"),
    ),
    (AlarmType.CONFIGURATION_ERROR, ""): (
        Severity.WARNING,
        N_("System configuration for attribute {attribute} is invalid. {reason}"),
    ),
    (AlarmType.SYSTEM_RESTART, ""): (Severity.INFO, N_("Service {event} on {time}")),
    (AlarmType.FILE_ERROR, "delete"): (Severity.MINOR, N_("Failed to delete file(s). {reason}")),
    (AlarmType.FILE_ERROR, "copy"): (
        Severity.MINOR,
        N_("Failed to copy file {file1} to {file2}. {reason}"),
    ),
    (AlarmType.INTERNAL_SERVICE_ERROR, ""): (
        Severity.MAJOR,
        N_("Failed to {action} internal service {service}. {reason}"),
    ),
    (AlarmType.CONFIGURATION_CHANGED, ""): (
        Severity.INFO,
        N_("Media Manager application configuration is changed. {details}"),
    ),
    (AlarmType.ACCOUNT_LOCKED, ""): (
        Severity.WARNING,
        N_("Account {user} is locked after {failures} failed logins, until {until}."),
    ),
    (AlarmType.ARCHIVE_ERROR, ""): (
        Severity.MAJOR,
        N_("Connector {name} is not accessible: {error}"),
    ),
    (AlarmType.FILE_ERROR, "archive"): (
        Severity.MINOR,
        N_("Failed to copy file {file1} to {file2}. {reason}"),
    ),
    (AlarmType.EMAIL_ERROR, ""): (
        Severity.MAJOR,
        N_("Failed to send alarm e-mail to {recipients}: {error}"),
    ),
    # DVD connectors (seed F16; mm_engine/dvd/archive.py): what the technician must do
    (AlarmType.DVD_ERROR, "full"): (
        Severity.MAJOR,
        N_("Connector {name}: disc {volume_id} is full, insert a blank DVD+RW into {drive}."),
    ),
    (AlarmType.DVD_ERROR, "no_disc"): (
        Severity.WARNING,
        N_("Connector {name}: there is no disc in {drive}; {insert}."),
    ),
    (AlarmType.DVD_ERROR, "foreign"): (
        Severity.MAJOR,
        N_(
            "Connector {name}: the disc in {drive} is not ours and was not written ({reason}). "
            "Insert a blank DVD+RW."
        ),
    ),
    (AlarmType.DVD_ERROR, "medium"): (
        Severity.MAJOR,
        N_(
            "Connector {name}: the disc in {drive} is a {medium}, not a DVD+RW; "
            "insert a blank DVD+RW."
        ),
    ),
    (AlarmType.DVD_ERROR, "write"): (
        Severity.MAJOR,
        N_(
            "Connector {name}: writing disc {volume_id} in {drive} failed: {error} "
            "Nothing was lost: the recordings stay pending for the next session."
        ),
    ),
}


def template_of(type_: AlarmType | str, variant: str = "") -> str:
    """The English template of an alarm (marked for the catalogs): a front end translates it
    with ``_()`` and fills it with :func:`fill` and the alarm's stored params."""
    return TEMPLATES[(AlarmType(type_), variant)][1]


def fill(template: str, params: dict[str, Any]) -> str:
    """``template`` with ``params`` filled in as the stored message has them: a field the
    alarm was raised without reads as empty, and the sentence is stripped."""
    return template.format(**{k: params.get(k, "") for k in _fields(template)}).strip()


SAID = "_said"  # in the stored params: the values that are sentences, as to_data() keeps them


def stored_params(params: dict[str, Any]) -> str:
    """An alarm's values as stored: each as English text (what ``--json`` and e-mail show),
    and under :data:`SAID` the ones that are sentences, so a reader's front end translates
    them with the template (mm_engine/text.py)."""
    said = {k: to_data(v) for k, v in params.items() if isinstance(to_data(v), dict)}
    plain = json.loads(json.dumps(params, default=str))
    return json.dumps({**plain, SAID: said} if said else plain)


def said_params(stored: str | dict[str, Any]) -> dict[str, Any]:
    """The values of a stored alarm, sentences made translatable again (:func:`stored_params`)."""
    values = dict(json.loads(stored) if isinstance(stored, str) else stored)
    said = values.pop(SAID, None)
    if isinstance(said, dict):
        values.update({k: from_data(v) for k, v in said.items()})
    return values


def variant_of(dedupe_key: str) -> str:
    """The variant of a stored alarm, from its de-duplication key (``type:variant:...``)."""
    parts = dedupe_key.split(":", 2)
    return parts[1] if len(parts) == 3 else ""


@dataclass(frozen=True)
class Alarm:
    type: AlarmType
    severity: Severity
    message: str  # English, as stored; template_of(type, variant) + params say it elsewhere
    params: dict[str, Any]
    dedupe_key: str
    variant: str = ""

    @property
    def template(self) -> str:
        return template_of(self.type, self.variant)

    @classmethod
    def make(cls, type_: AlarmType, variant: str = "", dedupe: str = "", **params: Any) -> Alarm:
        severity, template = TEMPLATES[(type_, variant)]
        message = fill(template, params)
        key = f"{type_.value}:{variant}:{dedupe or message}"
        return cls(type_, severity, message, params, key, variant)


def _fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def insert_alarm(conn: sqlite3.Connection, alarm: Alarm) -> int:
    """Record ``alarm`` inside the caller's transaction; repeats of an open alarm count up.

    A new alarm also queues its e-mail here, in the same transaction, so the mail is neither
    lost when the process dies next nor sent for an alarm that was rolled back.
    """
    now = _now()
    row = conn.execute(
        "SELECT id FROM alarms WHERE dedupe_key = ? AND cleared_at IS NULL"
        " AND acknowledged_at IS NULL ORDER BY id DESC LIMIT 1",
        (alarm.dedupe_key,),
    ).fetchone()
    if row:
        conn.execute(
            "UPDATE alarms SET count = count + 1, last_at = ?, message = ? WHERE id = ?",
            (now, alarm.message, row[0]),
        )
        return int(row[0])
    cur = conn.execute(
        "INSERT INTO alarms (type, severity, message, params, dedupe_key, raised_at, last_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            alarm.type.value,
            alarm.severity.value,
            alarm.message,
            stored_params(alarm.params),
            alarm.dedupe_key,
            now,
            now,
        ),
    )
    alarm_id = int(cur.lastrowid or 0)
    if alarm.type not in NOT_MAILED:
        outbox.enqueue(conn, alarm_id)
    return alarm_id


Listener = Callable[[Alarm], None]
# {"acknowledged": ids acknowledged now, "already": ids that had been acknowledged before}
Acknowledged = dict[str, list[int]]


class Alarms:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Called after an alarm is committed (e-mail sending hooks in here)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self, alarm: Alarm) -> None:
        log_level = logging.WARNING if alarm.severity != Severity.INFO else logging.INFO
        log.log(log_level, "%s %s: %s", alarm.severity.value, alarm.type.value, alarm.message)
        for listener in self._listeners:
            try:
                listener(alarm)
            except Exception:  # a broken mailer must not stop ingest
                log.exception("alarm listener failed")

    def raise_(self, type_: AlarmType, variant: str = "", dedupe: str = "", **params: Any) -> Alarm:
        alarm = Alarm.make(type_, variant, dedupe, **params)
        self.db.write(lambda c: insert_alarm(c, alarm))
        self.notify(alarm)
        return alarm

    def clear(self, type_: AlarmType, variant: str = "", dedupe: str = "") -> None:
        key_prefix = f"{type_.value}:{variant}:{dedupe}"
        self.db.write(
            lambda c: c.execute(
                "UPDATE alarms SET cleared_at = ? WHERE cleared_at IS NULL AND dedupe_key LIKE ?",
                (_now(), key_prefix + "%"),
            )
        )

    def list(
        self, limit: int = 100, include_cleared: bool = True, include_acknowledged: bool = True
    ) -> list[dict[str, Any]]:
        """Newest (most recently seen) first."""
        conditions = []
        if not include_cleared:
            conditions.append("cleared_at IS NULL")
        if not include_acknowledged:
            conditions.append("acknowledged_at IS NULL")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self.db.query(
            f"SELECT * FROM alarms {where} ORDER BY last_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [
            {
                **dict(r),
                "params": {k: v for k, v in json.loads(r["params"]).items() if k != SAID},
                "said": json.loads(r["params"]).get(SAID, {}),
                "variant": variant_of(r["dedupe_key"]),
                "cleared": r["cleared_at"] is not None,
                "acknowledged": r["acknowledged_at"] is not None,
            }
            for r in rows
        ]

    def acknowledge(self, ids: Iterable[int], by: str = SYSTEM_OPERATOR) -> Acknowledged:
        """Mark alarms as seen by ``by`` (the principal's name).

        All or nothing: with an unknown id nothing is acknowledged, so a typo in a list never
        leaves the operator guessing which ones went through. Acknowledging twice keeps the
        first acknowledgement (who saw it first, and when).
        """
        wanted = sorted(set(ids))

        def apply(conn: sqlite3.Connection) -> Acknowledged:
            found = {
                int(r[0]): r[1]
                for r in conn.execute(
                    f"SELECT id, acknowledged_at FROM alarms WHERE id IN"
                    f" ({','.join('?' * len(wanted))})",
                    wanted,
                )
            }
            unknown = [i for i in wanted if i not in found]
            if unknown:
                raise NotFound(
                    msg(
                        "No alarm with id {ids}; nothing was acknowledged.",
                        ids=", ".join(str(i) for i in unknown),
                    ),
                    msg("`mm alarms list --all` shows every alarm with its id."),
                )
            fresh = [i for i in wanted if found[i] is None]
            conn.executemany(
                "UPDATE alarms SET acknowledged_at = ?, acknowledged_by = ?"
                " WHERE id = ? AND acknowledged_at IS NULL",
                [(_now(), by, i) for i in fresh],
            )
            return {"acknowledged": fresh, "already": [i for i in wanted if i not in fresh]}

        if not wanted:
            return {"acknowledged": [], "already": []}
        return self.db.write(apply)
