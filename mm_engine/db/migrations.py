"""Numbered schema migrations, applied at open and recorded in ``PRAGMA user_version``.

Never edit a released step: add a new one. Later issues add users, audit, connectors and
archive copies as further steps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from mm_engine.text import msg

Step = Callable[[sqlite3.Connection], None]


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would commit the migration's transaction."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending[:80]!r}")


def _001_core(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE recordings (
            id            INTEGER PRIMARY KEY,
            call_id       TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            start         TEXT NOT NULL,             -- ISO 8601 with offset, as received
            start_ts      REAL NOT NULL,             -- epoch seconds, for ranges and sorting
            duration_s    REAL NOT NULL,
            direction     TEXT NOT NULL CHECK (direction IN ('internal','inbound','outbound')),
            parties       TEXT NOT NULL DEFAULT '',  -- ';'-joined
            agents        TEXT NOT NULL DEFAULT '',  -- ';'-joined
            owner         TEXT NOT NULL DEFAULT '',
            owner_kind    TEXT CHECK (owner_kind IN ('user','hunt_group','line','account_code')),
            target        TEXT NOT NULL DEFAULT '',
            skill         TEXT NOT NULL DEFAULT '',
            authenticated INTEGER NOT NULL DEFAULT 0,
            path          TEXT NOT NULL UNIQUE,      -- relative to the call storage root
            size          INTEGER NOT NULL,
            sha256        TEXT NOT NULL,
            signature     TEXT NOT NULL,
            key_id        TEXT NOT NULL,
            source_key    TEXT UNIQUE,               -- hash of the handover input (idempotence)
            source_name   TEXT NOT NULL DEFAULT '',
            ingested_at   TEXT NOT NULL,
            local_present INTEGER NOT NULL DEFAULT 1,
            UNIQUE (call_id, seq)
        );
        CREATE INDEX recordings_start ON recordings (start_ts, id);
        CREATE INDEX recordings_duration ON recordings (duration_s, id);
        CREATE INDEX recordings_direction ON recordings (direction, start_ts);
        CREATE INDEX recordings_target ON recordings (target COLLATE NOCASE, start_ts);
        CREATE INDEX recordings_skill ON recordings (skill COLLATE NOCASE, start_ts);
        CREATE INDEX recordings_owner ON recordings (owner COLLATE NOCASE, start_ts);
        CREATE INDEX recordings_call_id ON recordings (call_id COLLATE NOCASE);

        -- one row per party or agent, for exact filters
        CREATE TABLE recording_members (
            recording_id INTEGER NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
            role         TEXT NOT NULL CHECK (role IN ('party','agent')),
            value        TEXT NOT NULL COLLATE NOCASE
        );
        CREATE INDEX recording_members_value ON recording_members (role, value, recording_id);
        CREATE INDEX recording_members_recording ON recording_members (recording_id);

        CREATE VIRTUAL TABLE recordings_fts USING fts5 (
            call_id, parties, agents, owner, target, skill,
            content='recordings', content_rowid='id',
            tokenize="unicode61 tokenchars '-_+.@#*'"
        );
        CREATE TRIGGER recordings_ai AFTER INSERT ON recordings BEGIN
            INSERT INTO recordings_fts (rowid, call_id, parties, agents, owner, target, skill)
            VALUES (new.id, new.call_id, new.parties, new.agents, new.owner, new.target, new.skill);
        END;
        CREATE TRIGGER recordings_ad AFTER DELETE ON recordings BEGIN
            INSERT INTO recordings_fts (recordings_fts, rowid, call_id, parties, agents, owner,
                                        target, skill)
            VALUES ('delete', old.id, old.call_id, old.parties, old.agents, old.owner, old.target,
                    old.skill);
        END;
        CREATE TRIGGER recordings_au AFTER UPDATE OF call_id, parties, agents, owner, target, skill
        ON recordings BEGIN
            INSERT INTO recordings_fts (recordings_fts, rowid, call_id, parties, agents, owner,
                                        target, skill)
            VALUES ('delete', old.id, old.call_id, old.parties, old.agents, old.owner, old.target,
                    old.skill);
            INSERT INTO recordings_fts (rowid, call_id, parties, agents, owner, target, skill)
            VALUES (new.id, new.call_id, new.parties, new.agents, new.owner, new.target, new.skill);
        END;

        CREATE TABLE config (
            key        TEXT PRIMARY KEY,
            value      TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE alarms (
            id          INTEGER PRIMARY KEY,
            type        TEXT NOT NULL,
            severity    TEXT NOT NULL
                        CHECK (severity IN ('info','warning','minor','major','critical')),
            message     TEXT NOT NULL,
            params      TEXT NOT NULL DEFAULT '{}',
            dedupe_key  TEXT NOT NULL,
            count       INTEGER NOT NULL DEFAULT 1,
            raised_at   TEXT NOT NULL,
            last_at     TEXT NOT NULL,
            cleared_at  TEXT
        );
        CREATE INDEX alarms_raised ON alarms (raised_at);
        CREATE INDEX alarms_dedupe ON alarms (dedupe_key, cleared_at);

        CREATE TABLE jobs (
            id         INTEGER PRIMARY KEY,
            kind       TEXT NOT NULL,
            status     TEXT NOT NULL CHECK (status IN
                           ('queued','running','done','failed','cancelled')),
            params     TEXT NOT NULL DEFAULT '{}',
            progress   INTEGER NOT NULL DEFAULT 0,
            total      INTEGER NOT NULL DEFAULT 0,
            result     TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            owner_pid  INTEGER
        );
        CREATE INDEX jobs_status ON jobs (status, kind);
        """,
    )


