"""The console's forms, driven as a person would: Configuration, Users, Audit, alarm toasts.

Real app, real engine on a real SQLite file; every assertion is something the person sees on
screen or finds in the engine afterwards.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pyzipper  # type: ignore[import-untyped]
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, TabbedContent

from mm_engine.alarms import AlarmType
from mm_engine.audit import AuditAction, AuditFilter
from mm_engine.config import SETTINGS
from mm_engine.engine import Engine
from mm_engine.errors import MMError
from mm_engine.principal import SYSTEM, ReplayScope, Rights, Role
from mm_engine.users import LoginFailed
from mm_tui.app import MMApp
from mm_tui.dialogs.audit_export import AuditExportDialog
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.user_edit import AddUserDialog, EditUserDialog, PasswordDialog
from mm_tui.screens.first_run import FirstRunScreen
from mm_tui.screens.main import MainScreen
from mm_tui.widgets.audit_panel import PAGE_SIZE, ActionsDialog, AuditPanel
from mm_tui.widgets.configuration_form import ConfigurationForm
from mm_tui.widgets.forms import Form
from mm_tui.widgets.users_panel import UsersPanel
from tests.conftest import AddRecording
from tests.test_console import FAST, PASSWORD, account, log_in, run_async, settle

SMALL = (80, 24)  # everything must work in a plain 80x24 terminal


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


@contextmanager
def console(engine: Engine) -> Iterator[tuple[MMApp, list[Notify]]]:
    """The app and the toasts it shows, collected as the app posts them (run_test's hook)."""
    toasts: list[Notify] = []
    app = MMApp(engine, "embedded engine")
    yield app, toasts


def hook_for(toasts: list[Notify]) -> Callable[[Message], None]:
    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            toasts.append(message)

    return hook


async def open_tab(pilot: Pilot[None], tab: str) -> None:
    pilot.app.screen.query_one(TabbedContent).active = tab
    await settle(pilot)


def config_form(app: MMApp) -> Form:
    return app.screen.query_one(ConfigurationForm).query_one(Form)


async def save_configuration(pilot: Pilot[None], **values: str) -> Form:
    form = config_form(pilot.app)  # type: ignore[arg-type]
    for key, text in values.items():
        form.set_value(key, text)
    form.control(next(iter(values))).focus()
    await pilot.press("ctrl+s")
    await settle(pilot)
    return form


def audit_rows(engine: Engine, action: AuditAction, user: str) -> list[dict[str, object]]:
    page = engine.audit.list(AuditFilter(actions=(action,), user_contains=user), limit=500)
    return [e.details for e in page.items if e.user == user]


# -- configuration ----------------------------------------------------------------------------
@run_async
async def test_the_configuration_form_shows_every_setting_with_its_value_and_source(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.config.set("profile", "branch-office")
    fast_engine.config.set("smtp_password", "hunter22")
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "configuration")
            form = config_form(app)
            assert [f.name for f in form.fields] == list(SETTINGS)
            assert [f.name for f in form.fields] == [s["key"] for s in fast_engine.config.show()]
            assert form.value("profile") == "branch-office"
            assert form.value("retention_days") == "180"
            assert form.value("send_email") == "no"
            help_line = str(form.query_one("#configuration-profile-help").render())
            assert help_line.startswith("set")
            assert str(form.query_one("#configuration-retention_days-help").render()).startswith(
                "default"
            )
            secret = form.control("smtp_password")
            assert isinstance(secret, Input) and secret.password
            assert secret.value == ""  # never shown back, not even masked text to edit
            assert "********" in secret.placeholder


@run_async
async def test_a_bad_value_shows_the_engine_message_beside_the_field_and_changes_nothing(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    alarms_before = len(fast_engine.alarms.list())
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "configuration")
            form = await save_configuration(pilot, profile="lab", retention_days="soon")
            assert "Setting 'retention_days': 'soon' is not a whole number" in form.error(
                "retention_days"
            )
            assert form.error("profile") == ""
            assert form.control("retention_days").has_focus
            assert form.value("retention_days") == "soon"  # what was typed stays to fix
    assert fast_engine.config.get("profile") == ""
    assert fast_engine.config.get("retention_days") == 180
    assert audit_rows(fast_engine, AuditAction.CONFIGURATION, "alice") == []
    assert len(fast_engine.alarms.list()) == alarms_before


@run_async
async def test_a_good_value_is_saved_audited_and_raises_configuration_changed(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "configuration")
            form = await save_configuration(pilot, retention_days="90", smtp_password="s3cret!!")
            await settle(pilot)
            assert form.value("retention_days") == "90"
            assert str(form.query_one("#configuration-retention_days-help").render()).startswith(
                "set"
            )
            assert form.value("smtp_password") == ""  # the secret is not shown back
            # saving something else with the secret field left empty keeps the secret
            await save_configuration(pilot, profile="hq")
    assert fast_engine.config.get("retention_days") == 90
    assert fast_engine.config.get("smtp_password") == "s3cret!!"
    assert fast_engine.config.get("profile") == "hq"
    rows = audit_rows(fast_engine, AuditAction.CONFIGURATION, "alice")
    assert {"key": "retention_days", "value": 90} in rows
    assert {"key": "smtp_password", "value": "********"} in rows
    assert not any(r.get("key") == "smtp_password" and r.get("value") == "s3cret!!" for r in rows)
    changed = [a for a in fast_engine.alarms.list() if a["type"] == "CONFIGURATION_CHANGED"]
    assert any("retention_days = 90" in a["message"] for a in changed)


@run_async
async def test_moving_the_call_storage_under_recordings_is_refused_with_what_to_do(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    add_recording(call_id="KEEP")
    before = fast_engine.config.get("call_storage_path")
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "configuration")
            await save_configuration(pilot, call_storage_path=str(tmp_path / "elsewhere"))
            dialog = app.screen
            assert isinstance(dialog, ErrorDialog)
            assert str(dialog.query_one("#error-title").render()) == "Refused"
            assert "would make them unreachable" in str(dialog.query_one("#error-message").render())
            assert "mm storage move" in str(dialog.query_one("#error-hint").render())
            await pilot.press("escape")
            await settle(pilot)
            assert config_form(app).value("call_storage_path") == before
    assert fast_engine.config.get("call_storage_path") == before


@run_async
async def test_migrating_the_call_storage_from_the_console_copies_checks_and_switches(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    from mm_tui.dialogs.job_progress import JobDialog
    from mm_tui.dialogs.storage_migrate import StorageMigrateDialog

    account(fast_engine, "alice", Role.ADMINISTRATOR)
    recs = [add_recording() for _ in range(3)]
    new_root = tmp_path / "bigdisk"
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "configuration")
            config_form(app).focus_field()
            await pilot.press("ctrl+o")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, StorageMigrateDialog)
            form = dialog.query_one(Form)
            form.set_value("path", "relative/path")
            form.submit()
            await settle(pilot)
            assert "absolute path" in form.error("path")  # nothing started
            form.set_value("path", str(new_root))
            form.submit()
            await settle(pilot)
            job = app.screen
            assert isinstance(job, JobDialog)
            for _ in range(100):
                if job.finished:
                    break
                await pilot.pause(0.05)
            assert "3 recordings there and checked" in str(job.query_one("#job-summary").render())
            await pilot.press("escape")
            await settle(pilot)
    assert fast_engine.config.get("call_storage_path") == str(new_root)
    assert all((new_root / r.path).exists() for r in recs)
    assert {r.verification.value for r in fast_engine.catalogue.verify(None)} == {"verified"}


