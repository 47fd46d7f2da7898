"""Long jobs handed to the engine role through the ``jobs`` table (issue 4).

A console working beside a running service does not run the long jobs itself (the engine role
is the service's): it submits a row, the service's :class:`JobRunner` takes it, runs it with
the submitter's rights and writes its progress, and the console watches the row. Several
consoles may submit at once; the runner takes one job at a time, oldest first.

A row of one of :data:`KINDS`:

- ``status``: queued -> running -> done, failed or cancelled.
- ``params``: ``{"by": submitter, "system": bool, "args": {...}}``, plus ``cancel`` (who asked)
  once a cancel is requested and ``started_at`` once running.
- ``progress`` / ``total``: written at most every :data:`PROGRESS_EVERY_S` while running.
- ``result``: ``{"result": {...}}`` when done; ``{"error": ..., "hint": ...}`` when failed or
  cancelled, in English, with ``said``: the same as sentences a reader's front end translates.
- ``owner_pid``: the process running it. Only the holder of the engine lock runs jobs, so when
  a service starts, a row still ``running`` under another process was left by one that died:
  it is marked failed then.

Rights are checked twice: by the Session that submits (the same operation as the direct call,
audited), and again when the job starts, for the principal re-read from the users table by
name, so rights taken away meanwhile count. The job runs through that principal's Session and
is audited as that user, exactly as the direct call would be.

Cancelling sets a request in the row; the runner checks it between items (every progress
callback) and stops there. The other row kinds of the table (the archive lease, a storage
migration's resume point, a Contact Recorder migration's own run record, which a
``contact_recorder_migration`` job makes too) are not jobs of this queue.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mm_engine.archiving import pid_alive
from mm_engine.db import Database
from mm_engine.domain import Verification
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, MMError, NotFound, Refused
from mm_engine.principal import SYSTEM, Principal
from mm_engine.session import AUDIT_ACTION, Operation, Session
from mm_engine.text import N_, Msg, msg, said_again, to_data

if TYPE_CHECKING:
    from mm_engine.contact_recorder.importer import MigrationProgress

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})
POLL_SECONDS = 1.0
PROGRESS_EVERY_S = 0.5
PROBLEMS_SHOWN = 20
STOP_WAIT_SECONDS = 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobCancelled(MMError):
    """Raised between items when someone asked to cancel the job."""

    title = N_("Job cancelled")

    def __init__(self, by: str) -> None:
        super().__init__(
            msg("Cancelled by {by}.", by=by), msg("Submit the job again to start it anew.")
        )
        self.by = by


class ServiceStopping(MMError):
    """Raised between items when the service running the job stops."""

    title = N_("Service stopped")

    def __init__(self) -> None:
        super().__init__(
            msg("The service stopped before the job finished."),
            msg(
                "Submit it again once the service runs (a storage migration resumes where it "
                "stopped; an archive run copies only what is still pending)."
            ),
        )


# -- the kinds ----------------------------------------------------------------------------------
def _archive_run(session: Session, args: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    return session.archive_run(progress).to_dict()


def _verify_all(session: Session, args: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    counts = {v: 0 for v in Verification}
    problems: list[dict[str, Any]] = []
    for found in session.iter_verify(None, progress):
        counts[found.verification] += 1
        if found.verification is not Verification.VERIFIED and len(problems) < PROBLEMS_SHOWN:
            try:
                path = session.engine.catalogue.get(found.id).path
            except NotFound:  # deleted meanwhile
                path = ""
            problems.append({**found.to_dict(), "path": path})
    not_verified = counts[Verification.TAMPERED] + counts[Verification.CANNOT_VERIFY]
    return {
        "verified": counts[Verification.VERIFIED],
        "tampered": counts[Verification.TAMPERED],
        "cannot_verify": counts[Verification.CANNOT_VERIFY],
        "problems": problems,
        "more_problems": max(0, not_verified - len(problems)),
    }


def _storage_migrate(
    session: Session, args: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    return session.storage_migrate(
        str(args["to"]), delete_source=bool(args.get("delete_source")), progress=progress
    )


def _catalogue_rebuild(
    session: Session, args: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    report = session.catalogue_rebuild(
        source=str(args.get("source") or "local"),
        path=args.get("path") or None,
        merge=bool(args.get("merge")),
        progress=progress,
    )
    return report.to_dict()


def _contact_recorder_migration(
    session: Session, args: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    """The migration reports its phase and counts; the row keeps records done of total."""

    def report(p: MigrationProgress) -> None:
        progress(p.done, p.total)

    summary = session.migrate_contact_recorder(
        str(args["source"]), args.get("connectors_file") or None, report
    )
    return summary.to_dict()


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    operation: Operation  # what the submitter (and, at its start, the runner) must be allowed
    run: Callable[[Session, Mapping[str, Any], Progress], dict[str, Any]]
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - self.required - self.optional)
        missing = sorted(self.required - set(params))
        if unknown or missing:
            title = Msg(self.title)
            if unknown:
                what = msg(
                    "A {title} job cannot take these parameters (unknown {names}).",
                    title=title,
                    names=", ".join(unknown),
                )
            else:
                what = msg(
                    "A {title} job cannot take these parameters (missing {names}).",
                    title=title,
                    names=", ".join(missing),
                )
            accepted = ", ".join(sorted(self.required | self.optional))
            raise InvalidInput(
                what,
                msg("Parameters it takes: {names}.", names=accepted)
                if accepted
                else msg("Parameters it takes: none."),
            )
        try:
            return dict(json.loads(json.dumps(dict(params))))
        except (TypeError, ValueError):
            raise InvalidInput(
                msg(
                    "The parameters of a {title} job must be plain text, numbers or yes/no.",
                    title=Msg(self.title),
                ),
                msg("Pass each parameter as text."),
            ) from None


KINDS: dict[str, JobKind] = {
    k.name: k
    for k in (
        JobKind("archive_run", N_("archive run"), Operation.ARCHIVE_RUN, _archive_run),
        JobKind("verify_all", N_("verification of all recordings"), Operation.VERIFY, _verify_all),
        JobKind(
            "storage_migrate",
            N_("call storage migration"),
            Operation.STORAGE_MOVE,
            _storage_migrate,
            frozenset({"to"}),
            frozenset({"delete_source"}),
        ),
        JobKind(
            "catalogue_rebuild",
            N_("catalogue rebuild"),
            Operation.CATALOGUE_REBUILD,
            _catalogue_rebuild,
            optional=frozenset({"source", "path", "merge"}),
        ),
        JobKind(
            "contact_recorder_migration",
            N_("Contact Recorder migration"),
            Operation.MIGRATE,
            _contact_recorder_migration,
            frozenset({"source"}),
            frozenset({"connectors_file"}),
        ),
    )
}


def job_kind(kind: str) -> JobKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise InvalidInput(
            msg("There is no job kind {kind!r}.", kind=kind),
            msg("Use one of {kinds}.", kinds=", ".join(KINDS)),
        ) from None


# -- the rows -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobState:
    id: int
    kind: str
    status: str
    submitted_by: str
    by_system: bool  # submitted by the local system operator (no account)
    params: dict[str, Any]
    progress: int
    total: int
    result: dict[str, Any] | None  # when done
    error: str  # when failed or cancelled: what happened
    hint: str  # ... and what to do
    cancel_requested_by: str
    created_at: str
    updated_at: str
    started_at: str
    owner_pid: int | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def runner_gone(self) -> bool:
        """Running, but the process running it is gone (the next service start fails it)."""
        return self.status == RUNNING and not pid_alive(self.owner_pid)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = "id, kind, status, params, progress, total, result, created_at, updated_at, owner_pid"


def _dump(outcome: Mapping[str, Any]) -> str:
    """A job's outcome as stored: the error and hint in English (what ``--json`` shows) and,
    under ``said``, as sentences a reader's front end translates (mm_engine/text.py)."""
    said = {key: to_data(outcome[key]) for key in ("error", "hint") if outcome.get(key)}
    return json.dumps({**outcome, "said": said} if said else outcome)


