"""The Connectors tab (F14-F22): where archive copies go, and archiving now.

The list has the seed's columns (name, type, active, accessible, pending files, last successful
archive); below it, the selected connector's last test in a sentence. Administrators add, change,
test, activate and delete connectors, sign a Google Drive connector in again, and start an
archive run; standard users see the same list read-only (F11). A DVD connector's drive and
disc show in the strip under the list (:mod:`mm_tui.widgets.dvd_strip`), with its keys.

"Archive now" runs the engine's archive job in a thread of this console, with a progress bar.
The engine has no way to hand a run to a separately running service, and needs none: one lease
in the ``jobs`` table keeps runs apart, so when the service's own run is already going this
one steps back and the bar follows that run instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, ProgressBar, Static
from textual.worker import Worker

from mm_engine.archiving import ArchiveReport
from mm_engine.connectors import ConnectorInfo, KindInfo, TestResult
from mm_engine.session import Operation, Session, refusal_reason
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.connector_edit import ConnectorEditDialog
from mm_tui.dialogs.device_flow import DeviceFlowDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.job_progress import beside_service, run_job
from mm_tui.i18n import N_, _, plural, tr
from mm_tui.widgets.dvd_strip import ACTIONS as DVD_ACTIONS
from mm_tui.widgets.dvd_strip import DvdStrip
from mm_tui.widgets.forms import report_failure

COLUMNS = (
    N_("name"),
    N_("type"),
    N_("active"),
    N_("accessible"),
    N_("pending"),
    N_("last archive"),
)
MANAGE = ("add", "edit", "test", "activate", "remove", "authorize")


def moment(stamp: str | None) -> str:
    """A UTC ISO time as local "YYYY-MM-DD HH:MM"."""
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp[:16].replace("T", " ")


def row_of(info: ConnectorInfo) -> tuple[str, ...]:
    return (
        info.name,
        info.kind,
        _("yes") if info.active else "",
        info.accessibility or _("not tested"),
        str(info.pending) if info.active else "",
        moment(info.last_archived_at) or _("never"),
    )


def time_left(seconds: float) -> str:
    if seconds < 60:
        return _("under a minute left")
    minutes = round(seconds / 60)
    if minutes < 90:
        return _("about {minutes} min left").format(minutes=minutes)
    return _("about {hours:.1f} h left").format(hours=minutes / 60)


def progress_text(done: int, total: int, elapsed: float) -> str:
    """Counts, and the time left at the rate so far: "12 of 40 recording(s) · about 2 min
    left"."""
    text = plural("{done} of {total} recording(s)", total).format(done=done, total=total)
    if 0 < done < total:
        text += f" · {time_left(elapsed / done * (total - done))}"
    return text


def _describe_archive(result: dict[str, Any]) -> str:
    if result.get("status") == "busy":
        return _("Another archive run (the service's own) is in progress; it covers these.")
    return report_text(ArchiveReport(**result))


def report_text(report: ArchiveReport) -> str:
    values = {
        "archived": report.archived,
        "connector": report.connector,
        "failed": len(report.failed),
        "pending": report.pending,
    }
    if report.failed:
        return plural(
            "Archived {archived} recording(s) to {connector}; {failed} could not be archived "
            "(see the alarms); {pending} pending.",
            report.archived,
        ).format(**values)
    return plural(
        "Archived {archived} recording(s) to {connector}; {pending} pending.", report.archived
    ).format(**values)