def _002_search_indexes(conn: sqlite3.Connection) -> None:
    """Covering indexes for the common search filters (date range, direction, length).

    A search walks an index in sort order and stops after a page; when the filters' columns
    are in the index it never touches the wide table rows it skips (bench/search_latency.py).
    """
    run_script(
        conn,
        """
        CREATE INDEX recordings_start_cover ON recordings (start_ts, id, duration_s, direction);
        CREATE INDEX recordings_direction_cover
            ON recordings (direction, start_ts, id, duration_s);
        """,
    )


def _003_alarm_ack_and_outbox(conn: sqlite3.Connection) -> None:
    """Acknowledgement of alarms, and a durable outbox for alarm e-mails.

    Mails live in the database, not in the memory of the process that raised the alarm, so a
    mail raised by a CLI command, or just before a crash, is still sent by the service.
    """
    run_script(
        conn,
        """
        ALTER TABLE alarms ADD COLUMN acknowledged_at TEXT;
        ALTER TABLE alarms ADD COLUMN acknowledged_by TEXT;
        CREATE INDEX alarms_open ON alarms (acknowledged_at, last_at);

        CREATE TABLE outbox (
            id              INTEGER PRIMARY KEY,
            alarm_id        INTEGER REFERENCES alarms (id) ON DELETE SET NULL,
            recipients      TEXT NOT NULL,             -- ';'-joined, as smtp_to was then
            subject         TEXT NOT NULL,
            body            TEXT NOT NULL,
            created_at      TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,                      -- NULL once sent or given up
            sent_at         TEXT,
            failed_at       TEXT,                      -- given up: retries exhausted or refused
            last_error      TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
        """,
    )