def _said(outcome: dict[str, Any], key: str) -> str:
    said = outcome.get("said")
    return said_again(said.get(key) if isinstance(said, dict) else None, str(outcome.get(key, "")))


def _state(row: sqlite3.Row) -> JobState:
    params: dict[str, Any] = json.loads(row["params"] or "{}")
    outcome: dict[str, Any] = json.loads(row["result"]) if row["result"] else {}
    return JobState(
        id=int(row["id"]),
        kind=str(row["kind"]),
        status=str(row["status"]),
        submitted_by=str(params.get("by", "")),
        by_system=bool(params.get("system")),
        params=dict(params.get("args", {})),
        progress=int(row["progress"]),
        total=int(row["total"]),
        result=outcome.get("result") if row["status"] == DONE else None,
        error=_said(outcome, "error"),
        hint=_said(outcome, "hint"),
        cancel_requested_by=str(params.get("cancel", "")),
        created_at=str(row["created_at"]),
        updated_at=str(row["updated_at"]),
        started_at=str(params.get("started_at", "")),
        owner_pid=row["owner_pid"],
    )


def _kinds_sql() -> str:
    return ", ".join(f"'{k}'" for k in KINDS)


class JobQueue:
    """The queue's rows (unchecked: :class:`~mm_engine.session.Session` checks and audits)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(
        self, kind: str, params: Mapping[str, Any], principal_name: str, *, system: bool = False
    ) -> int:
        args = job_kind(kind).check_params(params)
        envelope = {"by": principal_name, "system": system, "args": args}
        now = _now()
        return self.db.execute_write(
            "INSERT INTO jobs (kind, status, params, created_at, updated_at)"
            " VALUES (?, 'queued', ?, ?, ?)",
            (kind, json.dumps(envelope), now, now),
        )

    def watch(self, job_id: int) -> JobState:
        row = self.db.query_one(
            f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND kind IN ({_kinds_sql()})", (job_id,)
        )
        if row is None:
            raise NotFound(
                msg("There is no job {job_id}.", job_id=job_id),
                msg("`mm jobs list` shows the jobs."),
            )
        return _state(row)

    def list(self, limit: int = 50) -> list[JobState]:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM jobs WHERE kind IN ({_kinds_sql()}) ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_state(r) for r in rows]

    def cancel(self, job_id: int, by: str) -> JobState:
        """A queued job is cancelled at once; a running one is asked to stop between items;
        a finished one stays as it is."""

        def apply(conn: sqlite3.Connection) -> JobState:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND kind IN ({_kinds_sql()})",
                (job_id,),
            ).fetchone()
            if row is None:
                raise NotFound(
                    msg("There is no job {job_id}.", job_id=job_id),
                    msg("`mm jobs list` shows the jobs."),
                )
            if row["status"] == QUEUED:
                outcome = {"error": msg("Cancelled by {by} before it started.", by=by), "hint": ""}
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', result = ?, updated_at = ?,"
                    " params = json_set(params, '$.cancel', ?) WHERE id = ?",
                    (_dump(outcome), _now(), by, job_id),
                )
            elif row["status"] == RUNNING:
                conn.execute(
                    "UPDATE jobs SET params = json_set(params, '$.cancel', ?), updated_at = ?"
                    " WHERE id = ?",
                    (by, _now(), job_id),
                )
            return _state(
                conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            )

        return self.db.write(apply)

    # -- for the runner ---------------------------------------------------------------------
    def next_queued(self) -> int | None:
        """The oldest queued job's id: one indexed read, cheap enough to ask every second."""
        row = self.db.query_one(
            f"SELECT min(id) FROM jobs WHERE status = 'queued' AND kind IN ({_kinds_sql()})"
        )
        return int(row[0]) if row is not None and row[0] is not None else None

    def claim(self, job_id: int, pid: int) -> JobState | None:
        """Mark a queued job running for ``pid``; None if it is no longer queued."""

        def apply(conn: sqlite3.Connection) -> JobState | None:
            now = _now()
            cur = conn.execute(
                "UPDATE jobs SET status = 'running', owner_pid = ?, updated_at = ?,"
                " params = json_set(params, '$.started_at', ?) WHERE id = ? AND status = 'queued'",
                (pid, now, now, job_id),
            )
            if cur.rowcount != 1:
                return None
            return _state(
                conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            )

        return self.db.write(apply)

    def cancel_requested(self, job_id: int) -> str:
        row = self.db.query_one(
            "SELECT json_extract(params, '$.cancel') FROM jobs WHERE id = ?", (job_id,)
        )
        return str(row[0]) if row is not None and row[0] else ""

    def set_progress(self, job_id: int, done: int, total: int) -> None:
        self.db.execute_write(
            "UPDATE jobs SET progress = ?, total = ?, updated_at = ? WHERE id = ?",
            (done, total, _now(), job_id),
        )

    def finish(
        self, job_id: int, status: str, outcome: Mapping[str, Any], progress: tuple[int, int]
    ) -> None:
        sets = "progress = ?, total = ?, " if progress[1] else ""
        values = (*progress,) if progress[1] else ()
        self.db.execute_write(
            f"UPDATE jobs SET status = ?, result = ?, {sets}updated_at = ? WHERE id = ?",
            (status, _dump(outcome), *values, _now(), job_id),
        )

    def fail_abandoned(self, pid: int) -> int:
        """Mark failed every job left running by another process. Called by the engine-lock
        holder as it starts: only that holder runs jobs, so such a process has died."""

        def apply(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT id, progress, total, owner_pid FROM jobs"
                f" WHERE status = 'running' AND kind IN ({_kinds_sql()})"
                " AND (owner_pid IS NULL OR owner_pid != ?)",
                (pid,),
            ).fetchall()
            for row in rows:
                outcome = {
                    "error": msg(
                        "The service (process {pid}) stopped while running this job, after "
                        "{done:,} of {total:,}.",
                        pid=row["owner_pid"],
                        done=row["progress"],
                        total=row["total"],
                    ),
                    "hint": msg(
                        "Submit it again (a storage migration resumes where it stopped; an "
                        "archive run copies only what is still pending)."
                    ),
                }
                conn.execute(
                    "UPDATE jobs SET status = 'failed', result = ?, updated_at = ? WHERE id = ?",
                    (_dump(outcome), _now(), row["id"]),
                )
            return len(rows)

        return self.db.write(apply)


