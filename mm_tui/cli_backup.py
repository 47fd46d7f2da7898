"""`mm backup`: database, configuration and keys in one password-protected file (seed F4)."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from mm_engine.backup import (
    Manifest,
    RestoreResult,
    check_restore_target,
    restore_backup,
    storage_advice,
)
from mm_engine.errors import InvalidInput, NotFound, Refused
from mm_engine.paths import DataDir
from mm_engine.principal import SYSTEM
from mm_engine.session import Operation
from mm_tui.context import open_session
from mm_tui.output import command, print_json
from mm_tui.prompt import read_new_password

app = typer.Typer(
    help="Back up and restore the database, configuration and keys (not the recordings).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _progress(verb: str, json_out: bool) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if not json_out and sys.stderr.isatty() and total:
            sys.stderr.write(f"\r{verb} {100 * done // total}%")

    return show


def _end_progress(json_out: bool) -> None:
    if not json_out and sys.stderr.isatty():
        sys.stderr.write("\r\033[K")


def _summary(manifest: Manifest) -> str:
    c = manifest.counts
    return (
        f"{c.get('recordings', 0)} recording(s) catalogued, {c.get('users', 0)} user(s), "
        f"{c.get('connectors', 0)} connector(s), {c.get('audit', 0)} audit event(s), "
        f"{len(manifest.keys)} key file(s)"
    )


@app.command("create")
@command
def create(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The backup file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write the database (a consistent copy, even while the service runs), the configuration
    and the keys into one password-protected FILE. Recordings are not included.

    The password is prompted twice, or read as one line from stdin; at least 8 characters.
    """
    if file.exists() and not force:
        raise Refused(f"{file} exists.", "Pass --force to replace it, or choose another name.")
    with open_session() as session:
        # checked before asking for the password, which would otherwise be asked for nothing
        session.require(Operation.BACKUP, op="backup create", file=str(file))
        password = read_new_password("Backup password")
        manifest = session.backup_create(
            file,
            password,
            force=force,
            progress=_progress("backing up", json_out),
        )
    _end_progress(json_out)
    if json_out:
        print_json({"file": str(file), "manifest": manifest.to_dict()})
        return
    sys.stderr.write(
        f"Backed up to {file}: {_summary(manifest)}.\n"
        f"Recordings are not included: keep {manifest.call_storage_path} and the archive "
        "connectors safe on their own. Keep the password apart from the file: without it the "
        "backup cannot be opened.\n"
    )


def _read_password() -> str:
    """Once on a terminal (the file says if it is wrong), else one line of stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass("Backup password: ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput(
            "No backup password given.",
            "Type it at the prompt, or pipe it in as one line of stdin.",
        )
    return password


def _require_owner(root: Path) -> None:
    """Restoring replaces files in the data directory, so it is for whoever owns them."""
    if root.exists():
        if os.stat(root).st_uid != os.geteuid():
            raise Refused(
                f"Only the owner of {root} may restore a backup into it.",
                "Run it as the service account (e.g. `sudo -u mm mm backup restore FILE`).",
            )
        return
    parent = root.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise Refused(f"{root} cannot be created here (no write access to {parent}).")


def _report(result: RestoreResult, file: Path) -> None:
    m = result.manifest
    out = sys.stderr
    out.write(
        f"Restored {file} (made {m.created_at} on {m.host or 'an unknown host'}, mm "
        f"{m.mm_version}, schema {m.schema_version}) into {result.data_dir}: {_summary(m)}.\n"
    )
    if result.moved_aside:
        out.write(f"Moved aside, not deleted: {', '.join(result.moved_aside)}.\n")
    if result.keys_carried_over:
        out.write(
            f"Kept archive key(s) made after the backup: {', '.join(result.keys_carried_over)}.\n"
        )
    if result.audit_ok:
        out.write(f"Audit trail intact: {result.audit_checked} event(s) checked.\n")
    else:
        out.write(f"Warning: the audit trail does not verify: {result.audit_problem}.\n")
    moved = (
        f" (the backup's installation used {m.call_storage_path})"
        if m.call_storage_path != result.call_storage_path
        else ""
    )
    out.write(
        f"Call storage: {result.call_storage_path}{moved}: {result.files_present} of "
        f"{result.recordings} recording file(s) present.\n"
    )
    advice = storage_advice(result)
    if advice:
        out.write(f"Warning: {advice}\n")


@app.command("restore")
@command
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The backup file to restore.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Restore over an installation in use: its database and keys are moved aside "
            "first (never deleted).",
        ),
    ] = False,
    call_storage_path: Annotated[
        str | None,
        typer.Option(
            "--call-storage-path",
            help="Where the recording tree is on this machine, if not where the backup says.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Restore database, configuration and keys from FILE into the data directory (--home).

    The data directory must be empty (no database, no keys) unless --force. No engine may run
    on it. The password is prompted once, or read as one line from stdin. Needs no login: it
    is for the owner of the data directory.
    """
    home = ctx.find_root().params.get("home")
    data_dir = DataDir.resolve(home)
    _require_owner(data_dir.root)
    check_restore_target(data_dir.root, force)
    if not file.is_file():
        raise NotFound(f"{file} does not exist.")
    password = _read_password()
    result = restore_backup(
        data_dir.root,
        file,
        password,
        actor=SYSTEM.name,
        force=force,
        call_storage_path=call_storage_path,
        progress=_progress("restoring", json_out),
    )
    _end_progress(json_out)
    if json_out:
        print_json({**result.to_dict(), "advice": storage_advice(result)})
        return
    _report(result, file)
