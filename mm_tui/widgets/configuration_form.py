"""The Configuration tab (F9): every declared setting with its value and where it comes from.

Fields come from the engine's declarations (``SETTINGS``), so a new setting appears here without
a console change. Saving checks every changed value with the setting's own parser first, so a
bad value changes nothing; then each change goes through ``Session.config_set``, which audits
it and raises CONFIGURATION_CHANGED. Secrets are never shown: their field stays empty and only a
typed value replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.worker import Worker

from mm_engine.config import SETTINGS
from mm_engine.errors import InvalidSetting, MMError
from mm_engine.primary_storage import HOSTED_KINDS
from mm_engine.session import Operation, Session, allowed, refusal_reason
from mm_engine.text import Msg
from mm_tui.dialogs.backup import BackupDialog, BackupRequest, start_backup
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.job_progress import run_job
from mm_tui.dialogs.rebuild import RebuildDialog, start_rebuild
from mm_tui.dialogs.restore import (
    EngineHost,
    RestoreDialog,
    RestoreRequest,
    restore_refusal,
    start_restore,
)
from mm_tui.dialogs.storage_migrate import StorageMigrateDialog
from mm_tui.i18n import N_, _, plural, tr
from mm_tui.widgets.forms import Form, FormField, report_failure

LABEL_WIDTH = max(len(key) for key in SETTINGS) + 2


def shown(value: Any) -> str:
    """A setting's value as it is typed back (`mm config set` accepts the same text)."""
    if isinstance(value, bool):
        return "yes" if value else "no"  # typed back: the parser's words, not translated
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check(changes: dict[str, str]) -> dict[str, str]:
    """The engine's message for each value its setting's parser refuses (nothing is saved)."""
    problems: dict[str, str] = {}
    for key, text in changes.items():
        try:
            SETTINGS[key].parse(text)
        except ValueError as exc:
            problem = (
                exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Msg) else str(exc)
            )
            problems[key] = tr(InvalidSetting(key, problem).message)
    return problems


