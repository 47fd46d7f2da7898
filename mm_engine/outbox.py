"""The durable queue of alarm e-mails: written in the alarm's own transaction, sent later.

Whoever raises an alarm (ingest, a CLI command, the scheduler) only adds a row here; it never
waits for the network. The engine role's :class:`mm_engine.mailer.MailSender` sends the rows.
Everything is read from the connection itself, because alarms are raised inside other writes
(a catalogue commit, a configuration change) that hold nothing but the connection.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUBJECT_MESSAGE_CHARS = 60


def stamp(moment: datetime | None = None) -> str:
    """UTC time with milliseconds: backoff steps shorter than a second still order correctly."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")


def raw_settings(conn: sqlite3.Connection, *keys: str) -> dict[str, str]:
    """Stored setting values, '' when unset (every e-mail setting defaults to empty or 'no').

    Read raw rather than through Config: Config raises alarms, so it cannot be imported here.
    """
    marks = ",".join("?" * len(keys))
    rows = conn.execute(f"SELECT key, value FROM config WHERE key IN ({marks})", keys).fetchall()
    found = {r[0]: r[1] for r in rows}
    return {k: found.get(k, "") for k in keys}


def data_dir_of(conn: sqlite3.Connection) -> Path:
    for _seq, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file).parent
    return Path()


def compose(
    alarm: Mapping[str, Any], *, profile: str, host: str, data_dir: Path
) -> tuple[str, str]:
    """Subject and body of the mail for one alarm row."""
    message = " ".join(str(alarm["message"]).split())
    short = message[:SUBJECT_MESSAGE_CHARS]
    if len(message) > SUBJECT_MESSAGE_CHARS:
        short = short.rstrip() + "…"
    subject = f"[mm {profile or host}] {str(alarm['severity']).upper()} {alarm['type']}: {short}"
    lines = [
        "Media Manager raised an alarm.",
        "",
        f"Date:           {alarm['raised_at']}",
        f"Last seen:      {alarm['last_at']}",
        f"Severity:       {alarm['severity']}",
        f"Type:           {alarm['type']}",
        f"Description:    {alarm['message']}",
        f"Count:          {alarm['count']}",
        f"Host:           {host}",
        f"Data directory: {data_dir}",
        f"Profile:        {profile or '(not set)'}",
        f"Alarm id:       {alarm['id']}",
        "",
        f"Acknowledge it with `mm alarms ack {alarm['id']}`; `mm alarms list` shows the others.",
        "Repeats of this alarm are counted, not mailed again, until it is acknowledged.",
    ]
    return subject, "\n".join(lines) + "\n"


def compose_for(conn: sqlite3.Connection, alarm_id: int) -> tuple[str, str] | None:
    """The mail for the alarm as it is now (its count may have grown since it was queued)."""
    cur = conn.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id,))
    row = cur.fetchone()
    if row is None:
        return None
    alarm = dict(zip([d[0] for d in cur.description], tuple(row), strict=True))
    profile = raw_settings(conn, "profile")["profile"]
    return compose(alarm, profile=profile, host=socket.gethostname(), data_dir=data_dir_of(conn))


def enqueue(conn: sqlite3.Connection, alarm_id: int) -> int | None:
    """Queue the mail for a new alarm when e-mail is on; inside the caller's transaction."""
    wanted = raw_settings(conn, "send_email", "smtp_to")
    recipients = wanted["smtp_to"].strip()
    if wanted["send_email"] != "yes" or not recipients:
        return None
    composed = compose_for(conn, alarm_id)
    if composed is None:
        return None
    subject, body = composed
    now = stamp()
    cur = conn.execute(
        "INSERT INTO outbox (alarm_id, recipients, subject, body, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (alarm_id, recipients, subject, body, now, now),
    )
    return int(cur.lastrowid or 0)
