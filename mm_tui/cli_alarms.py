"""`mm alarms`: the alarm list (seed F35), acknowledgement, and a test of the e-mail settings."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mm_tui.alarm_text import description
from mm_tui.context import open_session
from mm_tui.i18n import _, plural
from mm_tui.output import command, print_json, print_table

app = typer.Typer(help=_("List and acknowledge alarms; test alarm e-mail."), no_args_is_help=True)

# The scripting contract: these keys only ever gain company, never change.
FIELDS = (
    "id",
    "type",
    "severity",
    "message",
    "count",
    "raised_at",
    "last_at",
    "acknowledged_at",
    "acknowledged_by",
    "cleared_at",
)


def public(alarm: dict[str, Any]) -> dict[str, Any]:
    return {k: alarm.get(k) for k in FIELDS}


@app.command(
    "list", help=_("Alarms not yet acknowledged, most recently seen first (--all: every alarm).")
)
@command
def list_(
    all_: Annotated[
        bool, typer.Option("--all", help=_("Include acknowledged alarms as well."))
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help=_("At most this many alarms."))
    ] = 100,
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    with open_session() as session:
        alarms = session.alarms_list(limit, include_acknowledged=all_)
    rows = [public(a) for a in alarms]
    if json_out:
        print_json(rows)  # the stored English: scripts read the same in every language
        return
    for row, alarm in zip(rows, alarms, strict=True):
        row["message"] = description(alarm)
    if not rows:
        sys.stderr.write((_("No alarms.") if all_ else _("No unacknowledged alarms.")) + "\n")
        return
    columns = [
        ("id", _("ID")),
        ("last_at", _("DATE")),
        ("severity", _("SEVERITY")),
        ("type", _("TYPE")),
        ("count", _("COUNT")),
        ("message", _("DESCRIPTION")),
    ]
    if all_:
        columns.append(("acknowledged_by", _("ACKNOWLEDGED BY")))
    print_table(rows, columns)


@app.command(
    "ack", help=_("Acknowledge alarms; a repeat after this starts a new alarm (and a new e-mail).")
)
@command
def ack(
    ids: Annotated[list[int], typer.Argument(help=_("Alarm ids, as `mm alarms list` shows them."))],
) -> None:
    with open_session() as session:
        result = session.alarms_acknowledge(ids)
    done, already = result["acknowledged"], result["already"]
    if done:
        typer.echo(
            plural("Acknowledged {count} alarm(s): {ids}", len(done)).format(
                count=len(done), ids=", ".join(map(str, done))
            )
        )
    if already:
        typer.echo(_("Already acknowledged: {ids}").format(ids=", ".join(map(str, already))))


@app.command(
    "test-email",
    help=_("Send a test e-mail now with the SMTP settings and show the server's answer."),
)
@command
def test_email(
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    with open_session() as session:
        settings = session.mail_settings()
        delivery = session.test_email()
    if json_out:
        print_json(
            {
                "sent": True,
                "reply": delivery.reply,
                "server": f"{settings.server}:{settings.port}",
                "recipients": list(settings.recipients),
            }
        )
    else:
        typer.echo(
            _(
                "Sent a test e-mail to {recipients} via {server}; the server answered: {reply}"
            ).format(
                recipients=", ".join(settings.recipients),
                server=f"{settings.server}:{settings.port}",
                reply=delivery.reply,
            )
        )
