"""`mm recordings`: search, show, verify and delete recordings."""

from __future__ import annotations

import typer

app = typer.Typer(help="Search, show, verify and delete recordings.", no_args_is_help=True)