# -- running ------------------------------------------------------------------------------------
class _Progress:
    """The job's progress callback: stops it between items when asked, and writes progress to
    the row at most every :data:`PROGRESS_EVERY_S`."""

    def __init__(self, queue: JobQueue, job_id: int, stopping: threading.Event) -> None:
        self.queue = queue
        self.job_id = job_id
        self.stopping = stopping
        self.done = 0
        self.total = 0
        self._written = 0.0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.stopping.is_set():
            raise ServiceStopping()
        by = self.queue.cancel_requested(self.job_id)
        if by:
            raise JobCancelled(by)
        now = time.monotonic()
        if now - self._written >= PROGRESS_EVERY_S or done >= total:
            self._written = now
            self.queue.set_progress(self.job_id, done, total)


def principal_named(engine: Engine, name: str, system: bool) -> Principal:
    """The submitter as the users table has them now (rights may have changed)."""
    if system:
        return SYSTEM
    try:
        return engine.users.get(SYSTEM, name).principal()
    except NotFound:
        raise Refused(
            msg("The job was submitted by {name}, whose account no longer exists.", name=name),
            msg("Submit it again as another user."),
        ) from None


def run_as_submitter(engine: Engine, state: JobState, progress: Progress) -> dict[str, Any]:
    """Run a claimed job as its submitter: their Session checks the rule again and audits."""
    kind = job_kind(state.kind)
    try:
        principal = principal_named(engine, state.submitted_by, state.by_system)
    except Refused as exc:
        engine.audit.record(
            None,
            state.submitted_by,
            AUDIT_ACTION[kind.operation],
            {
                "op": "job run",
                "job": state.id,
                "kind": state.kind,
                "refused": True,
                "operation": kind.operation.value,
                "reason": exc.message,
            },
        )
        raise
    return kind.run(Session(engine, principal), state.params, progress)


