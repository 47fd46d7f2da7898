"""Long jobs handed to the service through the jobs table (issue 4, mm_engine/job_queue.py).

A real service process (`mm --no-ui`) runs the jobs; the test process plays the consoles beside
it: an Engine of its own on the same data directory and a Session per person. A job is held
at one recording deterministically by a gate: that recording's file is replaced by a named
pipe, so whoever reads it waits until the test writes the real bytes into the pipe.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from mm_engine.audit import AuditAction
from mm_engine.domain import Recording
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from mm_engine.job_queue import JobState
from mm_engine.principal import SYSTEM, ReplayScope, Rights, Role
from mm_engine.service import Service
from mm_engine.session import Session
from mm_engine.users import UserChange
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.job_progress import QueuedJobDialog, run_job
from mm_tui.dialogs.storage_migrate import StorageMigrateDialog
from mm_tui.widgets.configuration_form import ConfigurationForm
from mm_tui.widgets.forms import Form
from tests.conftest import AddRecording
from tests.service_helpers import mm, start_service, stop_service, wait_for
from tests.test_console import FAST, PASSWORD, log_in, run_async, settle

SMALL = (80, 24)


class Gate:
    """Holds whoever reads ``rec``'s stored file until :meth:`release` (a named pipe)."""

    def __init__(self, engine: Engine, rec: Recording) -> None:
        self.path = Path(engine.config.path("call_storage_path")) / rec.path
        self.data = self.path.read_bytes()
        self.path.unlink()
        os.mkfifo(self.path)

    def _open_for_writing(self) -> int | None:
        try:
            return os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: nobody reads it yet
            if exc.errno == errno.ENXIO:
                return None
            raise

    def wait_reader(self) -> None:
        """Until a reader is held at the pipe."""
        fd: list[int] = []

        def reader_there() -> bool:
            got = self._open_for_writing()
            if got is not None:
                fd.append(got)
            return got is not None

        wait_for(reader_there)
        self._fd = fd[0]

    def release(self) -> None:
        """Let the reader through with the recording's real bytes; the file is a file again."""
        os.set_blocking(self._fd, True)
        with os.fdopen(self._fd, "wb") as pipe:
            pipe.write(self.data)
        self.restore()

    def restore(self) -> None:
        tmp = self.path.with_name(self.path.name + ".restore")
        tmp.write_bytes(self.data)
        os.replace(tmp, self.path)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Engine:
    engine.users.params = FAST
    for name, role in (
        ("alice", Role.ADMINISTRATOR),
        ("bob", Role.ADMINISTRATOR),
        ("sam", Role.STANDARD),
        ("tom", Role.STANDARD),
    ):
        engine.users.add(SYSTEM, name, role, PASSWORD)
    handover = tmp_path / "handover"
    handover.mkdir()
    for key, value in (
        ("handover_folder", str(handover)),
        ("ingest_settle_seconds", "0.3"),
        ("ingest_rescan_seconds", "1"),
        ("disk_min_free_gb", "0"),
    ):
        engine.config.set(key, value)
    return engine


def session(engine: Engine, name: str) -> Session:
    return Session(engine, engine.users.get(SYSTEM, name).principal())


@pytest.fixture
def service(home: Path, world: Engine, tmp_path: Path) -> Iterator[Any]:
    proc = start_service(home, log=tmp_path / "service.log")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            stop_service(proc)


def finished(s: Session, job_id: int) -> JobState:
    states: list[JobState] = []

    def done() -> bool:
        states.append(s.job_state(job_id))
        return states[-1].finished

    wait_for(done, timeout=120)
    return states[-1]


def add_many(add_recording: AddRecording, count: int) -> list[Recording]:
    return [add_recording() for _ in range(count)]


def audit_of(engine: Engine, user: str) -> list[dict[str, Any]]:
    return [e.details for e in engine.audit.list(None, limit=500).items if e.user == user]


