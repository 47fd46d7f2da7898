"""The console's Migration tab, and backup, restore and catalogue rebuild from the Configuration
tab, driven as a person would at 80x24: real app, real engine, real files (issue 7).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Button, Static

from mm_engine.backup import WrongPassword, restore_backup
from mm_engine.contact_recorder import importer
from mm_engine.engine import Engine
from mm_engine.lock import EngineLock
from mm_engine.principal import SYSTEM, Role
from mm_engine.session import Session
from mm_tui.app import MMApp
from mm_tui.dialogs.backup import BackupDialog
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.job_progress import JobDialog, QueuedJobDialog
from mm_tui.dialogs.rebuild import RebuildDialog
from mm_tui.dialogs.restore import RestoreDialog
from mm_tui.screens.login import LoginScreen
from mm_tui.screens.main import MainScreen
from mm_tui.widgets.forms import YES, Form
from mm_tui.widgets.migration_panel import MigrationPanel
from tests.conftest import AddRecording
from tests.test_console import FAST, account, log_in, run_async, settle
from tests.test_console_forms import SMALL, config_form, open_tab
from tests.test_contact_recorder import generate
from tests.test_job_queue import in_process_service, text_of, wait_until
from tests.test_rebuild import CALLS, catalogue, ingest

BACKUP_PASSWORD = "backup password 1"


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


def panel(app: MMApp) -> MigrationPanel:
    return app.screen.query_one(MigrationPanel)


def migration_rows(engine: Engine) -> list[str]:
    rows = engine.db.query(
        "SELECT r.path FROM recordings r JOIN migrated_recordings m ON m.recording_id = r.id"
    )
    return sorted(str(r["path"]) for r in rows)


async def ask_to_migrate(pilot: Pilot[None], source: Path | str, connectors: str = "") -> Form:
    await open_tab(pilot, "migration")
    form = panel(pilot.app).query_one(Form)  # type: ignore[arg-type]
    form.set_value("source", str(source))
    form.set_value("connectors", connectors)
    form.focus_field("source")
    form.submit()
    await settle(pilot)
    return form


async def finish(pilot: Pilot[None], dialog: JobDialog) -> None:
    await wait_until(pilot, lambda: dialog.finished)
    await settle(pilot)


# -- the Migration tab -------------------------------------------------------------------------
@run_async
async def test_a_legacy_tree_migrates_from_the_tab_with_progress_then_the_summary(
    fast_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 10)  # several batches, so several progress steps
    source = tmp_path / "cr"
    truth = generate(source, 50, faults=0.1)
    expected = sorted(t["path"] for t in truth if t["expect"] == "migrated")
    skipped = Counter(t["category"] for t in truth if t["expect"] == "skipped")
    assert skipped and expected
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    seen: list[tuple[int, int]] = []

    def hook(message: Message) -> None:
        if isinstance(message, JobDialog.Progressed):
            seen.append((message.done, message.total))

    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL, message_hook=hook) as pilot:
        await log_in(pilot, "alice")
        await ask_to_migrate(pilot, source)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog)
        assert str(source) in str(confirm.query_one("#confirm-question", Static).render())
        await pilot.press("y")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, JobDialog)
        await finish(pilot, dialog)
        assert seen[-1] == (50, 50)
        assert text_of(dialog, "#job-counts").startswith(
            f"100% · 50 of 50 records: {len(expected)} migrated, {sum(skipped.values())} skipped"
        )
        assert text_of(dialog, "#job-summary").startswith(
            f"Done: {len(expected)} of 50 records migrated"
        )
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        summary = text_of(app.screen, "#migration-summary")
        assert f"Migrated {len(expected)} of 50 records from {source}" in summary
        assert f"Skipped {sum(skipped.values())}:" in summary
        for category, count in skipped.items():
            assert f"  {category}: {count}\n" in summary + "\n"
        assert "Connectors created" in summary and "Migrated1-" in summary
        assert "Not migrated, as intended: 6 settings, 3 alarms." in summary
    assert migration_rows(fast_engine) == expected
    names = [c.name for c in fast_engine.connectors.list()]
    assert len(names) == 4 and all(n.startswith("Migrated") for n in names)


class Interrupt(Exception):
    pass


@run_async
async def test_a_run_after_an_interrupted_one_undoes_it_first_and_says_so(
    fast_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 10)
    source = tmp_path / "cr"
    truth = generate(source, 30, faults=0.0)
    account(fast_engine, "alice", Role.ADMINISTRATOR)

    def stop_after_first_batch(p: importer.MigrationProgress) -> None:
        if p.phase == "migrating" and p.done:
            raise Interrupt

    with pytest.raises(Interrupt):
        Session(fast_engine, SYSTEM).migrate_contact_recorder(source, None, stop_after_first_batch)
    assert len(migration_rows(fast_engine)) == 10
    first_connectors = {c.name for c in fast_engine.connectors.list()}
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "alice")
        await ask_to_migrate(pilot, source)
        await pilot.press("y")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, JobDialog)
        await finish(pilot, dialog)
        await pilot.press("escape")
        await settle(pilot)
        summary = text_of(app.screen, "#migration-summary")
        removed = next(line for line in summary.splitlines() if line.startswith("First removed"))
        assert removed.startswith("First removed what the interrupted run migrated: 10 recordings")
        assert len(first_connectors) == 4 and all(name in removed for name in first_connectors)
        assert "Migrated 30 of 30 records" in summary
    assert migration_rows(fast_engine) == sorted(t["path"] for t in truth)
    assert len(fast_engine.connectors.list()) == 4  # the interrupted run's were removed


@run_async
async def test_a_bad_source_is_named_beside_its_field_and_starts_nothing(
    fast_engine: Engine, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "alice")
        form = await ask_to_migrate(pilot, tmp_path / "missing")
        assert form.error("source") == f"{tmp_path / 'missing'} does not exist."
        assert isinstance(app.screen, MainScreen)
        form = await ask_to_migrate(pilot, a_file)
        assert "is a file; give the folder" in form.error("source")
        form = await ask_to_migrate(pilot, "cr/relative")
        assert "full path" in form.error("source")
        form = await ask_to_migrate(pilot, tmp_path, str(tmp_path / "connectors.xml"))
        assert form.error("source") == ""
        assert form.error("connectors") == f"{tmp_path / 'connectors.xml'} does not exist."
        assert isinstance(app.screen, MainScreen)
        assert not panel(app).query_one("#migration-summary").display
    jobs = fast_engine.db.query("SELECT id FROM jobs WHERE kind = ?", (importer.KIND,))
    assert jobs == [] and migration_rows(fast_engine) == []


@run_async
async def test_a_standard_user_reads_the_explanation_and_cannot_migrate(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "sam", Role.STANDARD)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "sam")
        await open_tab(pilot, "migration")
        shown = panel(app)
        intro = text_of(shown, "#migration-intro")
        assert "stays where it is" in intro and "MigratedX-" in intro
        assert "Alarms and settings are not migrated" in intro
        assert "only administrators may migrate from Contact Recorder" in text_of(
            shown, "#migration-read-only"
        )
        assert not shown.query(Form) and not shown.query(Button)


@run_async
async def test_beside_a_service_the_service_migrates_and_the_tab_shows_its_summary(
    fast_engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "cr"
    truth = generate(source, 20, faults=0.0)
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    svc = in_process_service(fast_engine)
    try:
        app = MMApp(fast_engine, f"service running (pid {os.getpid()})", beside_service=True)
        async with app.run_test(size=SMALL) as pilot:
            await log_in(pilot, "alice")
            await ask_to_migrate(pilot, source)
            question = text_of(app.screen, "#confirm-question")
            assert "the service runs it and must be able to read the folder" in question
            await pilot.press("y")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, QueuedJobDialog)
            await finish(pilot, dialog)
            assert text_of(dialog, "#job-summary").startswith("Done: 20 of 20 records migrated")
            await pilot.press("escape")
            await settle(pilot)
            summary = text_of(app.screen, "#migration-summary")
            assert f"Migrated 20 of 20 records from {source}" in summary
            assert "Nothing was skipped." in summary
    finally:
        svc.stop()
    assert migration_rows(fast_engine) == sorted(t["path"] for t in truth)
    kinds = fast_engine.db.query("SELECT kind, status FROM jobs ORDER BY id")
    assert ("contact_recorder_migration", "done") in [(r["kind"], r["status"]) for r in kinds]


# -- backup and restore ------------------------------------------------------------------------
@run_async
async def test_a_backup_from_the_configuration_tab_opens_with_its_password(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    add_recording(call_id="KEEP1")
    add_recording(call_id="KEEP2")
    target = tmp_path / "nightly.mmb"
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "alice")
        await open_tab(pilot, "configuration")
        config_form(app).focus_field()
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert isinstance(app.screen, BackupDialog)
        form = app.screen.query_one(Form)
        form.set_values({"path": str(target), "password": "short", "again": "short"})
        form.submit()
        await settle(pilot)
        assert "The backup password is too short" in form.error("password")
        form.set_values({"password": BACKUP_PASSWORD, "again": BACKUP_PASSWORD + "x"})
        form.submit()
        await settle(pilot)
        assert form.error("password") == "" and "differ" in form.error("again")
        form.set_values({"path": str(tmp_path / "nowhere" / "b.mmb"), "again": BACKUP_PASSWORD})
        form.submit()
        await settle(pilot)
        assert form.error("path") == f"The folder {tmp_path / 'nowhere'} does not exist."
        assert not target.exists()
        form.set_value("path", str(target))
        form.submit()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, JobDialog)
        await finish(pilot, dialog)
        done = text_of(dialog, "#job-summary")
        assert done.startswith(f"Backed up to {target}: 2 recording(s) catalogued, 1 user(s)")
        assert "Recordings are not included" in done
        await pilot.press("escape")
        await settle(pilot)
        # the same name again needs "Replace"
        config_form(app).focus_field()
        await pilot.press("ctrl+b")
        await settle(pilot)
        form = app.screen.query_one(Form)
        form.set_values(
            {"path": str(target), "password": BACKUP_PASSWORD, "again": BACKUP_PASSWORD}
        )
        form.submit()
        await settle(pilot)
        assert "exists there: tick Replace" in form.error("path")
        await pilot.press("escape")
    fresh = tmp_path / "fresh"
    with pytest.raises(WrongPassword):
        restore_backup(fresh, target, "not the password", actor="test")
    result = restore_backup(fresh, target, BACKUP_PASSWORD, actor="test")
    assert result.manifest.counts["recordings"] == 2 and result.recordings == 2
    with Engine(fresh) as restored:
        assert {r["call_id"] for r in restored.db.query("SELECT call_id FROM recordings")} == {
            "KEEP1",
            "KEEP2",
        }


@run_async
async def test_a_restore_from_the_console_brings_a_deleted_recording_back_then_logs_out(
    fast_engine: Engine, add_recording: AddRecording, home: Path, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    add_recording(call_id="STAYS")
    gone = add_recording(call_id="DELETED")
    backup = tmp_path / "before.mmb"
    Session(fast_engine, SYSTEM).backup_create(backup, BACKUP_PASSWORD)
    Session(fast_engine, SYSTEM).delete([gone.id])
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "alice")
        await open_tab(pilot, "configuration")
        config_form(app).focus_field()
        await pilot.press("ctrl+t")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RestoreDialog)
        assert "logs you out" in text_of(dialog, "#restore-intro")
        form = dialog.query_one(Form)
        form.set_values({"path": str(backup), "password": "wrong password"})
        form.submit()
        await settle(pilot)
        assert (
            form.error("password") == "The password does not open before.mmb. Nothing was changed."
        )
        assert app.screen is dialog and app.engine is fast_engine
        form.set_value("password", BACKUP_PASSWORD)
        form.submit()
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await pilot.pause()
        progress = app.screen
        assert isinstance(progress, JobDialog)
        await finish(pilot, progress)
        said = text_of(progress, "#job-summary")
        assert said.startswith("Restored before.mmb")
        assert "The old database and keys are kept as *.before-restore-" in said
        assert "1 of 2 recording file(s) are missing" in said  # storage_advice: its file went
        assert "Log in again" in said
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.engine is not fast_engine and app.session is None
        await log_in(pilot, "alice")
        assert isinstance(app.screen, MainScreen)
    with Engine(home) as reopened:
        rows = reopened.db.query("SELECT call_id FROM recordings ORDER BY call_id")
        assert [r["call_id"] for r in rows] == ["DELETED", "STAYS"]
        restores = [
            e
            for e in reopened.audit.list(None, limit=100).items
            if e.user == "alice" and e.details.get("op") == "backup restore"
        ]
        assert len(restores) == 1 and restores[0].details["file"] == str(backup)
    assert list(home.glob("mm.db.before-restore-*"))


@run_async
async def test_a_console_running_the_engine_role_stops_it_restores_and_starts_it_again(
    fast_engine: Engine, add_recording: AddRecording, home: Path, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    kept = add_recording(call_id="KEPT")
    backup = tmp_path / "b.mmb"
    Session(fast_engine, SYSTEM).backup_create(backup, BACKUP_PASSWORD)
    fast_engine.db.execute_write("DELETE FROM recordings WHERE id = ?", (kept.id,))
    lock = EngineLock(home / "engine.lock")
    svc = in_process_service(fast_engine)  # what plain `mm` runs beside its console
    try:
        app = MMApp(fast_engine, "embedded engine", service=svc)
        async with app.run_test(size=SMALL) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "configuration")
            config_form(app).focus_field()
            await pilot.press("ctrl+t")
            await settle(pilot)
            form = app.screen.query_one(Form)
            form.set_values(
                {"path": str(backup), "password": BACKUP_PASSWORD, "storage": "/no/such/disk"}
            )
            form.submit()
            await settle(pilot)
            assert form.error("storage") == "/no/such/disk is not a folder on this machine."
            form.set_value("storage", "")
            form.submit()
            await settle(pilot)
            await pilot.press("y")
            await pilot.pause()
            progress = app.screen
            assert isinstance(progress, JobDialog)
            await finish(pilot, progress)
            assert "All 1 recording file(s) are in place." in text_of(progress, "#job-summary")
            assert app.service is not None and app.service is not svc
            assert lock.holder() == os.getpid() and lock.is_held_elsewhere()
            assert app.status == "embedded engine"
            await pilot.press("escape")
            await settle(pilot)
            await log_in(pilot, "alice")
            assert "embedded engine" in app.screen.sub_title
    finally:
        svc.stop()
    assert not lock.is_held_elsewhere()  # the console let go of what it started
    with Engine(home) as reopened:
        assert [r["call_id"] for r in reopened.db.query("SELECT call_id FROM recordings")] == [
            "KEPT"
        ]


@run_async
async def test_restore_beside_a_running_service_is_refused_with_what_to_do(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    app = MMApp(fast_engine, "service running (pid 4242)", beside_service=True)
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "alice")
        await open_tab(pilot, "configuration")
        config_form(app).focus_field()
        await pilot.press("ctrl+t")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RestoreDialog)
        refusal = text_of(dialog, "#restore-read-only")
        assert "service running (pid 4242)" in refusal and "systemctl stop mm" in refusal
        assert "mm backup restore --force FILE" in refusal
        assert not dialog.query("#restore-submit")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and app.engine is fast_engine


# -- rebuilding the catalogue ------------------------------------------------------------------
@run_async
async def test_a_rebuild_from_the_console_brings_deleted_rows_back(
    fast_engine: Engine, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    ingest(fast_engine, tmp_path / "handover", CALLS[:4])
    before = catalogue(fast_engine)
    lost = sorted(before)[1:3]
    fast_engine.db.execute_write("DELETE FROM recordings WHERE path IN (?, ?)", (lost[0], lost[1]))
    assert sorted(catalogue(fast_engine)) != sorted(before)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await log_in(pilot, "alice")
        await open_tab(pilot, "configuration")
        config_form(app).focus_field()
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert isinstance(app.screen, RebuildDialog)
        form = app.screen.query_one(Form)
        assert form.value("source") == "local" and form.value("merge") == YES
        form.submit()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, JobDialog)
        await finish(pilot, dialog)
        said = text_of(dialog, "#job-summary")
        assert "4 recording file(s), 2 added, 2 already catalogued" in said
        await pilot.press("escape")
        await settle(pilot)
    assert catalogue(fast_engine) == before  # field by field, signatures and verdicts too
