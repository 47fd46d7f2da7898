"""The Migration tab (F36-F40): bring a Contact Recorder tree into the catalogue.

What the migration does is explained first; administrators then give the legacy folder and,
if it is not ``connectors.xml`` in that folder, the connector settings file, confirm, follow
the progress (percent, records migrated and skipped) and read the summary here afterwards.
Everyone else reads the explanation only.

On an embedded engine the migration runs in this console, with its own counts as it goes.
Beside a running service the service runs it, as a ``contact_recorder_migration`` job
(mm_engine/job_queue.py), and the service must be able to read the folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker

from mm_engine.session import Operation, Session, refusal_reason
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.job_progress import JobDialog, beside_service, run_job
from mm_tui.i18n import N_, _, plural, tr
from mm_tui.widgets.forms import Form, FormField, label_width, report_failure

if TYPE_CHECKING:
    from mm_engine.contact_recorder.importer import MigrationProgress

KIND = "contact_recorder_migration"
CONNECTOR_FILE = "connectors.xml"  # where the migration looks when no file is given
SHOWN_PER_REASON = 3
SHOWN_WARNINGS = 3

EXPLANATION = N_(
    "Brings the recordings of a Contact Recorder system into the catalogue. Only their call "
    "details and locations move: every recording stays where it is and plays from there, and "
    "authenticated recordings stay verifiable through the checksum they came with.\n"
    "Its archive connectors become connectors named MigratedX-<date>-<time> with empty "
    "passwords: set them in the Connectors tab before use. Alarms and settings are not "
    "migrated.\n"
    "A migration that was interrupted is undone by the next run: it first removes what the "
    "unfinished run migrated (and the connectors it made, unless renamed), then starts over."
)


def check_source(source: str, connectors: str) -> dict[str, str]:
    """What is wrong with the typed paths, by field (empty when they can be used)."""
    problems: dict[str, str] = {}
    folder = Path(source.strip()).expanduser()
    if not source.strip() or not folder.is_absolute():
        problems["source"] = _("Give the full path of the Contact Recorder folder, e.g. /mnt/cr.")
    elif not folder.exists():
        problems["source"] = _("{path} does not exist.").format(path=folder)
    elif not folder.is_dir():
        problems["source"] = _(
            "{path} is a file; give the folder that holds the recordings."
        ).format(path=folder)
    elif not os.access(folder, os.R_OK | os.X_OK):
        problems["source"] = _("{path} cannot be read by this console.").format(path=folder)
    if connectors.strip():
        file = Path(connectors.strip()).expanduser()
        if not file.is_absolute():
            problems["connectors"] = _("Give the full path of the connector settings file.")
        elif not file.exists():
            problems["connectors"] = _("{path} does not exist.").format(path=file)
        elif not file.is_file():
            problems["connectors"] = _(
                "{path} is a folder; give the connector settings file."
            ).format(path=file)
    return problems


class LatestProgress:
    """The migration's newest progress, worded for the job dialog's counts line."""

    def __init__(self) -> None:
        self.value: MigrationProgress | None = None

    def __call__(self, done: int, total: int, left: str) -> str:
        p = self.value
        if p is None:
            return _("{done} of {total}").format(done=f"{done:,}", total=f"{total:,}")
        if p.phase == "removing":
            return _(
                "Removing what the interrupted run migrated: {done} of {total} recordings"
            ).format(done=f"{p.done:,}", total=f"{p.total:,}")
        if p.phase == "scanning":
            return _("Looking for recordings…")
        return _(
            "{percent}% · {done} of {total} records: {migrated} migrated, {skipped} skipped · "
            "{left} left"
        ).format(
            percent=f"{p.percent:.0f}",
            done=f"{p.done:,}",
            total=f"{p.total:,}",
            migrated=f"{p.migrated:,}",
            skipped=f"{p.skipped:,}",
            left=left,
        )


def describe_run(result: dict[str, Any]) -> str:
    """The job dialog's closing line; the full summary goes into the tab."""
    return _(
        "Done: {migrated} of {total} records migrated, {skipped} skipped. The summary is in the "
        "Migration tab."
    ).format(
        migrated=f"{result.get('migrated', 0):,}",
        total=f"{result.get('total', 0):,}",
        skipped=f"{result.get('skipped', 0):,}",
    )