@run_async
async def test_a_standard_user_sees_the_configuration_read_only(fast_engine: Engine) -> None:
    account(fast_engine, "sam", Role.STANDARD)
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "sam")
            await open_tab(pilot, "configuration")
            form = config_form(app)
            reason = str(form.query_one("#configuration-read-only").render())
            assert reason == "Read only: only administrators may change the configuration."
            assert form.value("retention_days") == "180"
            assert all(form.control(f.name).disabled for f in form.fields)
            assert not form.query("#configuration-submit")
            actions = {b.binding.action for b in app.active_bindings.values()}
            assert "save" not in actions
            await pilot.press("ctrl+s")
            await settle(pilot)
    assert audit_rows(fast_engine, AuditAction.CONFIGURATION, "sam") == []


# -- users ------------------------------------------------------------------------------------
def users_table(app: MMApp) -> DataTable[str]:
    return app.screen.query_one(UsersPanel).query_one(DataTable)


def user_row(app: MMApp, name: str) -> list[str]:
    table = users_table(app)
    for row in range(table.row_count):
        cells = [str(c) for c in table.get_row_at(row)]
        if cells[0] == name:
            return cells
    raise AssertionError(f"{name} is not listed")


async def select_user(pilot: Pilot[None], name: str) -> None:
    table = users_table(pilot.app)  # type: ignore[arg-type]
    table.focus()
    names = [str(table.get_row_at(r)[0]) for r in range(table.row_count)]
    table.move_cursor(row=names.index(name))
    await pilot.pause()


