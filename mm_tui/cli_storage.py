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
from mm_tui.output import command, print_json, print_record

app = typer.Typer(
    help="The call storage: status, move to another disk, migrate between storages.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class _Progress:
    """A progress line on a terminal's stderr, at most a few times a second."""

    def __init__(self, verb: str, enabled: bool) -> None:
        self.verb = verb
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.25 or done == total):
            self.last = now
            sys.stderr.write(f"\r{self.verb} {done:,}/{total:,}")
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


@app.command("move")
@command
def move(
    new_path: Annotated[str, typer.Argument(help="The new call storage path (absolute).")],
    json_out: JsonOpt = False,
) -> None:
    """Copy every recording to NEW_PATH, verify it, switch the setting, remove the old copies.

    The local-disk case of `mm storage migrate` (which keeps the old copies unless asked).
    Resumable: if interrupted, run the same command again. The service must be stopped,
    so no recording arrives in the old tree meanwhile.
    """
    progress = _Progress("Copied", not json_out)
    result = _run_locked(lambda s: s.storage_move(new_path, progress), to=new_path)
    if json_out:
        print_json(result)
    else:
        typer.echo(f"Moved {result['moved']} recordings from {result['from']} to {result['to']}.")


@app.command("migrate")
@command
def migrate(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="CONNECTOR|local:PATH",
            help="Where to: an S3, GCS or Azure connector's name, local:PATH, or local (the "
            "configured call storage path).",
        ),
    ] = None,
    delete_source: Annotated[
        bool,
        typer.Option(
            "--delete-source", help="Remove each recording from the old storage once switched."
        ),
    ] = False,
    abandon: Annotated[
        bool,
        typer.Option("--abandon", help="Give up an interrupted migration that has not switched."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Copy the whole library to another storage, verify every copy, then switch to it.

    The folder structure stays the same. Each copy is read back and checked against the
    recording's catalogued SHA-256. Resumable: if interrupted, run the same command again.
    The old storage keeps its copies unless --delete-source is given. The service must be
    stopped meanwhile (ingest resumes with it; the handover folder keeps what arrives).
    """
    if abandon == (to is not None):
        raise InvalidInput(
            "Give either --to WHERE or --abandon.", "See `mm storage migrate --help`."
        )
    if to is None:
        result = _run_locked(lambda s: s.storage_migrate_abandon(), op="abandon")
        if json_out:
            print_json(result)
        elif result["status"] == "none":
            typer.echo("No migration is unfinished.")
        else:
            typer.echo(
                f"Gave up the migration to {result['to']} after {result['copied']} recordings; "
                "the call storage did not change (copies made there stay)."
            )
        return
    progress = _Progress("Copied and verified", not json_out)
    result = _run_locked(
        lambda s: s.storage_migrate(to, delete_source=delete_source, progress=progress),
        to=to,
        delete_source=delete_source,
    )
    if json_out:
        print_json(result)
        return
    if result["status"] == "unchanged":
        typer.echo(f"The call storage is {result['to']} already; nothing to do.")
        return
    typer.echo(
        f"Migrated {result['moved']} recordings from {result['from']} to {result['to']} "
        f"({result['copied']} copied, {result['already_there']} already there, all verified); "
        f"the call storage is now {result['to']}."
    )
    if result["source_kept"]:
        typer.echo(
            f"The copies in {result['from']} were kept; remove them with --delete-source "
            "when you no longer need them."
        )
    else:
        typer.echo(f"Removed {result['removed_from_old']} copies from {result['from']}.")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


@app.command("status")
@command
def status(json_out: JsonOpt = False) -> None:
    """Where the recordings are: type, place, how many and how much, free space, reachable,
    and an unfinished migration if there is one."""
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
        "free": _size(data["free_bytes"]) if data["free_bytes"] is not None else "n/a (hosted)",
    }
    if data["connector"] is None:
        del shown["connector"]
    migration = data["migration"]
    if migration is not None:
        shown["migration"] = (
            f"to {migration['to']} unfinished ({migration['phase']}, "
            f"{migration['done']:,}/{migration['total']:,}); run the same command again"
        )
    print_record(shown)
