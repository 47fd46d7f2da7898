"""`mm storage`: where the recordings are (local disk or hosted), moving and migrating them."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from mm_engine.errors import InvalidInput
from mm_engine.lock import EngineLock
from mm_engine.session import Operation, Session
from mm_tui.context import open_session
from mm_tui.i18n import _
from mm_tui.output import command, print_json, print_record

app = typer.Typer(
    help=_("The call storage: status, move to another disk, migrate between storages."),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]


class _Progress:
    """A progress line on a terminal's stderr, at most a few times a second."""

    def __init__(self, verb: str, enabled: bool) -> None:
        """``verb``: the translated line with {done} and {total} placeholders."""
        self.verb = verb
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.25 or done == total):
            self.last = now
            sys.stderr.write("\r" + self.verb.format(done=done, total=total))
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()


@contextmanager
def _engine_role(session: Session, **details: Any) -> Iterator[None]:
    """The engine lock for the length of a move: no recording arrives meanwhile."""
    session.require(Operation.STORAGE_MOVE, **details)
    lock = EngineLock(session.engine.data_dir.lock)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _run_locked(fn: Callable[[Session], dict[str, Any]], **details: Any) -> dict[str, Any]:
    with open_session() as session, _engine_role(session, **details):
        return fn(session)


@app.command(
    "move",
    help=_(
        "Copy every recording to NEW_PATH, verify it, switch the setting, remove the old "
        "copies.\n\nThe local-disk case of `mm storage migrate` (which keeps the old copies "
        "unless asked). Resumable: if interrupted, run the same command again. The service must "
        "be stopped, so no recording arrives in the old tree meanwhile."
    ),
)
@command
def move(
    new_path: Annotated[str, typer.Argument(help=_("The new call storage path (absolute)."))],
    json_out: JsonOpt = False,
) -> None:
    progress = _Progress(_("Copied {done:,}/{total:,}"), not json_out)
    result = _run_locked(lambda s: s.storage_move(new_path, progress), to=new_path)
    if json_out:
        print_json(result)
    else:
        typer.echo(
            _("Moved {count} recordings from {old} to {new}.").format(
                count=result["moved"], old=result["from"], new=result["to"]
            )
        )


@app.command(
    "migrate",
    help=_(
        "Copy the whole library to another storage, verify every copy, then switch to it.\n\n"
        "The folder structure stays the same. Each copy is read back and checked against the "
        "recording's catalogued SHA-256. Resumable: if interrupted, run the same command again. "
        "The old storage keeps its copies unless --delete-source is given. The service must be "
        "stopped meanwhile (ingest resumes with it; the handover folder keeps what arrives)."
    ),
)
@command
def migrate(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="CONNECTOR|local:PATH",
            help=_(
                "Where to: an S3, GCS or Azure connector's name, local:PATH, or local (the "
                "configured call storage path)."
            ),
        ),
    ] = None,
    delete_source: Annotated[
        bool,
        typer.Option(
            "--delete-source",
            help=_("Remove each recording from the old storage once switched."),
        ),
    ] = False,
    abandon: Annotated[
        bool,
        typer.Option(
            "--abandon", help=_("Give up an interrupted migration that has not switched.")
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    if abandon == (to is not None):
        raise InvalidInput(
            _("Give either --to WHERE or --abandon."), _("See `mm storage migrate --help`.")
        )
    if to is None:
        result = _run_locked(lambda s: s.storage_migrate_abandon(), op="abandon")
        if json_out:
            print_json(result)
        elif result["status"] == "none":
            typer.echo(_("No migration is unfinished."))
        else:
            typer.echo(
                _(
                    "Gave up the migration to {new} after {count} recordings; the call storage "
                    "did not change (copies made there stay)."
                ).format(new=result["to"], count=result["copied"])
            )
        return
    progress = _Progress(_("Copied and verified {done:,}/{total:,}"), not json_out)
    result = _run_locked(
        lambda s: s.storage_migrate(to, delete_source=delete_source, progress=progress),
        to=to,
        delete_source=delete_source,
    )
    if json_out:
        print_json(result)
        return
    if result["status"] == "unchanged":
        typer.echo(_("The call storage is {new} already; nothing to do.").format(new=result["to"]))
        return
    typer.echo(
        _(
            "Migrated {count} recordings from {old} to {new} ({copied} copied, {already} already "
            "there, all verified); the call storage is now {new}."
        ).format(
            count=result["moved"],
            old=result["from"],
            new=result["to"],
            copied=result["copied"],
            already=result["already_there"],
        )
    )
    if result["source_kept"]:
        typer.echo(
            _(
                "The copies in {old} were kept; remove them with --delete-source when you no "
                "longer need them."
            ).format(old=result["from"])
        )
    else:
        typer.echo(
            _("Removed {count} copies from {old}.").format(
                count=result["removed_from_old"], old=result["from"]
            )
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


@app.command(
    "status",
    help=_(
        "Where the recordings are: type, place, how many and how much, free space, reachable, "
        "and an unfinished migration if there is one."
    ),
)
@command
def status(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        data = session.storage_status()
    if json_out:
        print_json(data)
        return
    shown: dict[str, Any] = {
        "type": data["type"],
        "connector": data["connector"],
        "where": data["where"],
        "accessible": data["accessible"],
        "recordings": f"{data['recordings']:,} ({_size(data['bytes'])})",
        "free": _size(data["free_bytes"]) if data["free_bytes"] is not None else _("n/a (hosted)"),
    }
    if data["connector"] is None:
        del shown["connector"]
    migration = data["migration"]
    if migration is not None:
        shown["migration"] = _(
            "to {new} unfinished ({phase}, {done:,}/{total:,}); run the same command again"
        ).format(
            new=migration["to"],
            phase=migration["phase"],
            done=migration["done"],
            total=migration["total"],
        )
    print_record(shown)
