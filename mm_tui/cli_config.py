"""`mm config`: show and change the settings of seed F9."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mm_tui.context import open_session
from mm_tui.i18n import _
from mm_tui.output import command, print_json, print_table

app = typer.Typer(help=_("Show and change configuration settings."), no_args_is_help=True)


@app.command(
    "show", help=_("Every setting with its value and where it came from (default or set).")
)
@command
def show(
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    with open_session() as session:
        rows = session.config_show()
    if json_out:
        print_json(rows)
    else:
        print_table(rows, [("key", _("SETTING")), ("value", _("VALUE")), ("source", _("SOURCE"))])


@app.command(
    "set",
    help=_(
        "Change one setting; invalid values are refused with the reason.\n\n"
        "Give secrets such as smtp_password as '-' so they never appear in the process list."
    ),
)
@command
def set_(
    key: Annotated[str, typer.Argument(help=_("Setting name, as `mm config show` lists it."))],
    value: Annotated[
        str, typer.Argument(help=_("New value; '-' reads it from stdin (for secrets)."))
    ],
) -> None:
    if value == "-":
        value = sys.stdin.readline().rstrip("\r\n")
    with open_session() as session:
        session.config_set(key, value)
        shown = next(r for r in session.config_show() if r["key"] == key)["value"]
    typer.echo(f"{key} = {shown}")