class JobRunner:
    """Takes queued jobs one at a time in its own thread (started by the service)."""

    def __init__(self, engine: Engine, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.queue = JobQueue(engine.db)
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: int | None = None  # the job running now

    def start(self) -> None:
        failed = self.queue.fail_abandoned(os.getpid())
        if failed:
            log.warning("%d job(s) left running by a stopped service marked failed", failed)
        self.stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="mm-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The current job stops after its current item (and is marked failed)."""
        self.stopping.set()
        if self._current is not None:
            log.info("job %d stops after its current item", self._current)
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)
            if self._thread.is_alive():
                log.warning(
                    "a job did not stop within %.0f s; it is failed next start", STOP_WAIT_SECONDS
                )
            self._thread = None

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                job_id = self.queue.next_queued()
                if job_id is None:
                    self.stopping.wait(self.poll_seconds)
                    continue
                state = self.queue.claim(job_id, os.getpid())
                if state is not None:
                    self.run_one(state)
            except Exception:  # the database closing under us, or a bug: keep the loop going
                log.exception("the job runner failed")
                self.stopping.wait(self.poll_seconds)

    def run_one(self, state: JobState) -> None:
        progress = _Progress(self.queue, state.id, self.stopping)
        outcome: dict[str, Any]
        log.info("job %d (%s) started for %s", state.id, state.kind, state.submitted_by)
        self._current = state.id
        try:
            result = run_as_submitter(self.engine, state, progress)
        except JobCancelled as exc:
            status, outcome = CANCELLED, {"error": exc.message, "hint": exc.hint}
        except MMError as exc:
            status, outcome = FAILED, {"error": exc.message, "hint": exc.hint}
        except Exception as exc:
            log.exception("job %d (%s) failed", state.id, state.kind)
            status = FAILED
            outcome = {
                "error": msg("{kind}: {error}", kind=type(exc).__name__, error=exc),
                "hint": msg(
                    "The log says more (journalctl -u mm, or console.log in the data "
                    "directory when a console ran the engine)."
                ),
            }
        else:
            status = DONE
            outcome = {"result": result}
        finally:
            self._current = None
        self.queue.finish(state.id, status, outcome, (progress.done, progress.total))
        log.info("job %d (%s) %s", state.id, state.kind, status)
