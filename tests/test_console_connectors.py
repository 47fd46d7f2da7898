"""The console's Connectors tab (F14-F22), driven as a person would: real app, real engine, real
local-folder connectors, the real S3 servers of tests/stores/s3.py where a remote matters, and
for Google Drive the local double of Google's endpoints (tests/drive_double.py): Google offers no
server that can run here, so the device sign-in is approved in the double instead of on a phone.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Select, Static, TabbedContent
from textual.widgets._footer import FooterKey

from mm_engine.engine import Engine
from mm_engine.principal import Role
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.connector_edit import ENCRYPT_WARNING, ConnectorEditDialog
from mm_tui.dialogs.device_flow import DeviceFlowDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.widgets.connectors_panel import ConnectorsPanel
from mm_tui.widgets.forms import Form
from tests.conftest import AddRecording
from tests.drive_double import DriveDouble
from tests.stores.s3 import S3RVER_BUCKET, S3Server
from tests.test_console import FAST, account, log_in, run_async, settle

SIZE = (100, 30)
SMALL = (80, 24)


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition`` holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await pilot.pause(0.05)


async def open_tab(pilot: Pilot[None], user: str) -> ConnectorsPanel:
    await pilot.pause()
    await log_in(pilot, user)
    app = pilot.app
    app.screen.query_one(TabbedContent).active = "connectors"
    await pilot.pause()
    app.screen.query_one("#connectors-table", DataTable).focus()
    await settle(pilot)
    return app.screen.query_one(ConnectorsPanel)


def rows(app: MMApp) -> list[list[str]]:
    table = app.screen.query_one("#connectors-table", DataTable)
    return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]


def select_row(app: MMApp, name: str) -> None:
    table = app.screen.query_one("#connectors-table", DataTable)
    names = [r[0] for r in rows(app)]
    table.move_cursor(row=names.index(name))


def dialog(app: App[Any]) -> ConnectorEditDialog:
    assert isinstance(app.screen, ConnectorEditDialog), type(app.screen).__name__
    return app.screen


def fill(app: MMApp, **values: str) -> None:
    """Type into the connector form: ``name`` or a setting's name."""
    form = dialog(app).query_one(Form)
    for key, value in values.items():
        form.set_value(key if key in ("name", "encrypt") else f"set_{key}", value)


async def choose_type(pilot: Pilot[None], kind: str) -> None:
    dialog(pilot.app).query_one("#connector-edit-type", Select).value = kind
    await settle(pilot)


def beside(app: MMApp, field: str) -> str:
    """The message shown beside a form field."""
    form = dialog(app).query_one(Form)
    return form.error(field if field in ("name", "encrypt") else f"set_{field}")


def configuration_audit(engine: Engine, user: str) -> list[dict[str, Any]]:
    return [
        e.details
        for e in engine.audit.list(None, limit=500).items
        if e.user == user and e.action == "configuration"
    ]


def folder(tmp_path: Path, name: str) -> dict[str, str]:
    return {"path": str(tmp_path / name)}


