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
from mm_tui.i18n import _, plural, tr
from mm_tui.output import command, print_json
from mm_tui.prompt import read_new_password

app = typer.Typer(
    help=_("Back up and restore the database, configuration and keys (not the recordings)."),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]


def _progress(line: str, json_out: bool) -> Callable[[int, int], None]:
    """``line``: the translated text with a {percent} placeholder."""

    def show(done: int, total: int) -> None:
        if not json_out and sys.stderr.isatty() and total:
            sys.stderr.write("\r" + line.format(percent=100 * done // total))

    return show


def _end_progress(json_out: bool) -> None:
    if not json_out and sys.stderr.isatty():
        sys.stderr.write("\r\033[K")


def _summary(manifest: Manifest) -> str:
    c = manifest.counts
    parts = (
        plural("{count} recording(s) catalogued", c.get("recordings", 0)),
        plural("{count} user(s)", c.get("users", 0)),
        plural("{count} connector(s)", c.get("connectors", 0)),
        plural("{count} audit event(s)", c.get("audit", 0)),
        plural("{count} key file(s)", len(manifest.keys)),
    )
    counts = (
        c.get("recordings", 0),
        c.get("users", 0),
        c.get("connectors", 0),
        c.get("audit", 0),
        len(manifest.keys),
    )
    return ", ".join(p.format(count=n) for p, n in zip(parts, counts, strict=True))


@app.command(
    "create",
    help=_(
        "Write the database (a consistent copy, even while the service runs), the configuration "
        "and the keys into one password-protected FILE. Recordings are not included.\n\n"
        "The password is prompted twice, or read as one line from stdin; at least 8 characters."
    ),
)
@command
def create(
    file: Annotated[Path, typer.Argument(metavar="FILE", help=_("The backup file to write."))],
    force: Annotated[bool, typer.Option("--force", help=_("Replace FILE if it exists."))] = False,
    json_out: JsonOpt = False,
) -> None:
    if file.exists() and not force:
        raise Refused(
            _("{file} exists.").format(file=file),
            _("Pass --force to replace it, or choose another name."),
        )
    with open_session() as session:
        # checked before asking for the password, which would otherwise be asked for nothing
        session.require(Operation.BACKUP, op="backup create", file=str(file))
        password = read_new_password(_("Backup password"))
        manifest = session.backup_create(
            file,
            password,
            force=force,
            progress=_progress(_("backing up {percent}%"), json_out),
        )
    _end_progress(json_out)
    if json_out:
        print_json({"file": str(file), "manifest": manifest.to_dict()})
        return
    sys.stderr.write(
        _("Backed up to {file}: {summary}.").format(file=file, summary=_summary(manifest))
        + "\n"
        + _(
            "Recordings are not included: keep {path} and the archive connectors safe on their "
            "own. Keep the password apart from the file: without it the backup cannot be opened."
        ).format(path=manifest.call_storage_path)
        + "\n"
    )


def _read_password() -> str:
    """Once on a terminal (the file says if it is wrong), else one line of stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass(_("{what}: ").format(what=_("Backup password")))
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput(
            _("No backup password given."),
            _("Type it at the prompt, or pipe it in as one line of stdin."),
        )
    return password


def _require_owner(root: Path) -> None:
    """Restoring replaces files in the data directory, so it is for whoever owns them."""
    if root.exists():
        if os.stat(root).st_uid != os.geteuid():
            raise Refused(
                _("Only the owner of {path} may restore a backup into it.").format(path=root),
                _("Run it as the service account (e.g. `sudo -u mm mm backup restore FILE`)."),
            )
        return
    parent = root.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise Refused(
            _("{path} cannot be created here (no write access to {parent}).").format(
                path=root, parent=parent
            )
        )


def _report(result: RestoreResult, file: Path) -> None:
    m = result.manifest
    out = sys.stderr
    out.write(
        _(
            "Restored {file} (made {created} on {host}, mm {version}, schema {schema}) into "
            "{data_dir}: {summary}."
        ).format(
            file=file,
            created=m.created_at,
            host=m.host or _("an unknown host"),
            version=m.mm_version,
            schema=m.schema_version,
            data_dir=result.data_dir,
            summary=_summary(m),
        )
        + "\n"
    )
    if result.moved_aside:
        out.write(
            _("Moved aside, not deleted: {files}.").format(files=", ".join(result.moved_aside))
            + "\n"
        )
    if result.keys_carried_over:
        out.write(
            _("Kept archive key(s) made after the backup: {keys}.").format(
                keys=", ".join(result.keys_carried_over)
            )
            + "\n"
        )
    if result.audit_ok:
        out.write(
            plural("Audit trail intact: {count} event(s) checked.", result.audit_checked).format(
                count=result.audit_checked
            )
            + "\n"
        )
    else:
        out.write(
            _("Warning: the audit trail does not verify: {problem}.").format(
                problem=tr(result.audit_problem)
            )
            + "\n"
        )
    moved = (
        _(" (the backup's installation used {path})").format(path=m.call_storage_path)
        if m.call_storage_path != result.call_storage_path
        else ""
    )
    out.write(
        plural(
            "Call storage: {path}{moved}: {present} of {count} recording file(s) present.",
            result.recordings,
        ).format(
            path=result.call_storage_path,
            moved=moved,
            present=result.files_present,
            count=result.recordings,
        )
        + "\n"
    )
    advice = storage_advice(result)
    if advice:
        out.write(_("Warning: {advice}").format(advice=tr(advice)) + "\n")


@app.command(
    "restore",
    help=_(
        "Restore database, configuration and keys from FILE into the data directory (--home)."
        "\n\nThe data directory must be empty (no database, no keys) unless --force. No engine "
        "may run on it. The password is prompted once, or read as one line from stdin. Needs no "
        "login: it is for the owner of the data directory."
    ),
)
@command
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help=_("The backup file to restore."))],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help=_(
                "Restore over an installation in use: its database and keys are moved aside "
                "first (never deleted)."
            ),
        ),
    ] = False,
    call_storage_path: Annotated[
        str | None,
        typer.Option(
            "--call-storage-path",
            help=_("Where the recording tree is on this machine, if not where the backup says."),
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    home = ctx.find_root().params.get("home")
    data_dir = DataDir.resolve(home)
    _require_owner(data_dir.root)
    check_restore_target(data_dir.root, force)
    if not file.is_file():
        raise NotFound(_("{file} does not exist.").format(file=file))
    password = _read_password()
    result = restore_backup(
        data_dir.root,
        file,
        password,
        actor=SYSTEM.name,
        force=force,
        call_storage_path=call_storage_path,
        progress=_progress(_("restoring {percent}%"), json_out),
    )
    _end_progress(json_out)
    if json_out:
        print_json({**result.to_dict(), "advice": storage_advice(result)})
        return
    _report(result, file)
