"""`mm catalogue`: the catalogue as a whole (rebuilding it from the stored recordings)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mm_engine.errors import InvalidInput
from mm_engine.lock import EngineLock
from mm_engine.rebuild import iter_report_lines
from mm_engine.session import Operation
from mm_tui.context import open_session
from mm_tui.i18n import _, tr
from mm_tui.output import EXIT_FAILED, command, print_json

app = typer.Typer(help=_("Rebuild the catalogue from the stored recordings."), no_args_is_help=True)


@app.command(
    "rebuild",
    help=_(
        "Re-create catalogue rows from the stored Opus files and the call details in them.\n\n"
        "Refused when the catalogue has rows, unless --merge. The service must be stopped. Files "
        "from --path or a connector are copied into the call storage (.mmc files decrypted with "
        "the keys in keys/). Exit 1 when any recording file could not be catalogued."
    ),
)
@command
def rebuild(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help=_("'local' (the call storage) or the name of a connector holding the archive."),
        ),
    ] = "local",
    path: Annotated[
        Path | None,
        typer.Option("--path", help=_("A folder holding a copy of the recording tree instead.")),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option("--merge", help=_("Add only the recordings the catalogue lacks.")),
    ] = False,
    signatures_from: Annotated[
        Path | None,
        typer.Option(
            "--signatures-from",
            help=_("An older mm.db whose signatures are re-used where they still verify."),
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    if path is not None and source.strip().lower() != "local":
        raise InvalidInput(_("Give --from CONNECTOR or --path DIR, not both."))
    with open_session() as session:
        where = str(path) if path is not None else source
        session.require(Operation.CATALOGUE_REBUILD, source=where, merge=merge)
        lock = EngineLock(session.engine.data_dir.lock)
        lock.acquire()
        try:

            def progress(done: int, total: int) -> None:
                if not json_out and sys.stderr.isatty():
                    sys.stderr.write(
                        "\r" + _("read {done}/{total} file(s)").format(done=done, total=total)
                    )

            report = session.catalogue_rebuild(
                source=source,
                path=path,
                merge=merge,
                signatures_from=signatures_from,
                progress=progress,
            )
        finally:
            lock.release()
    if not json_out and sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    if json_out:
        print_json(report.to_dict())
    else:
        for line in iter_report_lines(report):
            sys.stdout.write(tr(line) + "\n")
    if report.skipped:
        raise typer.Exit(EXIT_FAILED)