class ConfigurationForm(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", _("Save"), id="configuration.save"),
        Binding("ctrl+r", "revert", _("Revert"), id="configuration.revert"),
        Binding("ctrl+o", "migrate", _("Migrate storage"), id="configuration.migrate"),
        Binding("ctrl+b", "backup", _("Back up"), id="configuration.backup"),
        Binding("ctrl+t", "restore", _("Restore"), id="configuration.restore"),
        Binding("ctrl+g", "rebuild", _("Rebuild catalogue"), id="configuration.rebuild"),
    ]

    @dataclass
    class Loaded(Message):
        settings: list[dict[str, Any]]

    @dataclass
    class Saved(Message):
        saved: list[str]
        invalid: dict[str, str] = field(default_factory=dict)  # key -> message
        refused: list[tuple[str, MMError]] = field(default_factory=list)

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.loaded: dict[str, str] = {}
        self.sources: dict[str, str] = {}
        self._keep: set[str] = set()  # fields whose typed text a reload must not replace
        reason = refusal_reason(session.principal, Operation.CONFIG_CHANGE)
        self.read_only = (
            _("Read only: {reason} {operation}.").format(
                reason=tr(reason), operation=Operation.CONFIG_CHANGE.value
            )
            if reason
            else ""
        )

    def compose(self) -> ComposeResult:
        fields = [
            FormField(
                key,
                key,
                kind="password" if setting.secret else "text",
                help=_(setting.description),
            )
            for key, setting in SETTINGS.items()
        ]
        yield Form(
            fields,
            id="configuration",
            submit=_("Save (ctrl+s)"),
            cancel=_("Revert (ctrl+r)"),
            read_only=self.read_only,
            scroll=True,
            label_width=LABEL_WIDTH,
        )

    def on_mount(self) -> None:
        self._load()

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "revert"):
            return not self.read_only
        if action == "migrate":
            return allowed(self.session.principal, Operation.STORAGE_MOVE)
        if action in ("backup", "restore"):
            return allowed(self.session.principal, Operation.BACKUP)
        if action == "rebuild":
            return allowed(self.session.principal, Operation.CATALOGUE_REBUILD)
        return True

    # -- what the person asks for --------------------------------------------------------------
    def action_save(self) -> None:
        self.form.submit()

    def action_revert(self) -> None:
        self.form.clear_errors()
        self._load()

    def action_migrate(self) -> None:
        """F23: copy the whole library to another storage, verified, then switch to it. Run
        here on an embedded engine; beside a service, the service runs it (its ingest waits
        meanwhile, recordings that arrive stay in the handover folder)."""
        where = self.session.engine.primary.where()  # no network: the form opens at once
        hosted = [c.name for c in self.session.connectors_list() if c.kind in HOSTED_KINDS]

        def chosen(answer: tuple[str, bool] | None) -> None:
            if answer is None:
                return
            to, delete = answer
            run_job(
                self.app,
                self.session,
                "storage_migrate",
                _("Migrating the call storage to {to}").format(to=to),
                _describe_migration,
                on_close=self._reload_after,
                to=to,
                delete_source=delete,
            )

        self.app.push_screen(StorageMigrateDialog(where, hosted), chosen)

    def _reload_after(self, _result: Any) -> None:
        self._load()

    def action_backup(self) -> None:
        """F4: database, configuration and keys into one password-protected file."""

        def chosen(request: BackupRequest | None) -> None:
            if request is not None:
                start_backup(self.app, self.session, request)

        self.app.push_screen(BackupDialog(), chosen)

    def action_restore(self) -> None:
        """F4: a backup onto this data directory. The console closes its engine, restores,
        opens it again and shows the login screen (refused beside a running service)."""
        host = self.app

        def confirmed(request: RestoreRequest, yes: bool | None) -> None:
            if yes and isinstance(host, EngineHost):
                start_restore(host, self.session, request)

        def chosen(request: RestoreRequest | None) -> None:
            if request is None:
                return
            question = _(
                "Restore {path}? You are logged out, the current database and keys "
                "are moved aside, and the backup's take their place."
            ).format(path=request.path)
            self.app.push_screen(
                ConfirmDialog(_("Restore the backup?"), question, _("Restore")),
                lambda yes: confirmed(request, yes),
            )

        self.app.push_screen(RestoreDialog(self.session, restore_refusal(host)), chosen)

    def action_rebuild(self) -> None:
        """Re-create catalogue rows from the stored recordings (the way back from a lost
        database), from the call storage, a connector or a folder."""
        connectors = [c.name for c in self.session.connectors_list()]

        def chosen(params: dict[str, Any] | None) -> None:
            if params is not None:
                start_rebuild(self.app, self.session, params)

        self.app.push_screen(RebuildDialog(connectors), chosen)

    @on(Form.Cancelled, "#configuration")
    def _cancelled(self) -> None:
        self.action_revert()

    @on(Form.Submitted, "#configuration")
    def _submitted(self, event: Form.Submitted) -> None:
        changes = {
            key: text
            for key, text in event.values.items()
            if (text if SETTINGS[key].secret else text != self.loaded.get(key))
        }
        if not changes:
            self.form.say(_("Nothing changed."))
            return
        self.form.say(_("Saving {keys}…").format(keys=", ".join(changes)))
        self._save(changes)

    # -- I/O in threads ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="configuration-load")
    def _load(self) -> None:
        self.post_message(self.Loaded(self.session.config_show()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="configuration-save")
    def _save(self, changes: dict[str, str]) -> None:
        invalid = check(changes)
        if invalid:
            self.post_message(self.Saved([], invalid))
            return
        # each value checked, so one the engine refuses in its state (a guard) stops only itself
        saved: list[str] = []
        refused: list[tuple[str, MMError]] = []
        for key, text in changes.items():
            try:
                self.session.config_set(key, text)
            except InvalidSetting as exc:
                invalid[exc.key] = tr(exc.message)
            except MMError as exc:
                refused.append((key, exc))
            else:
                saved.append(key)
        self.post_message(self.Saved(saved, invalid, refused))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self.form.say("")

    # -- state, owned here ---------------------------------------------------------------------
    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        form = self.form
        keep, self._keep = self._keep, set()
        self.loaded, self.sources = {}, {}
        for item in message.settings:
            key = str(item["key"])
            if key not in SETTINGS:
                continue
            self.sources[key] = str(item["source"])
            help_text = f"{_source(str(item['source']))} · {_(SETTINGS[key].description)}"
            if SETTINGS[key].secret:
                is_set = bool(item["value"])
                if key not in keep:
                    form.set_value(key, "")
                form.set_placeholder(
                    key, _("******** (type to replace)") if is_set else _("not set")
                )
                help_text += " · " + _("left empty it stays as it is")
            else:
                self.loaded[key] = shown(item["value"])
                if key not in keep:
                    form.set_value(key, self.loaded[key])
            form.set_help(key, help_text)

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        form = self.form
        form.show_errors(message.invalid)
        done = (
            _("Saved {keys}.").format(keys=", ".join(message.saved))
            if message.saved
            else _("Nothing was saved.")
        )
        if message.saved:
            self.notify(done, title=_("Configuration"))
        if message.saved or message.refused:
            # show what the engine now holds; a value marked invalid stays as typed, to fix
            self._keep = set(message.invalid)
            self._load()
        if message.refused:
            self.app.push_screen(ErrorDialog.for_exception(message.refused[0][1]))
            refused = ", ".join(key for key, _error in message.refused)
            form.say(f"{done} " + _("Not saved: {keys}.").format(keys=refused))
        elif message.invalid:
            form.say(f"{done} " + _("Fix the marked field and save again."))
        else:
            form.say(done)


def _describe_migration(result: dict[str, Any]) -> str:
    if result.get("status") == "unchanged":
        return _("The library is already there: nothing to do.")
    moved = int(result.get("moved", 0) or 0)
    return plural(
        "Done: {moved:,} recordings there and checked ({copied:,} copied now); using {to}.",
        moved,
    ).format(moved=moved, copied=int(result.get("copied", 0) or 0), to=result.get("to", ""))


# where a setting's value comes from (config_show's "source") as people read it
SOURCES = {"default": N_("default"), "set": N_("set")}


def _source(source: str) -> str:
    return _(SOURCES[source]) if source in SOURCES else source