def summary_lines(s: dict[str, Any]) -> list[str]:
    """The summary a person reads (``Summary.to_dict()``, as the job also returns it)."""
    lines = [
        _(
            "Migrated {migrated} of {total} records from {source} in {seconds} s; the "
            "recordings stay where they are."
        ).format(
            migrated=f"{s['migrated']:,}",
            total=f"{s['total']:,}",
            source=s["source"],
            seconds=f"{s.get('elapsed_s', 0):.1f}",
        )
    ]
    if s.get("authenticated"):
        lines.append(
            "  "
            + _("{count} authenticated: verifiable through their checksum.").format(
                count=f"{s['authenticated']:,}"
            )
        )
    if s.get("remote_only"):
        lines.append(
            "  "
            + _(
                "{count} known only by an archive copy: they play once their connector's "
                "password is set."
            ).format(count=f"{s['remote_only']:,}")
        )
    removed = s.get("removed_first")
    if removed:
        gone = ", ".join(removed.get("connectors_removed", [])) or _("none")
        lines.append(
            _(
                "First removed what the interrupted run migrated: {count} recordings; "
                "connectors: {connectors}."
            ).format(count=f"{removed['recordings']:,}", connectors=gone)
        )
        for kept in removed.get("connectors_kept", []):
            lines.append(
                "  "
                + _("kept {name} (was {was}): {why}").format(
                    name=kept["name"], was=kept["was"], why=tr(kept["why"])
                )
            )
    if s.get("skipped"):
        lines.append(_("Skipped {count}:").format(count=f"{s['skipped']:,}"))
        by_reason = sorted(s.get("skipped_by_reason", {}).items(), key=lambda kv: -kv[1])
        for reason, count in by_reason:
            lines.append(f"  {reason}: {count:,}")
            examples = [f for f in s.get("skipped_files", []) if f["category"] == reason]
            for skip in examples[:SHOWN_PER_REASON]:
                lines.append(f"    {skip['file']} {tr(skip['reason'])}")
    else:
        lines.append(_("Nothing was skipped."))
    created = s.get("connectors_created", [])
    if created:
        lines.append(_("Connectors created (passwords empty: set them in the Connectors tab):"))
        for c in created:
            secrets = ", ".join(c.get("secrets_to_set", []))
            line = _("from legacy connector {id} ({type})").format(
                id=c["legacy_id"], type=c["legacy_type"]
            )
            if secrets:
                line += "; " + _("to set: {secrets}").format(secrets=secrets)
            lines.append(f"  {c['name']}  {c['type']}  {line}")
    else:
        lines.append(_("No connectors created."))
    for c in s.get("connectors_reused", []):
        lines.append(
            _("Connector {name} reused for legacy connector {id}.").format(
                name=c["name"], id=c["legacy_id"]
            )
        )
    for c in s.get("connectors_skipped", []):
        lines.append(
            _("Legacy connector {id} ({type}) not migrated: {reason}").format(
                id=c["legacy_id"], type=c["legacy_type"], reason=tr(c["reason"])
            )
        )
    for legacy_id, count in s.get("archive_locations_dropped", {}).items():
        lines.append(
            "  "
            + plural(
                "{count} archive location(s) on legacy connector {id} not kept.", count
            ).format(count=f"{count:,}", id=legacy_id)
        )
    if s.get("not_migrated"):
        parts = ", ".join(f"{n} {what}" for what, n in s["not_migrated"].items())
        lines.append(_("Not migrated, as intended: {parts}.").format(parts=parts))
    if s.get("warnings"):
        lines.append(
            _("Warnings: {count} (`mm migrate contact-recorder --json` lists them), e.g.:").format(
                count=f"{s['warnings']:,}"
            )
        )
        for w in s.get("warning_files", [])[:SHOWN_WARNINGS]:
            lines.append(f"  {w['file']}: {w['warning']}")
    return lines