# -- the list ---------------------------------------------------------------------------------
@run_async
async def test_the_list_shows_the_seed_columns_for_every_connector(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    fast_engine.connectors.add("Old disk", "local", folder(tmp_path, "old"), encrypt=True)
    fast_engine.connectors.activate("Old disk")
    add_recording(call_id="A1")
    fast_engine.archiver.run_once()
    fast_engine.connectors.activate("NAS")
    add_recording(call_id="B2")
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(pilot, "alice")
        header = [
            str(c.label)
            for c in app.screen.query_one("#connectors-table", DataTable).columns.values()
        ]
        assert header == ["name", "type", "active", "accessible", "pending", "last archive"]
        nas, old = rows(app)
        assert nas[:5] == ["NAS", "local", "yes", "not tested", "2"]
        assert nas[5] == "never"
        assert old[:5] == ["Old disk", "local", "", "ok", ""]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", old[5])  # local time
        assert "NAS has not been tested yet." in panel.detail()
        select_row(app, "Old disk")
        await pilot.pause()
        assert "succeeded" in panel.detail() and "Encrypts recordings." in panel.detail()


@run_async
async def test_the_list_follows_what_the_service_archives_meanwhile(
    fast_engine: Engine,
    add_recording: AddRecording,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ConnectorsPanel, "REFRESH_SECONDS", 0.2)
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    fast_engine.connectors.activate("NAS")
    add_recording()
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        assert rows(app)[0][4] == "1"
        assert fast_engine.archiver.run_once().archived == 1  # the service's scheduled run
        await until(pilot, lambda: rows(app)[0][4] == "0", "the list to catch up")
        assert rows(app)[0][3] == "ok" and rows(app)[0][5] != "never"


@run_async
async def test_every_action_key_fits_the_footer_at_80_columns(
    fast_engine: Engine, tmp_path: Path, drive_double: DriveDouble
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("Drive", "gdrive", drive_double.settings("mm/fit"))
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await open_tab(pilot, "alice")
        select_row(app, "Drive")  # a Google Drive row also offers the sign-in
        await settle(pilot)
        keys = {k.description: k.region for k in app.screen.query(FooterKey)}
        palette = next(
            k.region for k in app.screen.query(FooterKey) if "-command-palette" in k.classes
        )
        mine = ["Add", "Edit", "Test", "Activate", "Delete", "Archive now", "Sign in"]
        assert set(mine) <= set(keys)
        assert all(keys[d].right <= palette.x for d in mine), keys
        table = app.screen.query_one("#connectors-table", DataTable)
        assert table.size.height >= 10  # the list keeps most of the screen


# -- adding and changing ----------------------------------------------------------------------
@run_async
async def test_a_bad_field_is_named_beside_it_and_nothing_is_saved(
    fast_engine: Engine, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        await pilot.press("a")
        await settle(pilot)
        await choose_type(pilot, "local")
        fill(app, name="nas", path="relative/folder")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "exists already" in beside(app, "name")
        assert beside(app, "path") == "Folder must be an absolute path"
        assert "Nothing was saved" in str(app.screen.query_one("#connector-form-message").render())

        fill(app, name="Disk")  # the engine refuses the path too when only the name is fixed
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert beside(app, "name") == ""
        assert beside(app, "path") == "Folder must be an absolute path"
        assert isinstance(app.screen, ConnectorEditDialog)
    assert [c.name for c in fast_engine.connectors.list()] == ["NAS"]
    assert not any(
        d.get("op") == "connector add" for d in configuration_audit(fast_engine, "alice")
    )


@run_async
async def test_a_good_connector_is_added_listed_and_audited_with_encryption_on(
    fast_engine: Engine, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(pilot, "alice")
        assert "No connectors yet. Press a to add one." in panel.detail()
        await pilot.press("a")
        await settle(pilot)
        await choose_type(pilot, "local")
        fill(app, name="Vault", path=str(tmp_path / "vault"))
        form = dialog(app).query_one(Form)
        assert ENCRYPT_WARNING in str(form.query_one("#connector-form-encrypt-help").render())
        form.query_one("#connector-form-encrypt", Checkbox).value = True
        await pilot.pause()
        assert "never be switched off" in str(form.query_one("#connector-form-message").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, ConnectorEditDialog)
        assert rows(app) == [["Vault", "local", "", "not tested", "", "never"]]
        assert "Added Vault." in panel.status()

        await pilot.press("e")  # once on, the checkbox cannot be switched off
        await settle(pilot)
        encrypt = dialog(app).query_one("#connector-form-encrypt", Checkbox)
        assert encrypt.value and encrypt.disabled
        await pilot.press("escape")
    info = fast_engine.connectors.get("Vault")
    assert info.encrypt and info.settings == {"path": str(tmp_path / "vault")}
    [added] = [d for d in configuration_audit(fast_engine, "alice") if d["op"] == "connector add"]
    assert added["name"] == "Vault" and added["type"] == "local" and added["encrypt"] is True


@run_async
async def test_a_form_tests_its_settings_and_secrets_stay_unless_typed_again(
    fast_engine: Engine, moto_s3: S3Server, s3_bucket: str, s3rver: S3Server
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        await pilot.press("a")
        await settle(pilot)
        await choose_type(pilot, "s3")
        wrong = s3rver.settings(
            S3RVER_BUCKET, access_key_id="AKIAWRONGKEY0000", secret_access_key="not-the-secret"
        )
        fill(app, name="Cloud", **wrong)
        await pilot.press("ctrl+t")
        await settle(pilot)
        said = dialog(app).verdict()
        assert said.startswith("✗ Connector Cloud is not accessible: it refused access")
        assert "not-the-secret" not in said

        fill(app, **moto_s3.settings(s3_bucket))
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert dialog(app).verdict() == "✓ Connector Cloud is accessible."
        assert fast_engine.connectors.list() == []  # testing saves nothing
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert rows(app)[0][:2] == ["Cloud", "s3"]

        await pilot.press("e")
        await settle(pilot)
        secret = dialog(app).query_one("#connector-form-set_secret_access_key", Input)
        assert secret.value == "" and secret.password
        assert secret.placeholder == "•••• kept; type to replace"
        fill(app, folder="moved/here")
        await pilot.press("ctrl+t")  # an edit is tested with the saved secret
        await settle(pilot)
        assert dialog(app).verdict() == "✓ Connector Cloud is accessible."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, ConnectorEditDialog)
    info = fast_engine.connectors.get("Cloud")
    assert info.settings["folder"] == "moved/here"
    assert info.settings["secret_access_key"] == "••••"
    assert fast_engine.connectors.secrets_of(info.id) == {"secret_access_key": moto_s3.secret}
    [edit] = [d for d in configuration_audit(fast_engine, "alice") if d["op"] == "connector edit"]
    assert edit["changed"] == ["folder"] and moto_s3.secret not in str(edit)


@run_async
async def test_a_key_file_field_reads_the_file_named_and_checks_it(
    fast_engine: Engine, tmp_path: Path
) -> None:
    """A one-line field cannot take a pasted multi-line JSON key: it takes the file's path."""
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    user_key = tmp_path / "user-key.json"
    user_key.write_text('{\n  "type": "authorized_user",\n  "client_id": "x"\n}\n')
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        await pilot.press("a")
        await settle(pilot)
        await choose_type(pilot, "gcs")
        fill(app, name="Bucket", bucket="acme-calls", service_account_json=str(tmp_path / "no"))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert beside(app, "service_account_json").startswith("Cannot read the file")
        fill(app, service_account_json=str(user_key))
        await pilot.press("ctrl+s")
        await settle(pilot)
        problem = beside(app, "service_account_json")
        assert "has type 'authorized_user', not 'service_account'" in problem
    assert fast_engine.connectors.list() == []


# -- testing, activating, deleting ------------------------------------------------------------
@run_async
async def test_test_shows_the_verdict_and_activate_switches(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fast_engine.connectors.add("Blocked", "local", {"path": str(blocker / "archive")})
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    add_recording()
    add_recording()
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(pilot, "alice")
        await pilot.press("t")
        await settle(pilot)
        assert rows(app)[0][3] == "unreachable"
        assert panel.detail().startswith(
            "Connector Blocked is not accessible: it cannot be reached"
        )
        select_row(app, "NAS")
        await pilot.press("t")
        await settle(pilot)
        assert rows(app)[1][3] == "ok"
        assert panel.detail().startswith("Connector NAS is accessible.")

        await pilot.press("v")
        await settle(pilot)
        assert rows(app)[1][:5] == ["NAS", "local", "yes", "ok", "2"]
        assert "NAS is the active connector; 2 recording(s) to archive there." in panel.status()
    assert fast_engine.config.get("active_connector") == "NAS"
    ops = [d["op"] for d in configuration_audit(fast_engine, "alice")]
    assert "connector activate" in ops


@run_async
async def test_delete_asks_and_a_connector_that_archived_is_refused(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("Spare", "local", folder(tmp_path, "spare"))
    fast_engine.connectors.add("Used", "local", folder(tmp_path, "used"))
    fast_engine.connectors.activate("Used")
    add_recording()
    assert fast_engine.archiver.run_once().archived == 1
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        select_row(app, "Used")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "holds 1 archived recording(s)" in str(
            app.screen.query_one("#confirm-question").render()
        )
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ErrorDialog)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "cannot be deleted: it has archived 1 recording(s)" in message
        assert "Activate another connector" in str(app.screen.query_one("#error-hint").render())
        await pilot.press("escape")
        await settle(pilot)

        select_row(app, "Spare")
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("n")  # no: nothing happens
        await settle(pilot)
        assert [r[0] for r in rows(app)] == ["Spare", "Used"]
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert [r[0] for r in rows(app)] == ["Used"]
    assert [c.name for c in fast_engine.connectors.list()] == ["Used"]


# -- archiving now ----------------------------------------------------------------------------
@run_async
async def test_archive_now_copies_the_pending_recordings_with_progress(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    fast_engine.connectors.activate("NAS")
    recordings = [add_recording(call_id=f"CALL-{n}") for n in range(3)]
    progress: list[tuple[int, int]] = []
    shown_at_end: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, ConnectorsPanel.ArchiveProgress):
            progress.append((message.done, message.total))
        elif isinstance(message, ConnectorsPanel.ArchiveDone):
            shown_at_end.append(app.screen.query_one(ConnectorsPanel).progress_shown())

    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        panel = await open_tab(pilot, "alice")
        assert rows(app)[0][4] == "3"
        await pilot.press("n")
        await settle(pilot)
        await until(pilot, lambda: not panel.archiving and rows(app)[0][4] == "0", "archived")
        assert progress and progress[-1] == (3, 3)
        assert shown_at_end[0] == "Archiving: 3 of 3 recording(s)"
        assert panel.progress_shown() == ""  # the bar goes when the run is over
        assert "Archived 3 recording(s) to NAS; 0 pending." in panel.status()
        assert rows(app)[0][5] != "never"
    for rec in recordings:
        with fast_engine.store().open(rec.path) as original:
            assert (tmp_path / "nas" / rec.path).read_bytes() == original.read()
    assert fast_engine.connectors.get("NAS").archived_count == 3
    [run] = [d for d in configuration_audit(fast_engine, "alice") if d["op"] == "archive run"]
    assert run["archived"] == 3 and run["connector"] == "NAS"


@run_async
async def test_archive_now_to_an_unreachable_connector_says_why(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fast_engine.connectors.add("NAS", "local", {"path": str(blocker / "archive")})
    fast_engine.connectors.activate("NAS")
    add_recording()
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ErrorDialog), "the error dialog")
        message = str(app.screen.query_one("#error-message", Static).render())
        assert message.startswith("Connector NAS is not accessible: it cannot be reached")
        hint = str(app.screen.query_one("#error-hint", Static).render())
        assert "Archived in this run: 0; still pending: 1." in hint
        await pilot.press("escape")
        await settle(pilot)
        assert rows(app)[0][3:5] == ["unreachable", "1"]


@run_async
async def test_archive_now_follows_a_run_that_is_already_going(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    """Another process's run (`mm archive run`; here: a row for a live process that is not this
    one) holds the archive lease; the console does not start a second run, it shows that one's
    progress. (Beside a service, archive now is handed to the service: tests/test_job_queue.py.)"""
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    fast_engine.connectors.activate("NAS")
    for _ in range(4):
        add_recording()
    other = subprocess.Popen(["sleep", "300"])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    fast_engine.db.execute_write(
        "INSERT INTO jobs (kind, status, params, progress, total, created_at, updated_at,"
        " owner_pid) VALUES ('archive', 'running', ?, 1, 4, ?, ?, ?)",
        (json.dumps({"token": "t", "connector": "NAS"}), now, now, other.pid),
    )
    try:
        app = MMApp(fast_engine, "embedded engine")
        async with app.run_test(size=SIZE) as pilot:
            panel = await open_tab(pilot, "alice")
            await pilot.press("n")
            await until(pilot, lambda: "1 of 4" in panel.progress_shown(), "the other run")
            assert panel.progress_shown() == (
                f"Another archive run (process {other.pid}) to NAS: 1 of 4 recording(s)"
            )
            [archive] = [b for b in app.active_bindings.values() if b.binding.action == "archive"]
            assert not archive.enabled  # shown dimmed while that run goes on
            result = {"status": "done", "connector": "NAS", "archived": 4, "pending": 0}
            fast_engine.db.execute_write(
                "UPDATE jobs SET status = 'done', progress = 4, result = ? WHERE kind = 'archive'",
                (json.dumps(result),),
            )
            await until(pilot, lambda: panel.progress_shown() == "", "the end of that run")
            # the status line says it once the connectors list has been read again (a worker)
            said = "The other archive run finished: 4 recording(s) archived to NAS"
            await until(pilot, lambda: said in panel.status(), "the other run's summary")
    finally:
        other.kill()
        other.wait()
    assert fast_engine.connectors.get("NAS").archived_count == 0  # this console copied nothing


# -- who may ----------------------------------------------------------------------------------
@run_async
async def test_a_standard_user_sees_the_tab_read_only(fast_engine: Engine, tmp_path: Path) -> None:
    account(fast_engine, "sam", Role.STANDARD)
    fast_engine.connectors.add("NAS", "local", folder(tmp_path, "nas"))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        panel = await open_tab(pilot, "sam")
        assert rows(app)[0][:2] == ["NAS", "local"]
        shown = {k.description for k in app.screen.query(FooterKey)}
        assert "View" in shown
        assert not shown & {"Add", "Edit", "Test", "Activate", "Delete", "Archive now", "Sign in"}
        assert "Read only: only administrators may change connectors." in panel.status()
        for key in ("a", "t", "v", "x", "n"):
            await pilot.press(key)
            await settle(pilot)
            assert not app.screen.is_modal, key
        await pilot.press("e")
        await settle(pilot)
        view = dialog(app)
        assert view.query_one("#connector-form-set_path", Input).disabled
        assert not view.query("#connector-edit-test")
        assert "only administrators may add, change" in str(
            view.query_one("#connector-form-read-only").render()
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is view  # nothing to save
        await pilot.click("#connector-edit-close")
        await settle(pilot)
        assert not app.screen.is_modal
    assert fast_engine.connectors.get("NAS").settings == folder(tmp_path, "nas")
    assert configuration_audit(fast_engine, "sam") == []  # not even a refused attempt


# -- Google Drive sign-in ---------------------------------------------------------------------
async def approve_in_the_double(pilot: Pilot[None], double: DriveDouble) -> DeviceFlowDialog:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, DeviceFlowDialog), "the sign-in dialog")
    flow = app.screen
    assert isinstance(flow, DeviceFlowDialog)
    await until(pilot, lambda: flow.flow is not None, "a code from Google")
    url = str(flow.query_one("#device-flow-url", Static).render())
    code = str(flow.query_one("#device-flow-code", Static).render())
    assert url == f"{double.url}/device"
    assert double.device(code).state == "pending"
    double.approve(code)  # what the person does on their phone
    await pilot.press("c")  # "I have allowed it": ask now rather than in 5 seconds
    await until(pilot, lambda: app.screen is not flow, "the sign-in to finish")
    return flow


@run_async
async def test_a_new_drive_connector_signs_in_before_it_is_saved(
    fast_engine: Engine, drive_double: DriveDouble
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    settings = drive_double.settings(f"mm-tests/{uuid.uuid4().hex[:8]}/archive")
    del settings["refresh_token"]
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        panel = await open_tab(pilot, "alice")
        await pilot.press("a")
        await settle(pilot)
        await choose_type(pilot, "gdrive")
        fill(app, name="Drive", **settings)
        token_field = dialog(app).query_one("#connector-form-set_refresh_token", Input)
        assert token_field.disabled and token_field.placeholder == "not authorized yet"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert beside(app, "refresh_token").startswith("Not authorized yet: sign in with Google")
        assert fast_engine.connectors.list() == []

        await pilot.press("ctrl+g")
        await approve_in_the_double(pilot, drive_double)
        assert isinstance(app.screen, ConnectorEditDialog)
        assert token_field.value == ""  # the token is never shown, not even masked
        assert token_field.placeholder == "new authorization obtained; save to keep it"
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert dialog(app).verdict() == "✓ Connector Drive is accessible."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert rows(app)[0][:2] == ["Drive", "gdrive"]
        await pilot.press("t")
        await settle(pilot)
        assert panel.detail().startswith("Connector Drive is accessible.")
    info = fast_engine.connectors.get("Drive")
    assert info.settings["refresh_token"] == "••••"
    token = fast_engine.connectors.secrets_of(info.id)["refresh_token"]
    assert token.startswith("1//double-refresh-") and token in drive_double.refresh_tokens
    [added] = [d for d in configuration_audit(fast_engine, "alice") if d["op"] == "connector add"]
    assert added["settings"]["refresh_token"] == "••••" and token not in str(added)


@run_async
async def test_a_saved_drive_connector_signs_in_again_from_the_list(
    fast_engine: Engine, drive_double: DriveDouble
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    folder_name = f"mm-tests/{uuid.uuid4().hex[:8]}/archive"
    revoked = drive_double.settings(folder_name, refresh_token="1//revoked-long-ago")
    fast_engine.connectors.add("Drive", "gdrive", revoked)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(pilot, "alice")
        await pilot.press("t")
        await settle(pilot)
        assert rows(app)[0][3] == "denied"
        await pilot.press("g")
        flow = await approve_in_the_double(pilot, drive_double)
        assert flow.connector == "Drive"
        await settle(pilot)
        await until(pilot, lambda: rows(app)[0][3] == "ok", "the new authorization tested")
        assert panel.detail().startswith("Connector Drive is accessible.")
    info = fast_engine.connectors.get("Drive")
    assert fast_engine.connectors.secrets_of(info.id)["refresh_token"].startswith("1//double-")
    [signed] = [
        d for d in configuration_audit(fast_engine, "alice") if d["op"] == "connector authorize"
    ]
    assert signed["name"] == "Drive" and signed["settings"]["refresh_token"] == "••••"


@run_async
async def test_a_declined_sign_in_says_so_and_can_be_cancelled(
    fast_engine: Engine, drive_double: DriveDouble
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("Drive", "gdrive", drive_double.settings("mm-tests/declined"))
    before = fast_engine.connectors.secrets_of(fast_engine.connectors.get("Drive").id)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "alice")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, DeviceFlowDialog), "the dialog")
        flow = app.screen
        assert isinstance(flow, DeviceFlowDialog)
        await until(pilot, lambda: flow.flow is not None, "a code")
        drive_double.deny(str(flow.query_one("#device-flow-code", Static).render()))
        await pilot.press("c")
        await until(pilot, lambda: flow.failed, "the refusal")
        assert "declined access to Google Drive" in flow.status_text()
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen.query_one(ConnectorsPanel), ConnectorsPanel)
        assert not app.screen.is_modal
    assert fast_engine.connectors.secrets_of(fast_engine.connectors.get("Drive").id) == before