@run_async
async def test_an_administrator_adds_an_end_user_with_f12_rights(fast_engine: Engine) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "users")
            assert user_row(app, "alice")[:3] == ["alice", "administrator", "everything"]
            users_table(app).focus()
            await pilot.press("a")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, AddUserDialog)
            dialog.form.set_values(
                {
                    "name": "eve",
                    "role": "end_user",
                    "password": PASSWORD,
                    "again": "not the same",
                }
            )
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "differ" in dialog.form.error("again")
            assert app.screen is dialog  # nothing sent, still open
            dialog.form.set_values(
                {
                    "again": PASSWORD,
                    "replay": "yes",
                    "scope": "mine",
                    "extension": "201",
                    "groups": "Sales;Support",
                    "others": "202;0301234567",
                    "download": "yes",
                }
            )
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, MainScreen)
            row = user_row(app, "eve")
            assert row[1] == "end-user"
            assert row[2] == (
                "replay mine (201), groups Sales;Support, others 202;0301234567, download"
            )
            assert row[4] == "never"
    eve = fast_engine.users.get(SYSTEM, "eve")
    assert eve.role is Role.END_USER
    assert eve.rights.replay_scope is ReplayScope.MINE
    assert eve.rights.others == ("202", "0301234567")
    assert eve.rights.download
    added = audit_rows(fast_engine, AuditAction.USER, "alice")
    assert any(r["op"] == "add" and r["name"] == "eve" for r in added)
    fast_engine.users.authenticate("eve", PASSWORD)


@run_async
async def test_the_others_list_is_checked_beside_the_field(fast_engine: Engine) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "users")
            users_table(app).focus()
            await pilot.press("a")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, AddUserDialog)
            others = dialog.form.control("others")
            assert isinstance(others, Input) and others.max_length == 128
            dialog.form.set_values(
                {"name": "eve", "password": PASSWORD, "again": PASSWORD, "others": "20 1;x/y"}
            )
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "is not a line number, account code or extension" in dialog.form.error("others")
    with pytest.raises(MMError):
        fast_engine.users.get(SYSTEM, "eve")


@run_async
async def test_edit_rights_reset_password_and_remove_go_through_the_engine(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    account(fast_engine, "bob", Role.STANDARD)
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "users")
            # edit: bob becomes an end user who may replay everything
            await select_user(pilot, "bob")
            await pilot.press("e")
            await settle(pilot)
            edit = app.screen
            assert isinstance(edit, EditUserDialog)
            assert edit.form.value("role") == "standard"
            edit.form.set_values({"role": "end_user", "replay": "yes", "scope": "all"})
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert user_row(app, "bob")[1:3] == ["end-user", "replay all"]
            # reset the password
            await select_user(pilot, "bob")
            await pilot.press("p")
            await settle(pilot)
            reset = app.screen
            assert isinstance(reset, PasswordDialog)
            reset.form.set_values({"password": "a new password", "again": "a new password"})
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, MainScreen)
            # remove the last administrator: the engine refuses, in a dialog
            await select_user(pilot, "alice")
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("y")
            await settle(pilot)
            assert isinstance(app.screen, ErrorDialog)
            assert "last administrator" in str(app.screen.query_one("#error-message").render())
            await pilot.press("escape")
            await settle(pilot)
            # remove bob, after confirming
            await select_user(pilot, "bob")
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("y")
            await settle(pilot)
            assert users_table(app).row_count == 1
            assert user_row(app, "alice")[0] == "alice"
    with pytest.raises(MMError):
        fast_engine.users.get(SYSTEM, "bob")
    ops = [(r["op"], r["name"]) for r in audit_rows(fast_engine, AuditAction.USER, "alice")]
    assert {("set", "bob"), ("passwd", "bob"), ("remove", "bob")} <= set(ops)


