"""Rebuild the catalogue from storage, from the console: from where, and whether to merge.

Dismissed with the parameters of a ``catalogue_rebuild`` job (mm_engine/job_queue.py), which
:func:`start_rebuild` runs with ``run_job``: in this console on an embedded engine, else by the
service (its ingest waits meanwhile either way).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from mm_engine.rebuild import RebuildReport, iter_report_lines
from mm_engine.session import Session
from mm_tui.dialogs.job_progress import run_job
from mm_tui.i18n import _, plural, tr
from mm_tui.widgets.forms import YES, Form, FormField, label_width

LOCAL, FOLDER = "local", "/folder"  # choice values; a connector's value is its name (no /)
LINES_SHOWN = 8


class RebuildDialog(ModalScreen[dict[str, Any] | None]):
    CSS_PATH = "rebuild.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel"), id="rebuild.cancel"),
    ]

    def __init__(self, connectors: list[str]) -> None:
        super().__init__()
        self.connectors = connectors

    def compose(self) -> ComposeResult:
        choices = (
            (_("the call storage (local)"), LOCAL),
            *((_("connector {name}").format(name=name), name) for name in self.connectors),
            (_("a folder holding a copy of the tree"), FOLDER),
        )
        fields = [
            FormField("source", _("From"), LOCAL, kind="choice", choices=choices),
            FormField("path", _("Folder"), placeholder="/mnt/copy", help=_("for a folder")),
            FormField(
                "merge",
                _("Merge"),
                YES,
                kind="check",
                placeholder=_("add only what the catalogue lacks"),
                help=_("without it, a catalogue that holds rows is refused"),
            ),
        ]
        with Vertical(id="rebuild-box"):
            yield Label(_("Rebuild the catalogue from storage"), id="rebuild-title")
            yield Static(
                _(
                    "Re-creates catalogue rows from the stored recordings and the call details "
                    "inside them: the way back when the database is lost. Files from a "
                    "connector or a folder are copied into the call storage (encrypted archives "
                    "opened with this installation's keys). New rows are signed with this "
                    "installation's key."
                ),
                id="rebuild-intro",
            )
            yield Form(
                fields, id="rebuild", submit=_("Rebuild"), label_width=label_width(fields, 8)
            )

    def on_mount(self) -> None:
        self.query_one(Form).focus_field()

    @on(Form.Submitted, "#rebuild")
    def _submitted(self, event: Form.Submitted) -> None:
        values = event.values
        merge = values["merge"] == YES
        if values["source"] != FOLDER:
            self.dismiss({"source": values["source"], "merge": merge})
            return
        path = Path(values["path"].strip()).expanduser()
        if not values["path"].strip() or not path.is_absolute():
            problem = _("Give the full path of the folder, e.g. /mnt/copy.")
        elif not path.is_dir():
            problem = (
                _("{path} is not a folder.") if path.exists() else _("{path} does not exist.")
            ).format(path=path)
        else:
            self.dismiss({"path": str(path), "merge": merge})
            return
        event.form.show_errors({"path": problem})

    @on(Form.Cancelled, "#rebuild")
    def action_cancel(self) -> None:
        self.dismiss(None)


def describe_rebuild(result: dict[str, Any]) -> str:
    lines = [tr(line) for line in iter_report_lines(RebuildReport(**result))]
    if len(lines) > LINES_SHOWN:
        more = len(lines) - LINES_SHOWN
        lines = [
            *lines[:LINES_SHOWN],
            plural("… {count} more line(s): `mm catalogue rebuild` lists all.", more).format(
                count=more
            ),
        ]
    return "\n".join(lines)


def start_rebuild(
    app: App[Any],
    session: Session,
    params: dict[str, Any],
    on_close: Callable[[Any], None] | None = None,
) -> None:
    where = params.get("path") or params.get("source") or LOCAL
    run_job(
        app,
        session,
        "catalogue_rebuild",
        _("Rebuilding the catalogue from {where}").format(where=where),
        describe_rebuild,
        on_close=on_close,
        **params,
    )
