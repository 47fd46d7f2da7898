"""`mm decrypt`: recover an archived file with its key alone.

The point is disaster recovery on any machine: no data directory, no database, no session and
no login, only the ``.mmc`` file and its key file (or a copy of the ``keys/`` folder).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from mm_engine.errors import InvalidInput, MMError, NotFound, Refused
from mm_engine.storage.archive_keys import ArchiveKeys
from mm_engine.storage.crypt import SUFFIX, ArchiveKey, KeyRing, decrypt_stream
from mm_tui.i18n import _, plural
from mm_tui.output import command


def default_output(file: Path) -> Path:
    if file.suffix != SUFFIX:
        raise InvalidInput(
            _(
                "{file} does not end in {suffix}, so the output name cannot be derived from it."
            ).format(file=file, suffix=SUFFIX),
            _("Pass --out OUT."),
        )
    return file.with_suffix("")


def _write_plaintext(file: Path, target: Path, key: ArchiveKey | KeyRing, force: bool) -> int:
    """Decrypt into a hidden temporary file beside ``target``; only a whole file gets its name.

    Without ``force`` the rename is a hard link, which fails rather than replace a file that
    appeared meanwhile.
    """
    tmp = target.with_name(f".{target.name}.mm-tmp-{uuid.uuid4().hex}")
    try:
        src = open(file, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise NotFound(_("{file} does not exist.").format(file=file)) from None
    except OSError as exc:
        raise MMError(
            _("{file} cannot be read: {reason}.").format(file=file, reason=exc.strerror)
        ) from None
    try:
        with src:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                raise MMError(
                    _("Cannot write {file}: {reason}.").format(file=target, reason=exc.strerror)
                ) from None
            with os.fdopen(fd, "wb") as dst:
                size = decrypt_stream(src, dst, key)
                dst.flush()
                os.fsync(dst.fileno())
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise Refused(
                    _("{file} exists.").format(file=target),
                    _("Pass --force to replace it, or choose --out."),
                ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return size


@command
def decrypt(
    file: Annotated[
        Path,
        typer.Argument(help=_("The encrypted archive file ({suffix}).").format(suffix=SUFFIX)),
    ],
    key: Annotated[
        Path,
        typer.Option(
            "--key",
            help=_("The archive key file (keys/archive-<id>.key), or a keys/ folder to pick from."),
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help=_("Where to write the plaintext (default: FILE without {suffix}).").format(
                suffix=SUFFIX
            ),
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=_("Replace OUT if it exists."))] = False,
) -> None:
    target = out if out is not None else default_output(file)
    if target.exists() and not force:
        raise Refused(
            _("{file} exists.").format(file=target),
            _("Pass --force to replace it, or choose --out."),
        )
    keys: ArchiveKey | KeyRing = ArchiveKeys(key) if key.is_dir() else ArchiveKeys.from_file(key)
    size = _write_plaintext(file, target, keys, force)
    sys.stderr.write(
        plural("Decrypted {file} to {target} ({count} bytes).", size).format(
            file=file, target=target, count=size
        )
        + "\n"
    )


# the help `mm decrypt` shows (cli.py registers the function itself)
decrypt.__doc__ = _(
    "Decrypt an archived recording with its key alone; needs no data directory or database."
    "\n\nThe output appears only when the whole file has decrypted and authenticated."
)
