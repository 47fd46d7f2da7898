"""`mm audit`: view, verify and export the audit trail (seed F31-F33)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from mm_engine.audit import DEFAULT_LIMIT, MAX_LIMIT, AuditAction, AuditEvent, AuditFilter
from mm_engine.errors import Refused
from mm_engine.session import Operation
from mm_tui.cli_recordings import parse_time
from mm_tui.context import open_session
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_table
from mm_tui.prompt import read_new_password

app = typer.Typer(help="View, verify and export the audit trail.", no_args_is_help=True)

FromOpt = Annotated[
    str | None, typer.Option("--from", help="Events at or after this ISO 8601 date/time.")
]
ToOpt = Annotated[
    str | None,
    typer.Option("--to", help="Events before this ISO 8601 time; a bare date includes that day."),
]
ActionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--action", help=f"Event type ({', '.join(AuditAction)}); ','-list or repeated: ANY."
    ),
]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="User names containing this text (any case).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _filters(
    start: str | None, end: str | None, actions: list[str] | None, user: str | None
) -> AuditFilter:
    wanted = [a for text in actions or [] for a in text.split(",") if a.strip()]
    return AuditFilter(
        start=parse_time(start, end=False) if start else None,
        end=parse_time(end, end=True) if end else None,
        actions=tuple(dict.fromkeys(AuditAction.parse(a) for a in wanted)),
        user_contains=user or None,
    )


def _row(event: AuditEvent) -> dict[str, Any]:
    local = datetime.fromisoformat(event.at).astimezone()
    return {
        "id": event.id,
        "time": f"{local:%Y-%m-%d %H:%M:%S}",
        "user": event.user,
        "action": event.action,
        "details": json.dumps(event.details, ensure_ascii=False, separators=(", ", ": ")),
    }


@app.command("list")
@command
def list_(
    start: FromOpt = None,
    end: ToOpt = None,
    action: ActionOpt = None,
    user: UserOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", help=f"Events per page (1..{MAX_LIMIT}).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue after the previous page.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Audit events, newest first, one page at a time."""
    filters = _filters(start, end, action, user)
    with open_session() as session:
        page = session.audit_list(filters, limit=limit, cursor=cursor)
    if json_out:
        print_json([e.to_dict() for e in page.items])
    elif page.items:
        print_table(
            [_row(e) for e in page.items],
            [
                ("id", "ID"),
                ("time", "TIME"),
                ("user", "USER"),
                ("action", "ACTION"),
                ("details", "DETAILS"),
            ],
        )
    else:
        sys.stderr.write("No audit events match.\n")
    if page.next_cursor:
        sys.stderr.write(f"Next page: --cursor {page.next_cursor}\n")


@app.command("verify")
@command
def verify(json_out: JsonOpt = False) -> None:
    """Check the hash chain; exit 1 and name the first broken event if rows were tampered with."""
    with open_session() as session:
        report = session.audit_verify()
    if json_out:
        print_json(report.to_dict())
    elif report.ok:
        sys.stdout.write(f"Audit trail intact: {report.checked} event(s) checked.\n")
    if not report.ok:
        raise fail(
            f"Audit trail broken at event {report.first_broken_id}: {report.reason}.",
            "Events were edited, removed or reordered in the database file.",
            code=EXIT_FAILED,
        )


@app.command("export")
@command
def export(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The zip file to write.")],
    start: FromOpt = None,
    end: ToOpt = None,
    action: ActionOpt = None,
    user: UserOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Write the filtered events as CSV in an AES-256 password-protected zip (opens in 7-Zip).

    The password is prompted twice, or read as one line from stdin.
    """
    filters = _filters(start, end, action, user)
    if file.exists() and not force:
        raise Refused(f"{file} exists.", "Pass --force to replace it, or choose another name.")
    with open_session() as session:
        # checked before asking for the password, which would otherwise be asked for nothing
        session.require(Operation.AUDIT_EXPORT, file=str(file))
        password = read_new_password("Export password")
        count = session.audit_export(file, password, filters)
    sys.stderr.write(f"Exported {count} event(s) to {file}.\n")
