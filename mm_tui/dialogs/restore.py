"""Restore a backup from the console (F4): which file, its password, then a fresh start.

A restore replaces the database and keys under the engine's feet, so the console logs out,
closes its engine (stopping the engine role it runs), restores with ``--force`` semantics (the
current database and keys are moved aside, never deleted), opens the engine again and shows
the login screen: the accounts are now those of the backup. The app does the closing and
reopening (:meth:`mm_tui.app.MMApp.restart_engine`); this module asks, checks and describes.

Beside a running service the console cannot close the engine, so the dialog refuses and says
how to restore instead. The password is checked against the file before anything is closed,
so a wrong one is shown beside its field and changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual.worker import Worker

from mm_engine.backup import (
    BackupError,
    BackupHeader,
    RestoreResult,
    derive_key,
    restore_backup,
    storage_advice,
)
from mm_engine.engine import Engine
from mm_engine.lock import EngineLock
from mm_engine.session import Operation, Session
from mm_engine.storage.crypt import HEADER_SIZE, CryptError, Header
from mm_tui.dialogs.job_progress import beside_service
from mm_tui.i18n import _, plural, tr
from mm_tui.widgets.forms import Form, FormField, label_width, report_failure


@dataclass(frozen=True)
class RestoreRequest:
    path: Path
    password: str
    call_storage_path: str | None = None  # where the recordings are here, if not as backed up


@runtime_checkable
class EngineHost(Protocol):
    """An app that can close its engine, change the data directory and open it again."""

    engine: Engine
    service: Any  # the engine role it runs itself, stopped and started again around the change

    def restart_engine(
        self,
        title: str,
        change: Callable[[Path, Callable[[int, int], None]], Any],
        describe: Callable[[Any], str],
    ) -> None: ...


def service_refusal(status: str) -> str:
    return _(
        "Refused here: a service runs the engine on this data directory ({status}), and a "
        "restore needs every engine on it stopped. Stop the service (systemctl stop mm), then "
        "open the console again and restore from here, or run `mm backup restore --force FILE` "
        "as the service account."
    ).format(status=status)


def restore_refusal(app: App[Any]) -> str:
    """Why this console cannot restore now ("" when it can)."""
    status = str(getattr(app, "status", ""))
    if beside_service(app):
        return service_refusal(status)
    if not isinstance(app, EngineHost):
        return _(
            "This console cannot close its engine. Quit it and run "
            "`mm backup restore --force FILE` while mm is stopped."
        )
    lock = EngineLock(app.engine.data_dir.lock)
    if app.service is None and lock.is_held_elsewhere():  # an engine role it cannot stop
        holder = lock.holder()
        if holder == os.getpid():
            return _(
                "Refused here: this console runs the engine role but cannot stop it for a "
                "restore. Quit it and run `mm backup restore --force FILE`, then open it again."
            )
        return service_refusal(
            _("process {pid}").format(pid=holder) if holder else _("process unknown")
        )
    return ""


def password_problem(path: Path, password: str) -> tuple[str, str]:
    """(field, message) when ``password`` does not open the backup at ``path``, else ("", "").

    Reads only the headers: the key the password gives must have the id the archive header
    names, exactly the check the restore makes before it changes anything."""
    try:
        with open(path, "rb") as fh:
            header = BackupHeader.read(fh, str(path))
            inner = Header.parse(fh.read(HEADER_SIZE))
    except BackupError as exc:
        return "path", tr(exc.message)
    except CryptError:
        return "path", _(
            "{path} is cut short or damaged after its header; use another copy."
        ).format(path=path)
    except OSError as exc:
        return "path", _("{path} cannot be read: {reason}.").format(
            path=path, reason=exc.strerror or exc
        )
    if derive_key(password, header).key_id != inner.key_id:
        return "password", _("The password does not open {name}. Nothing was changed.").format(
            name=path.name
        )
    return "", ""


class RestoreDialog(ModalScreen[RestoreRequest | None]):
    CSS_PATH = "restore.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel"), id="restore.cancel"),
    ]

    @dataclass
    class Checked(Message):
        request: RestoreRequest
        field: str  # "" when the file opens with the password
        problem: str

    def __init__(self, session: Session, refusal: str = "") -> None:
        """``refusal``: why no restore can run from here (a service is running)."""
        super().__init__()
        self.session = session
        self.refusal = refusal

    def compose(self) -> ComposeResult:
        fields = [
            FormField("path", _("Backup file"), placeholder="/root/mm-backup.mmb"),
            FormField(
                "password", _("Password"), kind="password", placeholder=_("the backup password")
            ),
            FormField(
                "storage",
                _("Recordings at"),
                placeholder=_("optional: as in the backup"),
                help=_("the call storage folder, if the recordings are elsewhere on this machine"),
            ),
        ]
        with Vertical(id="restore-box"):
            yield Label(_("Restore a backup"), id="restore-title")
            yield Static(
                _(
                    "Replaces this installation's database, configuration and keys with the "
                    "backup's. The console logs you out, closes its engine, moves the current "
                    "database and keys aside (mm.db.before-restore-<time>, never deleted), "
                    "restores and opens the engine again; then log in with an account of the "
                    "backup. Recordings are not in a backup: they stay where they are."
                ),
                id="restore-intro",
            )
            yield Form(
                fields,
                id="restore",
                submit=_("Restore…"),
                cancel=_("Close") if self.refusal else "",
                read_only=self.refusal,
                label_width=label_width(fields, 12),
            )

    def on_mount(self) -> None:
        if not self.refusal:
            self.query_one(Form).focus_field("path")

    @on(Form.Submitted, "#restore")
    def _submitted(self, event: Form.Submitted) -> None:
        values, form = event.values, event.form
        path = Path(values["path"].strip()).expanduser()
        problems: dict[str, str] = {}
        if not values["path"].strip() or not path.is_absolute():
            problems["path"] = _("Give the full path of the backup file, e.g. /root/mm-backup.mmb.")
        elif not path.exists():
            problems["path"] = _("{path} does not exist.").format(path=path)
        elif not path.is_file():
            problems["path"] = _(
                "{path} is not a file; give the file `mm backup create` wrote."
            ).format(path=path)
        if not values["password"]:
            problems["password"] = _("Give the password the backup was made with.")
        storage = values["storage"].strip()
        if storage and not Path(storage).is_absolute():
            problems["storage"] = _("Give the full path of the folder holding the recordings.")
        elif storage and not Path(storage).is_dir():
            problems["storage"] = _("{path} is not a folder on this machine.").format(path=storage)
        if problems:
            form.show_errors(problems)
            return
        form.say(_("Checking the password…"))
        self._check(RestoreRequest(path, values["password"], storage or None))

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore-check")
    def _check(self, request: RestoreRequest) -> None:
        self.session.require(Operation.BACKUP, op="backup restore", file=str(request.path))
        field, problem = password_problem(request.path, request.password)
        self.post_message(self.Checked(request, field, problem))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        form = self.query_one(Form)
        form.say("")
        if message.field:
            form.show_errors({message.field: message.problem})
            return
        self.dismiss(message.request)

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self.query_one(Form).say("")

    @on(Form.Cancelled, "#restore")
    def action_cancel(self) -> None:
        self.dismiss(None)


def describe_restore(file: Path, result: RestoreResult) -> str:
    """Short enough that the dialog's Close button stays on an 80x24 screen."""
    m = result.manifest
    c = m.counts
    made = m.created_at[:16].replace("T", " ")
    lines = [
        _(
            "Restored {name} (made {made} UTC on {host}): {recordings} recording(s), "
            "{users} user(s), {connectors} connector(s)."
        ).format(
            name=file.name,
            made=made,
            host=m.host or _("an unknown host"),
            recordings=f"{c.get('recordings', 0):,}",
            users=f"{c.get('users', 0):,}",
            connectors=f"{c.get('connectors', 0):,}",
        )
    ]
    if result.moved_aside:
        stamp = Path(result.moved_aside[0]).name.rsplit("before-restore-", 1)[-1]
        lines.append(
            _("The old database and keys are kept as *.before-restore-{stamp}.").format(stamp=stamp)
        )
    if not result.audit_ok:
        lines.append(
            _("Warning: the audit trail does not verify: {problem}.").format(
                problem=result.audit_problem
            )
        )
    advice = storage_advice(result)
    if advice:
        lines.append(advice)
    elif result.recordings:
        lines.append(
            plural("All {count} recording file(s) are in place.", result.recordings).format(
                count=f"{result.recordings:,}"
            )
        )
    lines.append(_("Log in again: the accounts are now those of the backup."))
    return "\n".join(lines)


def start_restore(host: EngineHost, session: Session, request: RestoreRequest) -> None:
    """Close the engine, restore onto its data directory and open it again (see the module)."""
    actor = session.principal.name

    def change(root: Path, progress: Callable[[int, int], None]) -> RestoreResult:
        return restore_backup(
            root,
            request.path,
            request.password,
            actor=actor,
            force=True,
            call_storage_path=request.call_storage_path,
            progress=progress,
        )

    def describe(result: RestoreResult) -> str:
        return describe_restore(request.path, result)

    host.restart_engine(_("Restoring {name}").format(name=request.path.name), change, describe)
