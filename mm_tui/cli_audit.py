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
from mm_tui.i18n import _, plural, tr
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_table
from mm_tui.prompt import read_new_password

app = typer.Typer(help=_("View, verify and export the audit trail."), no_args_is_help=True)

FromOpt = Annotated[
    str | None, typer.Option("--from", help=_("Events at or after this ISO 8601 date/time."))
]
ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to", help=_("Events before this ISO 8601 time; a bare date includes that day.")
    ),
]
ActionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--action",
        help=_("Event type ({types}); ','-list or repeated: ANY.").format(
            types=", ".join(AuditAction)
        ),
    ),
]
UserOpt = Annotated[
    str | None, typer.Option("--user", help=_("User names containing this text (any case)."))
]
JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]


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


@app.command("list", help=_("Audit events, newest first, one page at a time."))
@command
def list_(
    start: FromOpt = None,
    end: ToOpt = None,
    action: ActionOpt = None,
    user: UserOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", help=_("Events per page (1..{max}).").format(max=MAX_LIMIT))
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help=_("Continue after the previous page."))
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    filters = _filters(start, end, action, user)
    with open_session() as session:
        page = session.audit_list(filters, limit=limit, cursor=cursor)
    if json_out:
        print_json([e.to_dict() for e in page.items])
    elif page.items:
        print_table(
            [_row(e) for e in page.items],
            [
                ("id", _("ID")),
                ("time", _("TIME")),
                ("user", _("USER")),
                ("action", _("ACTION")),
                ("details", _("DETAILS")),
            ],
        )
    else:
        sys.stderr.write(_("No audit events match.") + "\n")
    if page.next_cursor:
        sys.stderr.write(_("Next page: --cursor {cursor}").format(cursor=page.next_cursor) + "\n")


@app.command(
    "verify",
    help=_(
        "Check the hash chain; exit 1 and name the first broken event if rows were tampered with."
    ),
)
@command
def verify(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        report = session.audit_verify()
    if json_out:
        print_json(report.to_dict())
    elif report.ok:
        sys.stdout.write(
            plural("Audit trail intact: {count} event(s) checked.", report.checked).format(
                count=report.checked
            )
            + "\n"
        )
    if not report.ok:
        raise fail(
            _("Audit trail broken at event {id}: {reason}.").format(
                id=report.first_broken_id, reason=tr(report.reason)
            ),
            _("Events were edited, removed or reordered in the database file."),
            code=EXIT_FAILED,
        )


@app.command(
    "export",
    help=_(
        "Write the filtered events as CSV in an AES-256 password-protected zip (opens in 7-Zip)."
        "\n\nThe password is prompted twice, or read as one line from stdin."
    ),
)
@command
def export(
    file: Annotated[Path, typer.Argument(metavar="FILE", help=_("The zip file to write."))],
    start: FromOpt = None,
    end: ToOpt = None,
    action: ActionOpt = None,
    user: UserOpt = None,
    force: Annotated[bool, typer.Option("--force", help=_("Replace FILE if it exists."))] = False,
) -> None:
    filters = _filters(start, end, action, user)
    if file.exists() and not force:
        raise Refused(
            _("{file} exists.").format(file=file),
            _("Pass --force to replace it, or choose another name."),
        )
    with open_session() as session:
        # checked before asking for the password, which would otherwise be asked for nothing
        session.require(Operation.AUDIT_EXPORT, file=str(file))
        password = read_new_password(_("Export password"))
        count = session.audit_export(file, password, filters)
    sys.stderr.write(
        plural("Exported {count} event(s) to {file}.", count).format(count=count, file=file) + "\n"
    )