# -- archive run ------------------------------------------------------------------------------
def test_an_archive_run_submitted_beside_the_service_runs_there_with_progress(
    world: Engine, add_recording: AddRecording, service: Any, tmp_path: Path
) -> None:
    recs = add_many(add_recording, 12)
    archive = tmp_path / "archive"
    alice = session(world, "alice")
    alice.connectors_add("nas", "local", {"path": str(archive)})
    alice.connectors_activate("nas")
    gate = Gate(world, recs[6])

    job_id = alice.submit_job("archive_run")
    assert alice.job_state(job_id).status in ("queued", "running")
    gate.wait_reader()  # the service holds the 7th recording
    held = alice.job_state(job_id)
    assert held.status == "running"
    assert held.owner_pid == service.pid
    assert 1 <= held.progress <= 6
    assert held.total == 12
    gate.release()
    state = finished(alice, job_id)

    assert state.status == "done", state.error
    assert state.progress == state.total == 12
    assert state.result is not None
    assert (state.result["status"], state.result["archived"]) == ("done", 12)
    assert all((archive / r.path).is_file() for r in recs)
    assert (archive / recs[6].path).read_bytes() == gate.data
    # submitted by alice and run as alice: both in the audit trail under her name
    ops = [d.get("op") for d in audit_of(world, "alice")]
    assert "job submit" in ops
    assert "archive run" in ops


def test_a_standard_user_cannot_submit_an_archive_run(world: Engine) -> None:
    sam = session(world, "sam")
    with pytest.raises(Refused, match="sam may not start an archive run"):
        sam.submit_job("archive_run")
    event = world.audit.list(limit=1).items[0]
    assert (event.user, event.action) == ("sam", AuditAction.CONFIGURATION)
    assert event.details["refused"] is True
    assert event.details["kind"] == "archive_run"
    assert world.db.query_one("SELECT count(*) FROM jobs")[0] == 0  # type: ignore[index]


def test_unknown_kinds_and_parameters_are_refused_with_what_to_use(world: Engine) -> None:
    alice = session(world, "alice")
    with pytest.raises(InvalidInput, match="no job kind 'defrag'") as exc:
        alice.submit_job("defrag")
    assert "archive_run" in exc.value.hint
    with pytest.raises(InvalidInput, match="missing to"):
        alice.submit_job("storage_migrate")
    with pytest.raises(InvalidInput, match="unknown speed"):
        alice.submit_job("archive_run", speed="max")


def test_rights_are_checked_again_when_the_service_starts_the_job(
    home: Path, world: Engine, tmp_path: Path
) -> None:
    bob = session(world, "bob")
    job_id = bob.submit_job("archive_run")  # no service yet: it waits in the queue
    assert bob.job_state(job_id).status == "queued"
    session(world, "alice").users_set("bob", UserChange(role="standard"))
    proc = start_service(home, log=tmp_path / "service.log")
    try:
        state = finished(session(world, "alice"), job_id)
    finally:
        stop_service(proc)
    assert state.status == "failed"
    assert "bob may not start an archive run" in state.error
    refused = [d for d in audit_of(world, "bob") if d.get("refused")]
    assert refused and refused[-1]["operation"] == "start an archive run"


# -- verify all -------------------------------------------------------------------------------
def test_verify_all_through_the_service_names_the_tampered_recording(
    world: Engine, add_recording: AddRecording, service: Any
) -> None:
    recs = add_many(add_recording, 8)
    root = Path(world.config.path("call_storage_path"))
    tampered = root / recs[3].path
    data = bytearray(tampered.read_bytes())
    data[-10] ^= 0xFF
    tampered.write_bytes(bytes(data))
    (root / recs[5].path).unlink()  # no file and no archive copy: cannot verify

    sam = session(world, "sam")  # standard users may verify everything
    state = finished(sam, sam.submit_job("verify_all"))

    assert state.status == "done", state.error
    result = state.result
    assert result is not None
    assert (result["verified"], result["tampered"], result["cannot_verify"]) == (6, 1, 1)
    problems = {p["id"]: p for p in result["problems"]}
    assert problems[recs[3].id]["verification"] == "tampered"
    assert problems[recs[3].id]["path"] == recs[3].path
    assert problems[recs[5].id]["verification"] == "cannot verify"


