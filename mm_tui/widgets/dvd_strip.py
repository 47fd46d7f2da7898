"""The DVD strip of the Connectors tab (F16): what the technician at the drive needs to know.

Shown under the list when the selected connector is a DVD connector (or else when the active one
is): the drive's state (no drive, empty, blank disc, our disc ARCH-0003, a foreign disc, not a
DVD+RW), the disc's volume id, a used/free bar with the bytes, when the disc will be full at the
current recording rate, and the recordings waiting. Administrators eject the disc and blank a
disc of ours from here (the panel's keys call :meth:`DvdStrip.eject` and :meth:`DvdStrip.blank`);
everybody who sees the tab can list the disc catalogue.

The service follows the drive through udev; this console follows the engine instead. Every
POLL_SECONDS it asks :meth:`Session.dvd_glance`, which answers without touching the drive, and
asks for the full status (which runs xorriso) only when that answer changed, so a disc swapped,
a session written or a disc blanked shows within seconds while an idle drive is left alone, and
a disc being written is never probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import ProgressBar, Static
from textual.worker import Worker

from mm_engine.errors import MMError
from mm_engine.session import Operation, Session, refusal_reason
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.dvd_discs import DvdDiscsDialog, size_text, when
from mm_tui.i18n import _, error_text, ngettext, plural, tr
from mm_tui.widgets.forms import report_failure

ACTIONS = ("dvd_eject", "dvd_blank", "dvd_discs")


def drive_state(status: dict[str, Any]) -> str:
    """In a few words: "no drive", "drive error", "empty", "blank disc", "our disc ARCH-0003",
    "foreign disc", "not DVD+RW"."""
    if status["drive_state"] == "missing":
        return _("no drive")
    disc = status["disc"]
    if status["drive_state"] != "ready" or disc is None:
        return _("drive error")
    kind = disc["kind"]
    if kind == "absent":
        return _("empty")
    if kind == "foreign":
        return _("foreign disc")
    if not disc["dvd_plus_rw"]:
        return _("not DVD+RW")
    if kind == "blank":
        return _("blank disc")
    return _("our disc {volume_id}").format(volume_id=disc["volume_id"])


def state_line(status: dict[str, Any]) -> str:
    """The first line: the drive state, a foreign disc's volume id, what our disc holds, and
    the drive (last: a long path is cut)."""
    disc = status["disc"]
    parts = [drive_state(status)]
    if disc is not None and disc["kind"] != "absent":
        if disc["kind"] == "foreign":
            parts.append(
                _("volume id {volume_id}").format(volume_id=disc["volume_id"] or _("(none)"))
            )
        if disc["kind"] == "ours":
            parts.append(
                plural(
                    "{recordings} recording(s), {sessions} session(s)", disc["recordings"]
                ).format(recordings=disc["recordings"], sessions=disc["sessions"])
            )
        if not disc["dvd_plus_rw"] and disc["media_type"]:
            parts.append(disc["media_type"])
    parts.append(_("in {drive}").format(drive=status["drive"]))
    return " · ".join(parts)


def writable(status: dict[str, Any]) -> bool:
    """Whether the disc in the drive is one mm writes to (ours or blank, a DVD+RW)."""
    disc = status["disc"]
    return disc is not None and disc["kind"] in ("ours", "blank") and bool(disc["dvd_plus_rw"])


def full_in(status: dict[str, Any]) -> str:
    """When the disc will be full at the current rate, in words ("" when it cannot say)."""
    days = status["days_until_full"]
    if not writable(status):
        return ""
    if status["disc"]["full"]:
        return _("the disc is full")
    if days is None:
        return _("no recordings lately to tell when it is full")
    if days < 1:
        return _("full within a day at the current rate")
    whole = round(days)
    return ngettext(
        "full in about {count} day at the current rate",
        "full in about {count} days at the current rate",
        whole,
    ).format(count=whole)


def space_line(status: dict[str, Any]) -> str:
    """Used and free bytes of a disc mm writes to (beside its bar)."""
    disc = status["disc"]
    return _("{used} used, {free} free of {capacity}").format(
        used=size_text(disc["used_bytes"]),
        free=size_text(disc["free_bytes"]),
        capacity=size_text(disc["capacity_bytes"]),
    )


def pending_line(status: dict[str, Any]) -> str:
    """The recordings waiting for a disc, and when this one will be full."""
    pending = status["pending"]
    text = (
        plural("Pending: {count} recording(s), {size}", pending).format(
            count=pending, size=size_text(status["pending_bytes"])
        )
        if pending
        else _("Pending: none")
    )
    when = full_in(status)
    return f"{text} · {when}" if when else text


def blank_question(status: dict[str, Any]) -> str:
    """What blanking the disc in the drive erases, as the confirmation dialog says it."""
    disc = status["disc"]
    count = disc["recordings"]
    values = {
        "volume_id": disc["volume_id"],
        "drive": status["drive"],
        "count": count,
        "size": size_text(disc["bytes"]),
        "sessions": disc["sessions"],
        "first": when(disc["first_call"]) if disc["first_call"] else "",
        "last": when(disc["last_call"]) if disc["first_call"] else "",
    }
    if disc["first_call"]:
        erase = plural(
            "Erase disc {volume_id} in {drive}? Everything on it is lost: {count} recording(s), "
            "{size} in {sessions} session(s), calls from {first} to {last}.",
            count,
        )
    else:
        erase = plural(
            "Erase disc {volume_id} in {drive}? Everything on it is lost: {count} recording(s), "
            "{size} in {sessions} session(s).",
            count,
        )
    lines = [erase.format(**values)]
    only = disc["only_copies"]
    if only:
        lines.append(
            plural(
                "{count} of them exist nowhere else (their local files are gone and no other "
                "archive holds them): mm will refuse to blank this disc.",
                only,
            ).format(count=only)
        )
    elif count:
        lines.append(
            plural(
                "All {count} have another copy (a local file or another archive); the next "
                "archive run copies them again.",
                count,
            ).format(count=count)
        )
    lines.append(_("Confirming answers the engine with: {token}").format(token=disc["blank_token"]))
    return "\n\n".join(lines)


class DvdStrip(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    POLL_SECONDS = 3.0
    """How often the engine is asked whether anything changed (without touching the drive)."""

    @dataclass
    class Loaded(Message, bubble=False):
        connector: str
        ticket: int
        key: str
        status: dict[str, Any] | None  # None: not asked (a disc being written, or it failed)
        writing: bool = False
        error: str = ""

    @dataclass
    class BlankAsked(Message, bubble=False):
        connector: str
        status: dict[str, Any]

    @dataclass
    class Done(Message):
        """An eject or a blank succeeded (bubbles: the list's counts change too)."""

        text: str
        connector: str

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.connector: str | None = None
        self.status: dict[str, Any] | None = None
        self.writing = False
        self.error = ""
        self.may_manage = refusal_reason(session.principal, Operation.DVD_MANAGE) is None
        self._key: str | None = None
        self._tickets = 0  # each poll's number: an older answer never replaces a newer one
        self._shown_ticket = 0
        self._polling: Worker[None] | None = None  # the timer's poll, while it runs
        self._stopped = False  # a poll failed unexpectedly: no more timed polls till asked

    def compose(self) -> ComposeResult:
        yield Static("", id="dvd-strip-state", markup=False)
        with Horizontal(id="dvd-strip-space"):
            yield ProgressBar(id="dvd-strip-bar", show_eta=False)
            yield Static("", id="dvd-strip-space-text", markup=False)
        yield Static("", id="dvd-strip-pending", markup=False)
        yield Static("", id="dvd-strip-problem", markup=False)

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(self.POLL_SECONDS, self._tick)

    # -- which connector -----------------------------------------------------------------------
    def follow(self, name: str | None) -> None:
        """Show DVD connector ``name`` (None hides the strip)."""
        if name == self.connector:
            return
        self.connector = name
        self.status = None
        self.writing = False
        self.error = ""
        self._key = None
        self.display = name is not None
        if name is not None:
            self._render_status()
            self.reload()
        self.refresh_bindings()

    def reload(self) -> None:
        """Ask for the full status now (after an action, or when the person refreshes)."""
        if self.connector is not None:
            self._key = None
            self._stopped = False
            self._poll(self.connector, None, self._ticket())

    def _tick(self) -> None:
        if self.connector is None or self._stopped or not self.is_on_screen:
            return
        if self.app.screen.is_modal or (self._polling is not None and self._polling.is_running):
            return  # a slow drive: one question at a time
        self._polling = self._poll(self.connector, self._key, self._ticket())

    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    # -- what the panel's keys may do ------------------------------------------------------
    def check(self, action: str) -> bool | None:
        """For the panel's check_action: False hides the key, None dims it."""
        if self.connector is None:
            return False
        if action == "dvd_discs":
            return True
        if not self.may_manage:
            return False
        status = self.status
        if status is None or self.writing or status["drive_state"] != "ready":
            return None
        disc = status["disc"]
        if action == "dvd_eject":
            return (disc is not None and disc["kind"] != "absent") or None
        if action == "dvd_blank":
            return (disc is not None and disc["kind"] == "ours") or None
        return True

    def eject(self) -> None:
        if self.connector is not None and self.may_manage:
            self._eject(self.connector)

    def blank(self) -> None:
        """Look at the disc now, then ask (showing what would be erased) before blanking."""
        if self.connector is not None and self.may_manage:
            self._prepare_blank(self.connector)

    def discs(self) -> None:
        self.app.push_screen(DvdDiscsDialog(self.session))

    # -- I/O in threads ------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="dvd-strip-poll")
    def _poll(self, name: str, known: str | None, ticket: int) -> None:
        try:
            glance = self.session.dvd_glance(name)
            if glance["key"] == known:
                return
            writing = bool(glance["writing"])
            status = None if writing else self.session.dvd_status(name)[0]
        except MMError as exc:  # shown in the strip; the next poll tries again
            self.post_message(self.Loaded(name, ticket, "", None, error=error_text(exc)))
            return
        self.post_message(self.Loaded(name, ticket, glance["key"], status, writing))

    @work(thread=True, exit_on_error=False, group="dvd-strip-act")
    def _eject(self, name: str) -> None:
        result = self.session.dvd_eject(name)
        if result["ejected"]:
            text = _("Ejected disc {volume_id} from {drive}.").format(
                volume_id=result["ejected"], drive=result["drive"]
            )
        else:
            text = _("Ejected the disc from {drive}.").format(drive=result["drive"])
        self.post_message(self.Done(text, name))

    @work(thread=True, exit_on_error=False, group="dvd-strip-act")
    def _prepare_blank(self, name: str) -> None:
        self.post_message(self.BlankAsked(name, self.session.dvd_status(name)[0]))

    @work(thread=True, exit_on_error=False, group="dvd-strip-act")
    def _blank(self, name: str, token: str) -> None:
        result = self.session.dvd_blank(token, name)
        if result["blanked"]:
            text = _(
                "Blanked disc {volume_id} in {drive}; {copies} archive copies on it are "
                "forgotten and will be archived again."
            ).format(
                volume_id=result["blanked"], drive=result["drive"], copies=result["copies_dropped"]
            )
        else:
            text = _("The disc in {drive} is blank already.").format(drive=result["drive"])
        self.post_message(self.Done(text, name))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if not report_failure(self, event):
            return
        if event.worker.group == "dvd-strip-poll":  # shown once; r (refresh) polls again
            self._stopped = True
        else:
            self.reload()

    # -- answers -------------------------------------------------------------------------------
    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.connector != self.connector or message.ticket < self._shown_ticket:
            return
        self._shown_ticket = message.ticket
        self._key = message.key or None
        self.error = message.error
        self.writing = message.writing
        if message.status is not None:
            self.status = message.status
        self._render_status()
        self.refresh_bindings()

    @on(BlankAsked)
    def _ask_blank(self, message: BlankAsked) -> None:
        status = message.status
        disc = status["disc"]
        if disc is None or disc["kind"] != "ours":
            said = {
                "absent": _("There is no disc in {drive}.").format(drive=status["drive"]),
                "blank": _("The disc in {drive} is blank already.").format(drive=status["drive"]),
                "foreign": _("The disc in the drive is not ours: mm never erases it."),
            }
            kind = disc["kind"] if disc is not None else ""
            self.notify(
                said.get(kind, tr(status["problem"]) or _("The drive cannot be read.")),
                title=_("Blank disc"),
                severity="warning",
                markup=False,
            )
            self.reload()
            return
        name, token = message.connector, str(disc["blank_token"])

        def answered(yes: bool | None) -> None:
            if yes:
                self._blank(name, token)

        self.app.push_screen(
            ConfirmDialog(
                _("Blank disc {volume_id}").format(volume_id=disc["volume_id"]),
                blank_question(status),
                _("Blank"),
            ),
            answered,
        )

    @on(Done)
    def _done(self, message: Done) -> None:
        self.reload()  # and the message bubbles on to the panel

    # -- showing -------------------------------------------------------------------------------
    def _render_status(self) -> None:
        status = self.status
        space = self.query_one("#dvd-strip-space")
        problem = self.error or (tr(status["problem"] or "") if status is not None else "")
        if status is None:
            state = _("the drive's state is not known") if self.error else _("reading the drive…")
        else:
            state = state_line(status)
        if self.writing:
            state = _("writing a session now: leave the disc in the drive · {state}").format(
                state=state
            )
        self._set("#dvd-strip-state", _("DVD: {state}").format(state=state))
        if status is None:
            self._set("#dvd-strip-pending", "")
            space.display = False
        else:
            self._set("#dvd-strip-pending", pending_line(status))
            disc = status["disc"]
            space.display = writable(status)
            if space.display:
                capacity = max(1, disc["capacity_bytes"])  # a full disc: a full bar
                self.query_one(ProgressBar).update(
                    total=capacity, progress=capacity - disc["free_bytes"]
                )
                self._set("#dvd-strip-space-text", space_line(status))
        shown = self.query_one("#dvd-strip-problem", Static)
        shown.display = bool(problem)
        shown.update(problem)

    def _set(self, selector: str, text: str) -> None:
        self.query_one(selector, Static).update(text)

    def shown(self) -> str:
        """The strip's lines as shown, one per line (the bar as its percentage)."""
        if not self.display:
            return ""
        lines = [self._text("#dvd-strip-state")]
        if self.query_one("#dvd-strip-space").display:
            bar = self.query_one(ProgressBar)
            percent = round(100 * bar.progress / bar.total) if bar.total else 0
            lines.append(f"[{percent}%] {self._text('#dvd-strip-space-text')}")
        lines.append(self._text("#dvd-strip-pending"))
        if self.query_one("#dvd-strip-problem").display:
            lines.append(self._text("#dvd-strip-problem"))
        return "\n".join(line for line in lines if line)

    def _text(self, selector: str) -> str:
        return str(self.query_one(selector, Static).render())
