"""Back up the installation from the console (F4): where to write the file and its password.

The dialog only collects and checks the values (the password with the engine's own rule, so
its message stands beside the field); :func:`start_backup` then writes the file in a
:class:`~mm_tui.dialogs.job_progress.JobDialog` through ``Session.backup_create``. The copy of
the database is consistent even while a service writes to it, so this runs in the console
beside a service too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from mm_engine.backup import Manifest
from mm_engine.errors import InvalidInput
from mm_engine.passwords import check_new_password
from mm_engine.session import Session
from mm_tui.dialogs.job_progress import JobDialog
from mm_tui.i18n import _, tr
from mm_tui.widgets.forms import YES, Form, FormField, label_width


@dataclass(frozen=True)
class BackupRequest:
    path: Path
    password: str
    force: bool


def default_path() -> Path:
    return Path.home() / f"mm-backup-{datetime.now():%Y%m%d-%H%M}.mmb"


def file_problem(path: Path, replace: bool) -> str:
    """Why ``path`` cannot take the backup ("" when it can)."""
    if path.is_dir():
        return _("{path} is a folder; give a file name such as {example}.").format(
            path=path, example=path / "mm-backup.mmb"
        )
    if not path.parent.is_dir():
        return _("The folder {folder} does not exist.").format(folder=path.parent)
    if not os.access(path.parent, os.W_OK):
        return _("The folder {folder} cannot be written to by this console.").format(
            folder=path.parent
        )
    if path.exists() and not replace:
        return _("{name} exists there: tick Replace, or choose another name.").format(
            name=path.name
        )
    return ""


class BackupDialog(ModalScreen[BackupRequest | None]):
    CSS_PATH = "backup.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel"), id="backup.cancel"),
    ]

    def compose(self) -> ComposeResult:
        fields = [
            FormField("path", _("File"), str(default_path()), help=_("its folder must exist")),
            FormField(
                "password", _("Password"), kind="password", placeholder=_("at least 8 characters")
            ),
            FormField(
                "again", _("Again"), kind="password", placeholder=_("the same password again")
            ),
            FormField(
                "replace",
                _("Replace"),
                kind="check",
                placeholder=_("replace the file if it exists"),
            ),
        ]
        with Vertical(id="backup-box"):
            yield Label(_("Back up the installation"), id="backup-title")
            yield Static(
                _(
                    "The database (a consistent copy, even while the service runs), the "
                    "configuration and the keys go into one file locked with this password. "
                    "Recordings are not included. Without the password the file cannot be "
                    "opened: keep it apart from the file."
                ),
                id="backup-intro",
            )
            yield Form(
                fields, id="backup", submit=_("Back up"), label_width=label_width(fields, 10)
            )

    def on_mount(self) -> None:
        self.query_one(Form).focus_field("password")

    @on(Form.Submitted, "#backup")
    def _submitted(self, event: Form.Submitted) -> None:
        values = event.values
        problems: dict[str, str] = {}
        text = values["path"].strip()
        path = Path(text).expanduser()
        if not path.is_absolute():
            problems["path"] = _("Give the full path of the file, e.g. /root/mm-backup.mmb.")
        elif problem := file_problem(path, values["replace"] == YES):
            problems["path"] = problem
        try:
            check_new_password(values["password"], _("The backup password"))
        except InvalidInput as exc:  # the engine's own words
            problems["password"] = tr(exc.message)
        if "password" not in problems and values["password"] != values["again"]:
            problems["again"] = _("The two passwords differ; type them again.")
        if problems:
            event.form.show_errors(problems)
            return
        self.dismiss(BackupRequest(path, values["password"], values["replace"] == YES))

    @on(Form.Cancelled, "#backup")
    def action_cancel(self) -> None:
        self.dismiss(None)


def describe_backup(path: Path, manifest: Manifest) -> str:
    c = manifest.counts
    return _(
        "Backed up to {path}: {recordings} recording(s) catalogued, {users} user(s), "
        "{connectors} connector(s), {audit} audit event(s), {keys} key file(s).\n"
        "Recordings are not included: keep {storage} and the archive connectors safe on "
        "their own. Keep the password apart from the file."
    ).format(
        path=path,
        recordings=f"{c.get('recordings', 0):,}",
        users=f"{c.get('users', 0):,}",
        connectors=f"{c.get('connectors', 0):,}",
        audit=f"{c.get('audit', 0):,}",
        keys=len(manifest.keys),
        storage=manifest.call_storage_path,
    )


def start_backup(app: App[Any], session: Session, request: BackupRequest) -> None:
    """Write the backup with a progress bar; the dialog ends saying where the file is."""

    def job(progress: Any) -> Manifest:
        return session.backup_create(
            request.path, request.password, force=request.force, progress=progress
        )

    def describe(manifest: Manifest) -> str:
        return describe_backup(request.path, manifest)

    app.push_screen(
        JobDialog(_("Backing up to {name}").format(name=request.path.name), job, describe)
    )