def test_an_end_user_cannot_submit_verify_all(world: Engine) -> None:
    world.users.add(SYSTEM, "eve", Role.END_USER, PASSWORD, Rights(True, ReplayScope.ALL))
    with pytest.raises(Refused, match="not all at once"):
        session(world, "eve").submit_job("verify_all")


# -- cancelling -------------------------------------------------------------------------------
def test_cancel_stops_the_job_after_the_item_it_is_on(
    world: Engine, add_recording: AddRecording, service: Any
) -> None:
    recs = add_many(add_recording, 20)
    gate = Gate(world, recs[4])
    sam = session(world, "sam")
    job_id = sam.submit_job("verify_all")
    gate.wait_reader()

    tom = session(world, "tom")  # may verify, but this is not his job
    with pytest.raises(Refused, match=f"job {job_id} was submitted by sam"):
        tom.cancel_job(job_id)
    assert audit_of(world, "tom")[0]["refused"] is True

    asked = session(world, "alice").cancel_job(job_id)  # administrators may
    assert (asked.status, asked.cancel_requested_by) == ("running", "alice")
    gate.release()
    state = finished(sam, job_id)

    assert state.status == "cancelled"
    assert state.error == "Cancelled by alice."
    assert state.progress == 5  # the 5th recording was finished, no further one started
    assert state.total == 20
    assert {"op": "job cancel", "job": job_id, "kind": "verify_all", "status": "running"} in (
        audit_of(world, "alice")
    )


def test_a_queued_job_is_cancelled_at_once(world: Engine) -> None:
    sam = session(world, "sam")
    job_id = sam.submit_job("verify_all")
    state = sam.cancel_job(job_id)
    assert state.status == "cancelled"
    assert state.error == "Cancelled by sam before it started."


