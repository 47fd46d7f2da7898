"""`mm archive`: run the archive job now, and see how far archiving is (seed F14, F17)."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from mm_engine.errors import Refused
from mm_tui.context import open_session
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_table

app = typer.Typer(help="Archive recordings to the active connector.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class _Progress:
    """A progress line on a terminal's stderr, at most a few times a second."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.25 or done == total):
            self.last = now
            sys.stderr.write(f"\rArchiving {done:,}/{total:,}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()


@app.command("run")
@command
def run(json_out: JsonOpt = False) -> None:
    """Archive everything pending now (the service also does this on its schedule).

    Exit 1 when the connector cannot be reached or a recording could not be archived; exit 3
    when no connector is active or another run is in progress.
    """
    with open_session() as session:
        report = session.archive_run(_Progress())
    data = report.to_dict()
    if json_out:
        print_json(data)
    if report.status == "no-connector":
        raise Refused(
            "No connector is active, so there is nowhere to archive to.",
            "Activate one with `mm connectors activate NAME`.",
        )
    if report.status == "busy":
        raise Refused(
            f"An archive run to {report.connector} is already in progress; it archives "
            "everything pending.",
            "`mm archive status` shows how far it is.",
        )
    if not json_out:
        mb = report.bytes / 1_000_000
        sys.stdout.write(
            f"Archived {report.archived} recording(s) ({mb:.1f} MB) to {report.connector}; "
            f"{report.pending} pending.\n"
        )
    if report.status in ("unreachable", "stopped", "failed"):
        raise fail(
            f"Archiving to {report.connector} stopped: {report.error}",
            "The next run (every archive_interval_minutes) catches up by itself.",
            EXIT_FAILED,
        )
    if report.failed:
        shown = ", ".join(str(i) for i in report.failed[:20])
        raise fail(
            f"{len(report.failed)} recording(s) could not be archived: {shown}.",
            "`mm alarms list` says why (FILE_ERROR).",
            EXIT_FAILED,
        )


def _when(value: Any) -> str:
    return str(value) if value else "never"


@app.command("status")
@command
def status(json_out: JsonOpt = False) -> None:
    """Per connector: pending recordings, copies made, last archive; and the current run."""
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
                ("name", "NAME"),
                ("type", "TYPE"),
                ("active", "ACTIVE"),
                ("pending", "PENDING"),
                ("archived", "ARCHIVED"),
                ("last_archived_at", "LAST ARCHIVE"),
                ("accessible", "ACCESSIBLE"),
            ],
        )
    else:
        sys.stderr.write("No connectors yet: add one with `mm connectors add NAME --type ...`.\n")
    running = data["running"]
    if running:
        sys.stderr.write(
            f"Running since {running['started_at']} (pid {running['pid']}): "
            f"{running['progress']}/{running['total']} to {running['connector']}.\n"
        )
    last = data["last_run"]
    if last and not running:
        sys.stderr.write(
            f"Last run {last['finished_at']}: {last['status']}, {last['archived']} archived"
            f" to {last['connector']}"
            + (f", {len(last['failed'])} failed" if last["failed"] else "")
            + (f" ({last['error']})" if last["error"] else "")
            + ".\n"
        )
