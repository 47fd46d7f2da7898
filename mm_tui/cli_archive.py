"""`mm archive`: run the archive job now, and see how far archiving is (seed F14, F17)."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from mm_engine.errors import Refused
from mm_tui.context import open_session
from mm_tui.i18n import _, plural, tr
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_table

app = typer.Typer(help=_("Archive recordings to the active connector."), no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]


class _Progress:
    """A progress line on a terminal's stderr, at most a few times a second."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.25 or done == total):
            self.last = now
            sys.stderr.write(
                "\r" + _("Archiving {done:,}/{total:,}").format(done=done, total=total)
            )
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()


@app.command(
    "run",
    help=_(
        "Archive everything pending now (the service also does this on its schedule).\n\n"
        "Exit 1 when the connector cannot be reached or a recording could not be archived; exit "
        "3 when no connector is active or another run is in progress."
    ),
)
@command
def run(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        report = session.archive_run(_Progress())
    data = report.to_dict()
    if json_out:
        print_json(data)
    if report.status == "no-connector":
        raise Refused(
            _("No connector is active, so there is nowhere to archive to."),
            _("Activate one with `mm connectors activate NAME`."),
        )
    if report.status == "busy":
        raise Refused(
            _(
                "An archive run to {connector} is already in progress; it archives everything "
                "pending."
            ).format(connector=report.connector),
            _("`mm archive status` shows how far it is."),
        )
    if not json_out:
        mb = report.bytes / 1_000_000
        sys.stdout.write(
            plural(
                "Archived {count} recording(s) ({mb:.1f} MB) to {connector}; {pending} pending.",
                report.archived,
            ).format(
                count=report.archived, mb=mb, connector=report.connector, pending=report.pending
            )
            + "\n"
        )
    if report.status in ("unreachable", "stopped", "failed"):
        raise fail(
            _("Archiving to {connector} stopped: {error}").format(
                connector=report.connector, error=tr(report.error)
            ),
            _("The next run (every archive_interval_minutes) catches up by itself."),
            EXIT_FAILED,
        )
    if report.failed:
        shown = ", ".join(str(i) for i in report.failed[:20])
        raise fail(
            plural("{count} recording(s) could not be archived: {ids}.", len(report.failed)).format(
                count=len(report.failed), ids=shown
            ),
            _("`mm alarms list` says why (FILE_ERROR)."),
            EXIT_FAILED,
        )


def _when(value: Any) -> str:
    return str(value) if value else _("never")


@app.command(
    "status",
    help=_("Per connector: pending recordings, copies made, last archive; and the current run."),
)
@command
def status(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        data = session.archive_status()
    if json_out:
        print_json(data)
        return
    rows = data["connectors"]
    if rows:
        print_table(
            [{**r, "last_archived_at": _when(r["last_archived_at"])} for r in rows],
            [
                ("name", _("NAME")),
                ("type", _("TYPE")),
                ("active", _("ACTIVE")),
                ("pending", _("PENDING")),
                ("archived", _("ARCHIVED")),
                ("last_archived_at", _("LAST ARCHIVE")),
                ("accessible", _("ACCESSIBLE")),
            ],
        )
    else:
        sys.stderr.write(
            _("No connectors yet: add one with `mm connectors add NAME --type ...`.") + "\n"
        )
    running = data["running"]
    if running:
        sys.stderr.write(
            _("Running since {started} (pid {pid}): {done}/{total} to {connector}.").format(
                started=running["started_at"],
                pid=running["pid"],
                done=running["progress"],
                total=running["total"],
                connector=running["connector"],
            )
            + "\n"
        )
    last = data["last_run"]
    if last and not running:
        line = _("Last run {finished}: {status}, {archived} archived to {connector}").format(
            finished=last["finished_at"],
            status=last["status"],
            archived=last["archived"],
            connector=last["connector"],
        )
        if last["failed"]:
            line += _(", {count} failed").format(count=len(last["failed"]))
        if last["error"]:
            line += f" ({tr(last['error'])})"
        sys.stderr.write(line + ".\n")
