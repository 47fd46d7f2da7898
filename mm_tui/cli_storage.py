"""`mm storage`: the call storage tree."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mm_engine.lock import EngineLock
from mm_engine.session import Operation
from mm_tui.context import open_session
from mm_tui.output import command, print_json

app = typer.Typer(help="Manage the call storage tree.", no_args_is_help=True)


@app.command("move")
@command
def move(
    new_path: Annotated[str, typer.Argument(help="The new call storage path (absolute).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Copy every recording to NEW_PATH, verify it, switch the setting, remove the old copies.

    Resumable: if interrupted, run the same command again. The service must be stopped,
    so no recording arrives in the old tree meanwhile.
    """
    with open_session() as session:
        session.require(Operation.STORAGE_MOVE, to=new_path)
        lock = EngineLock(session.engine.data_dir.lock)
        lock.acquire()
        try:

            def progress(done: int, total: int) -> None:
                if not json_out and sys.stderr.isatty():
                    sys.stderr.write(f"\rcopied {done}/{total}")

            result = session.storage_move(new_path, progress)
        finally:
            lock.release()
    if json_out:
        print_json(result)
    else:
        typer.echo(f"Moved {result['moved']} recordings from {result['from']} to {result['to']}.")