@run_async
async def test_a_reset_password_is_the_one_that_logs_in(fast_engine: Engine) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    account(fast_engine, "bob", Role.STANDARD)
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "users")
            await select_user(pilot, "bob")
            await pilot.press("p")
            await settle(pilot)
            assert isinstance(app.screen, PasswordDialog)
            app.screen.form.set_values({"password": "fresh password", "again": "fresh password"})
            await pilot.press("ctrl+s")
            await settle(pilot)
    assert fast_engine.users.authenticate("bob", "fresh password").name == "bob"
    with pytest.raises(LoginFailed):
        fast_engine.users.authenticate("bob", PASSWORD)


# -- audit ------------------------------------------------------------------------------------
def audit_table(app: MMApp) -> DataTable[str]:
    return app.screen.query_one(AuditPanel).query_one(DataTable)


def shown_users(app: MMApp) -> set[str]:
    table = audit_table(app)
    return {str(table.get_row_at(r)[1]) for r in range(table.row_count)}


def shown_actions(app: MMApp) -> set[str]:
    table = audit_table(app)
    return {str(table.get_row_at(r)[2]) for r in range(table.row_count)}


async def apply_audit_filters(pilot: Pilot[None], **fields: str) -> None:
    panel = pilot.app.screen.query_one(AuditPanel)
    for name, value in fields.items():
        panel.query_one(f"#audit-{name}", Input).value = value
    panel.query_one("#audit-user", Input).focus()
    await pilot.press("enter")
    await settle(pilot)


@run_async
async def test_audit_filters_narrow_the_rows_and_clear_brings_them_back(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.audit.record(None, "bob", AuditAction.SEARCH, {"terms": ["201"]})
    fast_engine.audit.record(None, "bob", AuditAction.DOWNLOAD, {"id": 7})
    fast_engine.audit.record(None, "carol", AuditAction.REPLAY, {"id": 8})
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "audit")
            assert {"alice", "bob", "carol"} <= shown_users(app)
            await apply_audit_filters(pilot, user="bo")
            assert shown_users(app) == {"bob"}
            assert shown_actions(app) == {"search", "download"}
            # event types: pick "download" only
            audit_table(app).focus()
            await pilot.press("t")
            await settle(pilot)
            picker = app.screen
            assert isinstance(picker, ActionsDialog)
            picker.query_one("SelectionList").select("download")  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert shown_actions(app) == {"download"}
            assert str(app.screen.query_one("#audit-types", Button).label) == "Types: download"
            # a date range before any event: nothing
            await apply_audit_filters(pilot, **{"from": "2001-01-01", "to": "2001-01-02"})
            assert audit_table(app).row_count == 0
            assert "No events match" in str(app.screen.query_one("#audit-status").render())
            # today includes them again
            today = datetime.now().astimezone().date().isoformat()
            await apply_audit_filters(pilot, **{"from": today, "to": today})
            assert shown_actions(app) == {"download"}
            audit_table(app).focus()
            await pilot.press("c")
            await settle(pilot)
            assert {"alice", "bob", "carol"} <= shown_users(app)
            assert {"search", "download", "replay", "login"} <= shown_actions(app)


@run_async
async def test_the_audit_view_loads_a_page_at_a_time(fast_engine: Engine) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    for i in range(PAGE_SIZE + 30):
        fast_engine.audit.record(None, "bot", AuditAction.SEARCH, {"n": i})
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "audit")
            table = audit_table(app)
            assert table.row_count == PAGE_SIZE
            table.focus()
            await pilot.press("n")
            await settle(pilot)
            assert 30 <= table.row_count < PAGE_SIZE
            status = str(app.screen.query_one("#audit-status").render())
            assert status.startswith(f"events {PAGE_SIZE + 1}–")
            await pilot.press("p")
            await settle(pilot)
            assert table.row_count == PAGE_SIZE