class MigrationPanel(VerticalScroll):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    @dataclass
    class Checked(Message):
        source: str
        connectors: str
        problems: dict[str, str]

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        reason = refusal_reason(session.principal, Operation.MIGRATE)
        self.read_only = (
            _("Read only: {reason} {operation}.").format(
                reason=tr(reason), operation=Operation.MIGRATE.value
            )
            if reason
            else ""
        )
        self.summary: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static(_(EXPLANATION), id="migration-intro", markup=False)
        if self.read_only:
            yield Static(self.read_only, id="migration-read-only", markup=False)
            return
        fields = [
            FormField(
                "source",
                _("Legacy folder"),
                placeholder="/mnt/contact-recorder",
                help=_("recordings (.wav) with an .xml of call details beside each"),
            ),
            FormField(
                "connectors",
                _("Connector file"),
                placeholder=_("optional; default: {file} in that folder").format(
                    file=CONNECTOR_FILE
                ),
                help=_("the Contact Recorder connector settings file"),
            ),
        ]
        yield Form(
            fields,
            id="migration",
            submit=_("Migrate…"),
            cancel=None,
            label_width=label_width(fields, 16),
        )
        yield Static("", id="migration-summary", markup=False)

    def on_mount(self) -> None:
        if not self.read_only:
            self.query_one("#migration-summary").display = False

    @property
    def form(self) -> Form:
        return self.query_one(Form)

    # -- asking ------------------------------------------------------------------------------
    @on(Form.Submitted, "#migration")
    def _submitted(self, event: Form.Submitted) -> None:
        self.form.say(_("Checking…"))
        self._check(event.values["source"], event.values["connectors"])

    @work(thread=True, exclusive=True, exit_on_error=False, group="migration-check")
    def _check(self, source: str, connectors: str) -> None:
        """In a thread: a folder on a dead network mount must not freeze the console."""
        self.post_message(self.Checked(source, connectors, check_source(source, connectors)))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        form = self.form
        form.say("")
        if message.problems:
            form.show_errors(message.problems)
            return
        source = str(Path(message.source.strip()).expanduser())
        connectors = (
            str(Path(message.connectors.strip()).expanduser()) if message.connectors.strip() else ""
        )
        where = (
            _("this console runs it")
            if not beside_service(self.app)
            else _("the service runs it and must be able to read the folder")
        )
        question = _(
            "Migrate the recordings in {source}? Catalogue rows are added for them where they "
            "are; connectors come from {connectors}. It may take a while ({where})."
        ).format(source=source, connectors=connectors or Path(source, CONNECTOR_FILE), where=where)
        self.app.push_screen(
            ConfirmDialog(_("Migrate from Contact Recorder?"), question, _("Migrate")),
            lambda yes: self._start(source, connectors) if yes else None,
        )

    # -- running -----------------------------------------------------------------------------
    def _start(self, source: str, connectors: str) -> None:
        title = _("Migrating from {source}").format(source=source)
        if beside_service(self.app):
            params: dict[str, Any] = {"source": source}
            if connectors:
                params["connectors_file"] = connectors
            run_job(
                self.app, self.session, KIND, title, describe_run, on_close=self._ended, **params
            )
            return
        latest = LatestProgress()

        def job(progress: Callable[[int, int], None]) -> dict[str, Any]:
            def report(p: MigrationProgress) -> None:
                latest.value = p
                progress(p.done, p.total)

            summary = self.session.migrate_contact_recorder(source, connectors or None, report)
            return summary.to_dict()

        dialog = JobDialog(
            title, job, describe_run, cancellable=True, session=self.session, counts=latest
        )
        self.app.push_screen(dialog, self._ended)

    def _ended(self, result: dict[str, Any] | None) -> None:
        shown = self.query_one("#migration-summary", Static)
        shown.display = True
        if result is None:
            shown.update(
                _(
                    "The migration did not finish (its dialog said why). Run it again when "
                    "ready: it first removes what the unfinished run migrated, then starts over."
                )
            )
            return
        self.summary = result
        shown.update("\n".join(summary_lines(result)))
        self.call_after_refresh(shown.scroll_visible, top=True)

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self.form.say("")