def _004_users_audit(conn: sqlite3.Connection) -> None:
    """Accounts with their F12 rights, and the hash-chained audit trail (mm_engine/audit.py).

    Audit ids use AUTOINCREMENT so an id is never reused: the chain's ids are consecutive and
    a gap (or a sequence ahead of the last row) shows that events were removed.
    ``audit_anchor`` remembers the last event retention removed, where the chain now starts.
    """
    run_script(
        conn,
        """
        CREATE TABLE users (
            id             INTEGER PRIMARY KEY,
            name           TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role           TEXT NOT NULL
                           CHECK (role IN ('administrator','standard','end_user')),
            password_hash  TEXT NOT NULL,              -- scrypt$n$r$p$salt$key
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL,
            last_login_at  TEXT,
            failed_logins  INTEGER NOT NULL DEFAULT 0,
            locked_until   TEXT,
            replay_enabled INTEGER NOT NULL DEFAULT 0,
            replay_scope   TEXT NOT NULL DEFAULT 'mine' CHECK (replay_scope IN ('all','mine')),
            extension      TEXT NOT NULL DEFAULT '',
            groups         TEXT NOT NULL DEFAULT '',   -- ';'-joined hunt group names
            others         TEXT NOT NULL DEFAULT '',   -- ';'-joined numbers, <= 128 chars
            download       INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE audit (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            at        TEXT NOT NULL,                   -- UTC, fixed-width ISO 8601
            user      TEXT NOT NULL,
            action    TEXT NOT NULL,
            details   TEXT NOT NULL DEFAULT '{}',      -- canonical JSON
            prev_hash TEXT NOT NULL,
            hash      TEXT NOT NULL
        );
        CREATE INDEX audit_at ON audit (at);
        CREATE INDEX audit_action ON audit (action, id);

        CREATE TABLE audit_anchor (
            id               INTEGER PRIMARY KEY CHECK (id = 1),
            last_pruned_id   INTEGER NOT NULL,
            last_pruned_hash TEXT NOT NULL,
            pruned_total     INTEGER NOT NULL,
            pruned_at        TEXT NOT NULL
        );
        """,
    )


def _005_connectors(conn: sqlite3.Connection) -> None:
    """Archive connectors (seed F14-F22) and the archive copies each one holds.

    Which connector is active lives in ``config`` (``active_connector``), so there is one truth.
    ``archived_count`` only ever grows: a connector that has archived anything cannot be deleted
    (F14) even after the recordings it holds were deleted. ``archive_copies`` keys on
    (connector, recording), so "pending" (no copy on the active connector) is one primary-key
    probe per recording under NOT EXISTS, and a connector's copy count is an index range.
    """
    run_script(
        conn,
        """
        CREATE TABLE connectors (
            id                INTEGER PRIMARY KEY,
            name              TEXT NOT NULL UNIQUE COLLATE NOCASE,
            kind              TEXT NOT NULL,
            settings          TEXT NOT NULL DEFAULT '{}',  -- JSON; secret fields sealed enc:v1:
            encrypt           INTEGER NOT NULL DEFAULT 0,  -- F15: once 1, never 0 again
            key_id            TEXT,                        -- archive key for new encrypted copies
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            archived_count    INTEGER NOT NULL DEFAULT 0,
            last_archived_at  TEXT,
            last_test_at      TEXT,
            last_test_result  TEXT,                        -- an Accessibility value
            last_test_message TEXT NOT NULL DEFAULT ''
        );
        CREATE TRIGGER connectors_encrypt_stays_on BEFORE UPDATE OF encrypt ON connectors
        WHEN old.encrypt = 1 AND new.encrypt = 0 BEGIN
            SELECT RAISE(ABORT, 'encryption cannot be switched off on a connector');
        END;

        CREATE TABLE archive_copies (
            connector_id INTEGER NOT NULL REFERENCES connectors (id),
            recording_id INTEGER NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
            remote_path  TEXT NOT NULL,      -- as the recording's path; '.mmc' added if encrypted
            size         INTEGER NOT NULL,   -- plaintext bytes
            sha256       TEXT NOT NULL,      -- of the plaintext, as sent
            encrypted    INTEGER NOT NULL,
            archived_at  TEXT NOT NULL,
            PRIMARY KEY (connector_id, recording_id)
        ) WITHOUT ROWID;
        CREATE INDEX archive_copies_recording ON archive_copies (recording_id);
        """,
    )