class ConnectorsPanel(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    # Short words, in this order, so that at 80 columns every one of them fits left of the
    # command palette key (the app's own keys come after them and are cut first).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", _("Add"), tooltip=_("Add a connector"), id="connectors.add"),
        Binding(
            "e", "edit", _("Edit"), tooltip=_("Change the selected connector"), id="connectors.edit"
        ),
        Binding(
            "e", "view", _("View"), tooltip=_("Show the selected connector"), id="connectors.view"
        ),
        Binding("t", "test", _("Test"), tooltip=_("Test the connection now"), id="connectors.test"),
        Binding(
            "v",
            "activate",
            _("Activate"),
            tooltip=_("Send new archive copies to the selected connector"),
            id="connectors.activate",
        ),
        Binding(
            "x,delete", "remove", _("Delete"), tooltip=_("Delete (asks)"), id="connectors.remove"
        ),
        Binding(
            "n",
            "archive",
            _("Archive now"),
            tooltip=_("Archive the pending recordings now"),
            id="connectors.archive",
        ),
        Binding(
            "g",
            "authorize",
            _("Sign in"),
            tooltip=_("Sign the Google Drive connector in to a Google account again"),
            id="connectors.authorize",
        ),
        # a DVD connector's drive (the strip under the list; F16)
        Binding(
            "j", "dvd_eject", _("Eject"), tooltip=_("Open the DVD drive"), id="connectors.dvd_eject"
        ),
        Binding(
            "b",
            "dvd_blank",
            _("Blank"),
            tooltip=_("Erase the disc of ours in the drive for reuse (asks)"),
            id="connectors.dvd_blank",
        ),
        Binding(
            "d",
            "dvd_discs",
            _("Discs"),
            tooltip=_("The DVD disc catalogue"),
            id="connectors.dvd_discs",
        ),
        Binding("r", "reload", _("Refresh"), show=False, id="connectors.refresh"),
    ]

    REFRESH_SECONDS = 10.0
    """How often the list reloads by itself: the service archives meanwhile."""

    @dataclass
    class Loaded(Message, bubble=False):
        connectors: list[ConnectorInfo]
        kinds: list[KindInfo] = field(default_factory=list)
        select: str | None = None

    @dataclass
    class Tested(Message, bubble=False):
        result: TestResult

    @dataclass
    class Changed(Message, bubble=False):
        text: str
        select: str | None = None

    @dataclass
    class ArchiveProgress(Message, bubble=False):
        done: int
        total: int
        elapsed: float

        def can_replace(self, message: Message) -> bool:
            """Only the newest count matters: a flood of updates never backs up the queue."""
            return isinstance(message, ConnectorsPanel.ArchiveProgress)

    @dataclass
    class ArchiveDone(Message, bubble=False):
        report: ArchiveReport

    @dataclass
    class OtherRun(Message, bubble=False):
        running: dict[str, Any] | None
        last_run: dict[str, Any] | None

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.connectors: list[ConnectorInfo] = []
        self.kinds: list[KindInfo] = []
        self.last_change = ""
        self.archiving = False
        self.watching_other_run = False
        self._watch_timer: Timer | None = None
        reason = refusal_reason(session.principal, Operation.CONNECTORS_MANAGE)
        self.read_only = (
            _("Read only: {reason} {operation}.").format(
                reason=tr(reason), operation=Operation.CONNECTORS_MANAGE.value
            )
            if reason
            else ""
        )
        self.may_archive = refusal_reason(session.principal, Operation.ARCHIVE_RUN) is None

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(
            cursor_type="row", zebra_stripes=True, id="connectors-table"
        )
        table.add_columns(*(_(c) for c in COLUMNS))
        yield table
        yield Static("", id="connectors-detail", markup=False)
        yield DvdStrip(self.session, id="connectors-dvd")
        with Horizontal(id="connectors-progress"):
            yield Static("", id="connectors-progress-text", markup=False)
            yield ProgressBar(id="connectors-progress-bar", show_eta=True)
        yield Static("", id="connectors-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#connectors-progress").display = False
        self._load()
        self.set_interval(self.REFRESH_SECONDS, self._auto_reload)

    def on_unmount(self) -> None:
        self._stop_watching()

    def selected(self) -> ConnectorInfo | None:
        row = self.query_one(DataTable).cursor_row
        return self.connectors[row] if 0 <= row < len(self.connectors) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        chosen = self.selected() if action in (*DVD_ACTIONS, "activate", "authorize") else None
        if action in DVD_ACTIONS:  # the selected DVD connector's; eject and blank: the active's
            if chosen is None or chosen.kind != "dvd":
                return False
            if action != "dvd_discs" and not chosen.active:
                return False  # so that every key fits the footer at 80 columns
            return self.query_one(DvdStrip).check(action)
        if action in MANAGE and self.read_only:
            return False
        if action == "activate" and chosen is not None and chosen.active:
            return False  # nothing to do; and the footer needs the room at 80 columns
        if action == "view":
            return bool(self.read_only)
        if action == "archive":
            if not self.may_archive:
                return False
            return None if self.archiving or self.watching_other_run else True
        if action == "authorize":
            return chosen is not None and chosen.kind == "gdrive"
        return True

    @on(DataTable.RowHighlighted, "#connectors-table")
    def _highlighted(self) -> None:
        self._show_detail()
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#connectors-table")
    def _row_chosen(self) -> None:
        if self.read_only:
            self.action_view()
        else:
            self.action_edit()

    # -- what the person asks for --------------------------------------------------------------
    def action_reload(self) -> None:
        self._load()
        self.query_one(DvdStrip).reload()

    def action_dvd_eject(self) -> None:
        self.query_one(DvdStrip).eject()

    def action_dvd_blank(self) -> None:
        self.query_one(DvdStrip).blank()

    def action_dvd_discs(self) -> None:
        self.query_one(DvdStrip).discs()

    def _auto_reload(self) -> None:
        """Pending counts and the last archive change as the service archives."""
        if self.is_on_screen and not self.app.screen.is_modal:
            self._load()

    def action_add(self) -> None:
        if not self.kinds:
            return
        self.app.push_screen(
            ConnectorEditDialog(self.session, self.kinds, taken=self._names()),
            self._saved(N_("Added {name}.")),
        )

    def action_edit(self) -> None:
        if (chosen := self.selected()) is not None and self.kinds:
            self.app.push_screen(
                ConnectorEditDialog(self.session, self.kinds, chosen, taken=self._names()),
                self._saved(N_("Changed {name}.")),
            )

    def action_view(self) -> None:
        if (chosen := self.selected()) is not None:
            self.app.push_screen(
                ConnectorEditDialog(self.session, self.kinds, chosen, read_only=self.read_only)
            )

    def action_test(self) -> None:
        if (chosen := self.selected()) is not None:
            self._say(_("Testing {name}…").format(name=chosen.name))
            self._test(chosen.name)

    def action_activate(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        if chosen.active:
            self.notify(
                _("{name} is the active connector already.").format(name=chosen.name),
                title=_("Connectors"),
            )
            return
        self._activate(chosen.name)

    def action_remove(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        name = chosen.name

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(name)

        question = (
            plural(
                "Delete the {kind} connector {name}? It holds {count} archived recording(s), "
                "so mm will refuse.",
                chosen.archived_count,
            )
            if chosen.archived_count
            else _("Delete the {kind} connector {name}?")
        ).format(kind=chosen.kind, name=name, count=chosen.archived_count)
        self.app.push_screen(
            ConfirmDialog(_("Delete connector"), question, yes_label=_("Delete")),
            answered,
        )

    def action_authorize(self) -> None:
        chosen = self.selected()
        if chosen is None or chosen.kind != "gdrive":
            return
        name = chosen.name

        def signed_in(token: str | None) -> None:
            if token:
                self._authorize(name, token)

        self.app.push_screen(DeviceFlowDialog(self.session, {}, name), signed_in)

    def action_archive(self) -> None:
        if self.archiving or self.watching_other_run:
            return
        self.archiving = True
        self.refresh_bindings()
        active = next((c for c in self.connectors if c.active), None)
        if beside_service(self.app):  # the service runs it; this console watches (issue 4)
            run_job(
                self.app,
                self.session,
                "archive_run",
                _("Archive run to {name}").format(name=active.name) if active else _("Archive run"),
                _describe_archive,
                on_close=self._archive_closed,
            )
            return
        starting = (
            _("Starting the archive run to {name}…").format(name=active.name)
            if active
            else _("Starting the archive run…")
        )
        self._show_progress(starting, 0, None)
        self._archive(time.monotonic())

    def _archive_closed(self, _result: Any) -> None:
        self.archiving = False
        self.refresh_bindings()
        self._load()

    def _saved(self, sentence: str) -> Any:
        """``sentence``: marked with N_, a ``{name}`` in it."""

        def done(info: ConnectorInfo | None) -> None:
            if info is not None:
                self.post_message(self.Changed(_(sentence).format(name=info.name), info.name))

        return done

    def _names(self) -> list[str]:
        return [c.name for c in self.connectors]

    # -- I/O in threads ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="connectors-load")
    def _load(self, select: str | None = None) -> None:
        kinds = self.kinds or self.session.connectors_types()
        self.post_message(self.Loaded(self.session.connectors_list(), kinds, select))

    @work(thread=True, exit_on_error=False, group="connectors-test")
    def _test(self, name: str) -> None:
        self.post_message(self.Tested(self.session.connectors_test(name)))

    @work(thread=True, exit_on_error=False, group="connectors-change")
    def _activate(self, name: str) -> None:
        info = self.session.connectors_activate(name)
        self.post_message(
            self.Changed(
                plural(
                    "{name} is the active connector; {pending} recording(s) to archive there.",
                    info.pending,
                ).format(name=info.name, pending=info.pending),
                info.name,
            )
        )

    @work(thread=True, exit_on_error=False, group="connectors-change")
    def _remove(self, name: str) -> None:
        self.session.connectors_remove(name)
        self.post_message(self.Changed(_("Deleted {name}.").format(name=name)))

    @work(thread=True, exit_on_error=False, group="connectors-change")
    def _authorize(self, name: str, token: str) -> None:
        info = self.session.connectors_authorize(name, token)
        result = self.session.connectors_test(info.name)
        signed = _("Signed {name} in to Google.").format(name=info.name)
        self.post_message(self.Changed(signed, info.name))
        self.post_message(self.Tested(result))

    @work(thread=True, exclusive=True, exit_on_error=False, group="connectors-archive")
    def _archive(self, started: float) -> None:
        def progress(done: int, total: int) -> None:
            self.post_message(self.ArchiveProgress(done, total, time.monotonic() - started))

        try:
            report = self.session.archive_run(progress)
        finally:
            self.archiving = False
        self.post_message(self.ArchiveDone(report))

    @work(thread=True, exclusive=True, exit_on_error=False, group="connectors-other-run")
    def _poll_other_run(self) -> None:
        status = self.session.archive_status()
        self.post_message(self.OtherRun(status.get("running"), status.get("last_run")))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            if event.worker.group == "connectors-archive":
                self._hide_progress()
                self.refresh_bindings()
            self._say(self.last_change)
            self._load()

    # -- state, owned here ---------------------------------------------------------------------
    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.kinds = message.kinds
        table = self.query_one(DataTable)
        row = table.cursor_row
        previous = self.selected()
        self.connectors = message.connectors
        table.clear()
        for info in self.connectors:
            table.add_row(*row_of(info), key=info.name)
        names = [c.name for c in self.connectors]
        wanted = message.select or (previous.name if previous else None)
        if wanted in names:
            row = names.index(wanted)
        if self.connectors:
            table.move_cursor(row=min(max(row, 0), len(self.connectors) - 1))
        self._show_detail()
        self._say(self.last_change)
        self.refresh_bindings()

    def _show_detail(self) -> None:
        chosen = self.selected()
        if chosen is None:
            if self.connectors:
                text = ""
            elif self.read_only:
                text = _("No connectors yet.")
            else:
                text = _("No connectors yet. Press a to add one.")
        elif chosen.last_test_message:
            text = f"{tr(chosen.last_test_message)} ({moment(chosen.last_test_at)})"
        else:
            text = _("{name} has not been tested yet.").format(name=chosen.name)
        if chosen is not None and chosen.encrypt:
            text += " " + _("Encrypts recordings.")
        self.query_one("#connectors-detail", Static).update(text)
        dvd = chosen if chosen is not None and chosen.kind == "dvd" else None
        dvd = dvd or next((c for c in self.connectors if c.active and c.kind == "dvd"), None)
        self.query_one(DvdStrip).follow(dvd.name if dvd is not None else None)

    def detail(self) -> str:
        return str(self.query_one("#connectors-detail", Static).render())

    @on(Tested)
    def _tested(self, message: Tested) -> None:
        result = message.result
        self.last_change = tr(result.message)
        self.notify(
            self.last_change,
            title=_("Connection test"),
            severity="information" if result.ok else "error",
            markup=False,
        )
        self._load(select=result.name)

    @on(DvdStrip.Done)
    def _dvd_done(self, message: DvdStrip.Done) -> None:
        self.post_message(self.Changed(message.text, message.connector))

    @on(Changed)
    def _changed(self, message: Changed) -> None:
        self.last_change = message.text
        self.notify(message.text, title=_("Connectors"), markup=False)
        self._load(select=message.select)

    @on(ArchiveProgress)
    def _progress(self, message: ArchiveProgress) -> None:
        text = progress_text(message.done, message.total, message.elapsed)
        self._show_progress(
            _("Archiving: {progress}").format(progress=text), message.done, message.total
        )

    @on(ArchiveDone)
    def _archived(self, message: ArchiveDone) -> None:
        report = message.report
        self.archiving = False
        self._hide_progress()
        if report.status == "busy":
            self._watch_other_run()
            return
        if report.status == "no-connector":
            self.last_change = _("No connector is active: activate one (v), then archive.")
            self.notify(self.last_change, title=_("Archive now"), severity="warning")
        elif report.status == "unreachable":
            self.last_change = _("The archive run to {name} stopped.").format(name=report.connector)
            self.app.push_screen(
                ErrorDialog(
                    _("Archive run stopped"),
                    _("Connector {name} is not accessible: {error}.").format(
                        name=report.connector, error=tr(report.error)
                    ),
                    _(
                        "Archived in this run: {archived}; still pending: {pending}. Once the "
                        "connector can be reached again, the next run catches up by itself."
                    ).format(archived=report.archived, pending=report.pending),
                )
            )
        else:
            self.last_change = report_text(report)
            if report.status == "stopped":
                self.last_change += f" ({tr(report.error)})"
            self.notify(
                self.last_change,
                title=_("Archive now"),
                severity="warning" if report.failed else "information",
            )
        self.refresh_bindings()
        self._load()

    # -- another run (the service's schedule) --------------------------------------------------
    def _watch_other_run(self) -> None:
        self.watching_other_run = True
        self.refresh_bindings()
        self._show_progress(_("Another archive run is in progress; following it…"), 0, None)
        self._watch_timer = self.set_interval(1.0, self._poll_other_run)
        self._poll_other_run()

    def _stop_watching(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer = None
        self.watching_other_run = False

    @on(OtherRun)
    def _other_run(self, message: OtherRun) -> None:
        if not self.watching_other_run:
            return
        running = message.running
        if running is None:
            self._stop_watching()
            self._hide_progress()
            last = message.last_run or {}
            archived = int(last.get("archived", 0) or 0)
            self.last_change = plural(
                "The other archive run finished: {archived} recording(s) archived to "
                "{connector}; {pending} pending.",
                archived,
            ).format(
                archived=archived, connector=last.get("connector"), pending=last.get("pending", 0)
            )
            self.notify(self.last_change, title=_("Archive now"))
            self.refresh_bindings()
            self._load()
            return
        done, total = int(running["progress"]), int(running["total"])
        text = plural(
            "Another archive run (process {pid}) to {connector}: {done} of {total} recording(s)",
            total,
        ).format(pid=running.get("pid"), connector=running.get("connector"), done=done, total=total)
        self._show_progress(text, done, total)

    # -- showing -------------------------------------------------------------------------------
    def _show_progress(self, text: str, done: int, total: int | None) -> None:
        self.query_one("#connectors-progress").display = True
        self.query_one("#connectors-progress-text", Static).update(text)
        self.query_one(ProgressBar).update(total=total, progress=done)

    def _hide_progress(self) -> None:
        self.query_one("#connectors-progress").display = False

    def progress_shown(self) -> str:
        """The progress line as shown ("" when no run is shown)."""
        if not self.query_one("#connectors-progress").display:
            return ""
        return str(self.query_one("#connectors-progress-text", Static).render())

    def _say(self, text: str) -> None:
        count = plural("{count} connector(s)", len(self.connectors)).format(
            count=len(self.connectors)
        )
        note = _("Read only: only administrators may change connectors.") if self.read_only else ""
        parts = [count, note, text]
        self.query_one("#connectors-status", Static).update("   ".join(p for p in parts if p))

    def status(self) -> str:
        return str(self.query_one("#connectors-status", Static).render())