@run_async
async def test_export_writes_an_aes_zip_that_opens_with_the_password(
    fast_engine: Engine, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.audit.record(None, "bob", AuditAction.DOWNLOAD, {"id": 7})
    fast_engine.audit.record(None, "carol", AuditAction.REPLAY, {"id": 8})
    target = tmp_path / "bob.zip"
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            await open_tab(pilot, "audit")
            await apply_audit_filters(pilot, user="bob")
            audit_table(app).focus()
            await pilot.press("e")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, AuditExportDialog)
            form = dialog.query_one(Form)
            form.set_values({"password": "zip password", "again": "zip passw0rd"})
            form.set_value("path", str(target))
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "differ" in form.error("again")
            assert not target.exists()
            form.set_values({"password": "zip password", "again": "zip password"})
            await pilot.press("ctrl+s")
            await settle(pilot)
            done = str(dialog.query_one("#export-done").render())
            assert f"Wrote 1 event(s) to\n{target}" in done
            await pilot.press("escape")
            await settle(pilot)
            assert str(target) in str(app.screen.query_one("#audit-status").render())
    with pytest.raises(RuntimeError), pyzipper.AESZipFile(target) as zf:  # no password: no CSV
        zf.read(zf.namelist()[0])
    with pyzipper.AESZipFile(target) as zf:
        assert zf.infolist()[0].wz_aes_strength == 3  # WinZip AES-256
        zf.setpassword(b"zip password")
        text = zf.read(zf.namelist()[0]).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "time", "user", "action", "details"]
    assert [(r[2], r[3]) for r in rows[1:]] == [("bob", "download")]
    exports = audit_rows(fast_engine, AuditAction.AUDIT, "alice")
    assert any(r.get("op") == "export" and r.get("file") == str(target) for r in exports)


# -- alarms -----------------------------------------------------------------------------------
@run_async
async def test_a_new_alarm_after_login_is_toasted_and_old_ones_are_not(
    fast_engine: Engine,
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    fast_engine.alarms.raise_(
        AlarmType.INTERNAL_SERVICE_ERROR, action="start", service="old", reason="before login"
    )
    with console(fast_engine) as (app, toasts):
        app.alarm_poll_seconds = 0.1
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "alice")
            fast_engine.alarms.raise_(
                AlarmType.FILE_PARSE_ERROR, file="call-7.wav", reason="not a WAV file"
            )
            deadline = datetime.now(UTC) + timedelta(seconds=60)
            while not any("call-7.wav" in t.notification.message for t in toasts):
                assert datetime.now(UTC) < deadline, "no toast for the new alarm"
                await pilot.pause(0.1)
            await pilot.pause(0.5)  # more polls: the old alarm must still not show
            await settle(pilot)
    alarm_toasts = [t.notification for t in toasts if t.notification.title.startswith("Alarm")]
    assert len(alarm_toasts) == 1
    toast = alarm_toasts[0]
    assert toast.title == "Alarm (minor): FILE_PARSE_ERROR"
    assert toast.severity == "warning"
    assert "Failed to parse file call-7.wav" in toast.message
    assert not any("before login" in t.notification.message for t in toasts)


@run_async
async def test_end_users_get_no_alarm_polling(fast_engine: Engine) -> None:
    account(fast_engine, "eve", Role.END_USER, Rights(replay_enabled=True))
    with console(fast_engine) as (app, toasts):
        app.alarm_poll_seconds = 0.1
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await log_in(pilot, "eve")
            fast_engine.alarms.raise_(AlarmType.FILE_PARSE_ERROR, file="x.wav", reason="bad")
            await pilot.pause(0.5)
            await settle(pilot)
    assert not [t for t in toasts if t.notification.title.startswith("Alarm")]
    assert audit_rows(fast_engine, AuditAction.ALARM, "eve") == []  # no refused polls


# -- first run on the shared form --------------------------------------------------------------
@run_async
async def test_first_run_shows_differing_passwords_beside_the_field(fast_engine: Engine) -> None:
    with console(fast_engine) as (app, toasts):
        async with app.run_test(size=SMALL, message_hook=hook_for(toasts)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, FirstRunScreen)
            form = screen.query_one(Form)
            form.set_values({"user": "boss", "password": PASSWORD, "again": "other words"})
            form.focus_field("again")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, FirstRunScreen)
            assert "differ" in form.error("again")
            assert form.control("password").has_focus
            assert form.value("password") == "" and form.value("again") == ""
    assert fast_engine.users.count() == 0


@run_async
async def test_a_failing_panel_worker_shows_the_error_dialog(
    fast_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's failure reaches only its own widget; the panel must still show it."""
    from mm_engine.session import Session

    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.alarms.raise_(
        AlarmType.INTERNAL_SERVICE_ERROR, action="run", service="test", reason="boom"
    )

    def broken(self: Session, ids: object) -> None:
        raise MMError("The alarm store is unavailable.", "Try again later.")

    monkeypatch.setattr(Session, "alarms_acknowledge", broken)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        app.screen.query_one(TabbedContent).active = "alarms"
        await pilot.pause()
        alarms = app.screen.query_one("#alarms-table", DataTable)
        alarms.focus()
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ErrorDialog)
        message = app.screen.query_one("#error-message").render()
        assert "alarm store is unavailable" in str(message)