def _006_contact_recorder_migration(conn: sqlite3.Connection) -> None:
    """Recordings and connectors migrated from Contact Recorder (seed F36-F39).

    A migrated recording stays in the legacy tree: ``root`` is the absolute folder its
    ``recordings.path`` is relative to (its ``local_present`` is 0: it is not in the call
    storage). ``job_id`` is the migration run (``jobs`` row) that made a row or a connector, so
    a re-run after an interruption removes exactly what the unfinished run made; a connector
    whose name is no longer ``given_name`` was renamed and is kept (F39). ``names`` holds the
    legacy party and agent names (number -> name, JSON), which have no column of their own.
    """
    run_script(
        conn,
        """
        CREATE TABLE migrated_recordings (
            recording_id INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
            job_id       INTEGER NOT NULL,
            root         TEXT NOT NULL,
            names        TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX migrated_recordings_job ON migrated_recordings (job_id);

        CREATE TABLE migrated_connectors (
            connector_id INTEGER PRIMARY KEY REFERENCES connectors (id) ON DELETE CASCADE,
            job_id       INTEGER NOT NULL,
            source       TEXT NOT NULL,      -- the legacy tree it came with
            legacy_id    TEXT NOT NULL,      -- its id in the legacy connector settings file
            given_name   TEXT NOT NULL       -- MigratedX-Timestamp, as the migration named it
        );
        CREATE INDEX migrated_connectors_job ON migrated_connectors (job_id);
        CREATE INDEX migrated_connectors_legacy ON migrated_connectors (source, legacy_id);
        """,
    )


def _007_dvd_discs(conn: sqlite3.Connection) -> None:
    """The DVD disc catalogue (seed F16): every disc a ``dvd`` connector has written, and on
    which disc each DVD archive copy is (``archive_copies.disc_id``; NULL for other types).

    A disc is named by its label and sequence (its volume id ``LABEL-0003``). ``state`` is
    where it is: ``in_drive``, ``ejected``, or ``full`` (out of the drive and never written
    again); ``full_at`` stays set once it was found full, also while it is back in the drive to
    be read. A disc erased for reuse is ``blanked``: its row stays so its number is never given
    to another disc. The byte and call-date columns describe what mm wrote there, so the list
    stays right after recordings on it are deleted from the catalogue.
    """
    run_script(
        conn,
        """
        CREATE TABLE dvd_discs (
            id             INTEGER PRIMARY KEY,
            connector_id   INTEGER NOT NULL REFERENCES connectors (id),
            label          TEXT NOT NULL,
            sequence       INTEGER NOT NULL,
            volume_id      TEXT NOT NULL,
            state          TEXT NOT NULL DEFAULT 'in_drive'
                           CHECK (state IN ('in_drive', 'ejected', 'full', 'blanked')),
            full_at        TEXT,
            used_bytes     INTEGER NOT NULL DEFAULT 0,   -- of the disc, sessions included
            capacity_bytes INTEGER NOT NULL DEFAULT 0,
            sessions       INTEGER NOT NULL DEFAULT 0,
            recordings     INTEGER NOT NULL DEFAULT 0,   -- copies written to it
            bytes          INTEGER NOT NULL DEFAULT 0,   -- their size
            first_call     TEXT,                         -- start of the oldest call on it
            first_call_ts  REAL,
            last_call      TEXT,
            last_call_ts   REAL,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL,
            UNIQUE (label, sequence)
        );
        CREATE INDEX dvd_discs_connector ON dvd_discs (connector_id, state);
        ALTER TABLE archive_copies ADD COLUMN disc_id INTEGER REFERENCES dvd_discs (id);
        CREATE INDEX archive_copies_disc ON archive_copies (disc_id) WHERE disc_id IS NOT NULL;
        """,
    )


def _008_connector_test_said(conn: sqlite3.Connection) -> None:
    """A connector's last test as a sentence a reader's front end translates (template and
    values, mm_engine/text.py); ``last_test_message`` keeps the English."""
    run_script(conn, "ALTER TABLE connectors ADD COLUMN last_test_said TEXT;")


STEPS: list[Step] = [
    _001_core,
    _002_search_indexes,
    _003_alarm_ack_and_outbox,
    _004_users_audit,
    _005_connectors,
    _006_contact_recorder_migration,
    _007_dvd_discs,
    _008_connector_test_said,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest step; safe when two processes open the file at once."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(STEPS):
            raise RuntimeError(
                msg(
                    "database schema {version} is newer than this mm ({supported}): upgrade mm",
                    version=version,
                    supported=len(STEPS),
                )
            )
        for number, step in enumerate(STEPS[version:], start=version + 1):
            step(conn)
            conn.execute(f"PRAGMA user_version={number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(STEPS)