# -- several consoles, one service ------------------------------------------------------------
def test_two_consoles_submitting_at_once_get_both_jobs_run_one_at_a_time(
    home: Path, world: Engine, add_recording: AddRecording, service: Any, tmp_path: Path
) -> None:
    recs = add_many(add_recording, 6)
    alice = session(world, "alice")
    alice.connectors_add("nas", "local", {"path": str(tmp_path / "archive")})
    alice.connectors_activate("nas")
    gate = Gate(world, recs[2])
    second = Engine(home)  # another console: its own engine on the same data directory
    try:
        bob = session(second, "bob")
        ids: dict[str, int] = {}
        go = threading.Barrier(2)

        def submit(who: str, s: Session, kind: str) -> None:
            go.wait()
            ids[who] = s.submit_job(kind)

        threads = [
            threading.Thread(target=submit, args=("alice", alice, "verify_all")),
            threading.Thread(target=submit, args=("bob", bob, "archive_run")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gate.wait_reader()  # whichever came first is held at the 3rd recording
        first, then = sorted(ids.values())
        states = {i: alice.job_state(i) for i in ids.values()}
        assert states[first].status == "running"
        assert states[then].status == "queued"  # one at a time
        gate.release()
        a = finished(alice, ids["alice"])
        b = finished(bob, ids["bob"])
    finally:
        second.close()
    assert (a.status, b.status) == ("done", "done"), (a.error, b.error)
    assert a.result is not None and a.result["verified"] == 6
    assert b.result is not None and b.result["archived"] == 6
    earlier, later = sorted((a, b), key=lambda s: s.id)
    assert later.started_at >= earlier.updated_at


# -- a service that dies ----------------------------------------------------------------------
def test_a_job_whose_service_died_is_failed_when_the_service_starts_again(
    home: Path, world: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = add_many(add_recording, 5)
    gate = Gate(world, recs[1])
    proc = start_service(home, log=tmp_path / "service.log")
    alice = session(world, "alice")
    job_id = alice.submit_job("verify_all")
    gate.wait_reader()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    gate.restore()
    left = alice.job_state(job_id)
    assert left.status == "running"
    assert left.runner_gone  # what a console watching it shows
    again = start_service(home, log=tmp_path / "service.log")
    try:
        state = finished(alice, job_id)
        assert state.status == "failed"
        assert f"process {proc.pid}) stopped while running this job" in state.error
        assert "Submit it again" in state.hint
        # and the service goes on taking jobs
        assert finished(alice, alice.submit_job("verify_all")).status == "done"
    finally:
        stop_service(again)


def test_stopping_the_service_stops_its_job_after_the_current_item(
    home: Path, world: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = add_many(add_recording, 10)
    gate = Gate(world, recs[3])
    log = tmp_path / "service.log"
    proc = start_service(home, log=log)
    alice = session(world, "alice")
    job_id = alice.submit_job("verify_all")
    gate.wait_reader()
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: f"job {job_id} stops after its current item" in log.read_text())
    gate.release()
    assert proc.wait(timeout=60) == 0
    state = alice.job_state(job_id)
    assert state.status == "failed"
    assert state.error == "The service stopped before the job finished."
    assert (state.progress, state.total) == (4, 10)


# -- storage migration in the service ---------------------------------------------------------
def test_the_service_migrates_the_call_storage_and_ingest_waits_for_it(
    world: Engine, add_recording: AddRecording, service: Any, tmp_path: Path
) -> None:
    from tests.test_service import drop

    recs = add_many(add_recording, 6)
    gate = Gate(world, recs[3])
    new_root = tmp_path / "bigdisk"
    alice = session(world, "alice")
    job_id = alice.submit_job("storage_migrate", to=f"local:{new_root}")
    gate.wait_reader()
    # a call arrives in the middle of the migration
    drop(Path(world.config.path("handover_folder")), "mid.wav", "MID-1")
    gate.release()
    state = finished(alice, job_id)

    assert state.status == "done", state.error
    assert state.result is not None and state.result["moved"] == 6
    assert world.config.get("call_storage_path") == str(new_root)
    wait_for(lambda: world.db.query_one("SELECT count(*) FROM recordings")[0] == 7)  # type: ignore[index]
    # everything, the late call too, is in the new storage and verifies
    results = list(alice.iter_verify(None))
    assert {r.verification.value for r in results} == {"verified"}
    rows = world.db.query("SELECT path FROM recordings")
    assert all((new_root / r["path"]).is_file() for r in rows)


def test_a_catalogue_rebuild_runs_in_the_service(
    world: Engine, add_recording: AddRecording, service: Any
) -> None:
    add_many(add_recording, 4)
    alice = session(world, "alice")
    state = finished(alice, alice.submit_job("catalogue_rebuild", merge=True))
    assert state.status == "done", state.error
    assert state.result is not None
    assert (state.result["files"], state.result["already_catalogued"]) == (4, 4)


# -- the command line ------------------------------------------------------------------------
def test_mm_jobs_submits_waits_lists_and_shows(
    home: Path, world: Engine, add_recording: AddRecording, service: Any
) -> None:
    add_many(add_recording, 3)
    out = mm(home, "jobs", "submit", "verify_all", "--wait", "--json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert (job["status"], job["submitted_by"], job["result"]["verified"]) == (
        "done",
        "system operator",
        3,
    )
    listed = mm(home, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{job['id']}" in listed.stdout and "verify_all" in listed.stdout
    shown = mm(home, "jobs", "show", str(job["id"]))
    assert "verified" in shown.stdout and "done" in shown.stdout
    bad = mm(home, "jobs", "submit", "storage_migrate", "--param", "where=nowhere")
    assert bad.returncode == 2
    assert "unknown where" in bad.stderr
    queued = mm(home, "--user", "sam", "jobs", "submit", "archive_run", stdin=PASSWORD + "\n")
    assert queued.returncode == 3
    assert "sam may not start an archive run" in queued.stderr


# -- the console ------------------------------------------------------------------------------
def in_process_service(engine: Engine) -> Service:
    svc = Service(engine)
    svc.jobs.poll_seconds = 0.05
    svc.start()
    return svc


async def wait_until(pilot: Any, condition: Any, tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the console did not get there")


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@run_async
async def test_the_console_beside_a_service_hands_the_migration_over_and_shows_progress(
    world: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = add_many(add_recording, 6)
    gate = Gate(world, recs[2])
    new_root = tmp_path / "bigdisk"
    svc = in_process_service(world)
    try:
        app = MMApp(world, f"service running (pid {os.getpid()})", beside_service=True)
        async with app.run_test(size=SMALL) as pilot:
            await log_in(pilot, "alice")
            app.screen.query_one("TabbedContent").active = "configuration"  # type: ignore[attr-defined]
            await settle(pilot)
            app.screen.query_one(ConfigurationForm).query_one(Form).focus_field()
            await pilot.press("ctrl+o")
            await settle(pilot)
            assert isinstance(app.screen, StorageMigrateDialog)
            form = app.screen.query_one(Form)
            form.set_value("path", str(new_root))
            form.submit()
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, QueuedJobDialog)
            gate.wait_reader()
            await wait_until(pilot, lambda: " of 6 · " in text_of(dialog, "#job-counts"))
            assert not dialog.finished
            gate.release()
            await wait_until(pilot, lambda: dialog.finished)
            assert "6 recordings there and checked" in text_of(dialog, "#job-summary")
            assert text_of(dialog, "#job-counts").startswith("6 of 6")
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, QueuedJobDialog)
    finally:
        svc.stop()
    assert world.config.get("call_storage_path") == str(new_root)
    jobs = world.db.query("SELECT kind, status FROM jobs WHERE kind = 'storage_migrate'")
    assert [(r["kind"], r["status"]) for r in jobs] == [("storage_migrate", "done")]


@run_async
async def test_escape_in_the_console_asks_then_cancels_the_services_job(
    world: Engine, add_recording: AddRecording
) -> None:
    recs = add_many(add_recording, 10)
    gate = Gate(world, recs[2])
    svc = in_process_service(world)
    try:
        app = MMApp(world, f"service running (pid {os.getpid()})", beside_service=True)
        async with app.run_test(size=SMALL) as pilot:
            await log_in(pilot, "sam")
            sams_session = app.session  # type: ignore[attr-defined]
            run_job(app, sams_session, "verify_all", "Verifying every recording", str)
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, QueuedJobDialog)
            gate.wait_reader()
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("y")
            await wait_until(pilot, lambda: dialog.cancel_requested)
            await wait_until(
                pilot,
                lambda: (
                    world.db.query_one(  # type: ignore[index]
                        "SELECT json_extract(params, '$.cancel') FROM jobs"
                    )[0]
                    == "sam"
                ),
            )
            gate.release()
            await wait_until(pilot, lambda: dialog.finished)
            assert text_of(dialog, "#job-summary") == "Cancelled by sam."
            assert text_of(dialog, "#job-counts").startswith("3 of 10")
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is not dialog
    finally:
        svc.stop()


@run_async
async def test_archive_now_beside_a_service_is_run_by_the_service(
    world: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    from mm_tui.widgets.connectors_panel import ConnectorsPanel

    add_many(add_recording, 4)
    world.connectors.add("nas", "local", {"path": str(tmp_path / "nas")})
    world.connectors.activate("nas")
    svc = in_process_service(world)
    try:
        app = MMApp(world, f"service running (pid {os.getpid()})", beside_service=True)
        async with app.run_test(size=SMALL) as pilot:
            await log_in(pilot, "alice")
            app.screen.query_one("TabbedContent").active = "connectors"  # type: ignore[attr-defined]
            await settle(pilot)
            app.screen.query_one(ConnectorsPanel).query_one("DataTable").focus()
            await pilot.press("n")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, QueuedJobDialog)
            await wait_until(pilot, lambda: dialog.finished)
            assert "Archived 4 recording(s) to nas" in text_of(dialog, "#job-summary")
    finally:
        svc.stop()
    jobs = world.db.query("SELECT status FROM jobs WHERE kind = 'archive_run'")
    assert [r["status"] for r in jobs] == ["done"]
    assert sum(len(world.connectors.copies(i)) for i in range(1, 5)) == 4
