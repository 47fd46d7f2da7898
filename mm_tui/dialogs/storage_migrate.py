"""Where to migrate the whole library (F23): a local folder or a hosted connector.

Dismissed with ``(to, delete_source)`` in the form `mm storage migrate --to` takes, or None.
The migration itself runs in a :class:`~mm_tui.dialogs.job_progress.JobDialog`.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from mm_tui.i18n import _
from mm_tui.widgets.forms import YES, Form, FormField, label_width

LOCAL_FOLDER = "local folder"  # the choice's value, not shown


class StorageMigrateDialog(ModalScreen[tuple[str, bool] | None]):
    CSS_PATH = "storage_migrate.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel"), id="migrate.cancel"),
    ]

    def __init__(self, current: str, connectors: list[str]) -> None:
        """``connectors``: names of the S3, GCS and Azure connectors that can hold it."""
        super().__init__()
        self.current = current
        self.connectors = connectors

    def compose(self) -> ComposeResult:
        choices = (
            (_("a folder on this server (local folder)"), LOCAL_FOLDER),
            *((_("connector {name}").format(name=name), name) for name in self.connectors),
        )
        with Vertical(id="migrate-box"):
            yield Label(_("Migrate the call storage"), id="migrate-title")
            yield Static(
                _(
                    "Now: {current}. Every recording is copied, each copy checked against its "
                    "hash, then the configuration switches. The service must be stopped."
                ).format(current=self.current),
                id="migrate-intro",
            )
            fields = [
                FormField("target", _("To"), LOCAL_FOLDER, kind="choice", choices=choices),
                FormField(
                    "path", _("Folder"), placeholder="/srv/recordings", help=_("for a folder")
                ),
                FormField(
                    "delete_source",
                    _("Afterwards"),
                    kind="check",
                    placeholder=_("delete the old copies"),
                ),
            ]
            yield Form(
                fields, id="migrate", submit=_("Migrate"), label_width=label_width(fields, 12)
            )

    def target(self, values: dict[str, str]) -> str | None:
        if values["target"] != LOCAL_FOLDER:
            return values["target"]
        path = values["path"].strip()
        if not path.startswith("/"):
            self.query_one(Form).show_errors(
                {"path": _("Give the absolute path of the new folder.")}
            )
            return None
        return f"local:{path}"

    @on(Form.Submitted, "#migrate")
    def _submitted(self, event: Form.Submitted) -> None:
        to = self.target(event.values)
        if to is not None:
            self.dismiss((to, event.values["delete_source"] == YES))

    @on(Form.Cancelled, "#migrate")
    def action_cancel(self) -> None:
        self.dismiss(None)
