"""Export the audit view (F33): a password typed twice and where to write the file.

The engine writes the filtered events as CSV inside an AES-256 zip; this dialog then says
where the file is and how to open it. Dismissed with the file's path, or None.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.worker import Worker, WorkerState

from mm_engine.audit import AuditFilter
from mm_engine.errors import InvalidInput
from mm_engine.passwords import check_new_password
from mm_engine.session import Session
from mm_tui.i18n import _, error_text, plural
from mm_tui.widgets.forms import Form, FormField, label_width, report_failure


def default_path() -> Path:
    return Path.home() / f"audit-{datetime.now():%Y%m%d-%H%M%S}.zip"


def destination(text: str) -> Path:
    """The typed path made absolute (relative to where mm runs), so the result names it fully."""
    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


class AuditExportDialog(ModalScreen[Path | None]):
    CSS_PATH = "audit_export.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "export", _("Export"), id="audit_export.export"),
        Binding("escape", "close", _("Close"), id="audit_export.close"),
    ]

    def __init__(self, session: Session, filters: AuditFilter, described: str) -> None:
        super().__init__()
        self.session = session
        self.filters = filters
        self.described = described
        self.written: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label(_("Export the audit trail"), id="export-title")
            yield Static(
                _("Events: {filters}").format(filters=self.described),
                id="export-what",
                markup=False,
            )
            fields = [
                FormField(
                    "password",
                    _("Password"),
                    kind="password",
                    placeholder=_("at least 8 characters"),
                ),
                FormField(
                    "again", _("Again"), kind="password", placeholder=_("the same password again")
                ),
                FormField(
                    "path",
                    _("File"),
                    str(default_path()),
                    help=_("a .zip file; its folder must exist"),
                ),
            ]
            yield Form(
                fields,
                id="export",
                submit=_("Export (ctrl+s)"),
                cancel=_("Cancel (esc)"),
                label_width=label_width(fields, 10),
            )
            yield Static("", id="export-done", markup=False)
            yield Button(_("Close"), id="export-close", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#export-done").display = False
        self.query_one("#export-close").display = False
        self.query_one(Form).focus_field()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "export" and self.written is not None)

    def action_export(self) -> None:
        self.query_one(Form).submit()

    def action_close(self) -> None:
        self.dismiss(self.written)

    @on(Form.Cancelled)
    @on(Button.Pressed, "#export-close")
    def _close(self) -> None:
        self.action_close()

    @on(Form.Submitted)
    def _submitted(self, event: Form.Submitted) -> None:
        values, form = event.values, event.form
        problems: dict[str, str] = {}
        try:
            check_new_password(values["password"], _("The export password"))
        except InvalidInput as exc:  # the engine's own words
            problems["password"] = error_text(exc)
        if not problems and values["password"] != values["again"]:
            problems["again"] = _("The two passwords differ; type them again.")
        if not values["path"].strip():
            problems["path"] = _("Give the file to write, e.g. /root/audit.zip.")
        if problems:
            form.show_errors(problems)
            return
        form.say(_("Exporting…"))
        self._export(destination(values["path"]), values["password"])

    @work(thread=True, exclusive=True, exit_on_error=False, group="audit-export")
    def _export(self, path: Path, password: str) -> tuple[Path, int]:
        return path, self.session.audit_export(path, password, self.filters)

    @on(Worker.StateChanged)
    def _done(self, event: Worker.StateChanged) -> None:
        result = event.worker.result
        if event.state is WorkerState.SUCCESS and isinstance(result, tuple):
            path, count = result
            self.written = path
            self.query_one(Form).display = False
            done = self.query_one("#export-done", Static)
            done.update(
                plural(
                    "Wrote {count} event(s) to\n{path}\n\nIt is a zip encrypted with AES-256: "
                    "open it with 7-Zip (or any unzip with AES support) and the password you "
                    "typed.",
                    count,
                ).format(count=count, path=path)
            )
            done.display = True
            close = self.query_one("#export-close", Button)
            close.display = True
            close.focus()
            self.refresh_bindings()
        elif report_failure(self, event):
            self.query_one(Form).say("")
