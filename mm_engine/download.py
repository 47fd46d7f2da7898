"""Handing recordings over as files (seed F28): one as its ``.opus``, several as one zip that
also holds an ``index.html`` listing each call and playing it in a browser.

What is written here leaves the audit's control: :meth:`Session.download` records who wrote
which recordings where, but nobody can see what happens to the files afterwards. Audio is
streamed (never read whole), checked against its catalogued hash and signature on the way, and
a file is never overwritten: a taken name gets `` (2)``, `` (3)``… instead.
"""

from __future__ import annotations

import hashlib
import html
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from mm_engine.catalogue import Catalogue
from mm_engine.domain import Recording, Verification
from mm_engine.errors import InvalidInput, MMError
from mm_engine.ingest.pipeline import safe_name
from mm_engine.text import N_, msg

DEFAULT_FOLDER = "mm-downloads"
CHUNK = 1 << 20
WARNING = N_(
    "Downloaded files leave the audit's control: mm records who downloaded which recordings "
    "and where to, but not who copies, plays or passes the files on afterwards."
)
_WRITABLE_HINT = msg("Choose a folder you may write to.")


def default_destination() -> Path:
    """Where downloads go unless the person says otherwise: a folder in their home."""
    return Path.home() / DEFAULT_FOLDER


def file_name(rec: Recording) -> str:
    """``<call-id>-<n>.opus``: the name the recording has in the call storage."""
    return f"{safe_name(rec.details.call_id)}-{rec.seq}.opus"


@dataclass(frozen=True)
class Download:
    path: Path  # the .opus or the .zip written
    ids: tuple[int, ...]
    size: int  # bytes written
    verification: dict[int, Verification]  # checked while copying

    @property
    def not_verified(self) -> list[int]:
        return [i for i, v in self.verification.items() if v is not Verification.VERIFIED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ids": list(self.ids),
            "count": len(self.ids),
            "size": self.size,
            "verification": {str(i): v.value for i, v in self.verification.items()},
        }


def export(
    catalogue: Catalogue,
    recordings: Sequence[Recording],
    destination: Path | str | None = None,
    *,
    exported_by: str = "",
    now: datetime | None = None,
) -> Download:
    """Write one recording as its .opus, or several as ``mm-recordings-<timestamp>.zip``."""
    if not recordings:
        raise InvalidInput(msg("Nothing to download."), msg("Choose at least one recording."))
    folder = prepare_folder(destination)
    moment = (now or datetime.now()).astimezone()
    if len(recordings) == 1:
        rec = recordings[0]
        with _new_file(folder, file_name(rec)) as (path, out):
            verification, size = _copy(catalogue, rec, out)
        return Download(path, (rec.id,), size, {rec.id: verification})
    name = f"mm-recordings-{moment:%Y%m%d-%H%M%S}.zip"
    with _new_file(folder, name) as (path, out):
        verified = _write_zip(catalogue, recordings, out, exported_by, moment)
        size = out.tell()
    return Download(path, tuple(r.id for r in recordings), size, verified)


def prepare_folder(destination: Path | str | None) -> Path:
    """The destination folder, created if needed; refused with a reason when unusable."""
    folder = Path(destination).expanduser() if destination else default_destination()
    folder = folder.absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidInput(
            msg("{folder} exists and is not a folder.", folder=str(folder)),
            msg("Choose a folder to write the files into."),
        ) from None
    except OSError as exc:
        raise MMError(
            msg(
                "Cannot create the folder {folder}: {error}.",
                folder=str(folder),
                error=exc.strerror or exc,
            ),
            _WRITABLE_HINT,
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MMError(msg("You may not write to {folder}.", folder=str(folder)), _WRITABLE_HINT)
    return folder


@contextmanager
def _new_file(folder: Path, name: str) -> Iterator[tuple[Path, IO[bytes]]]:
    """A file under a name nobody else has (claimed first, so nothing is overwritten), filled
    through a hidden temporary file that replaces the claim only when complete."""
    path = _claim(folder, name)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w+b") as out:
            yield path, out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, path):
            with suppress(FileNotFoundError):
                os.unlink(leftover)
        raise


def _claim(folder: Path, name: str) -> Path:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    n = 1
    while True:
        candidate = folder / (name if n == 1 else f"{stem} ({n}){dot}{suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            raise MMError(
                msg(
                    "Cannot write {path}: {error}.",
                    path=str(candidate),
                    error=exc.strerror or exc,
                ),
                _WRITABLE_HINT,
            ) from exc
        os.close(fd)
        return candidate


def _copy(catalogue: Catalogue, rec: Recording, out: IO[bytes]) -> tuple[Verification, int]:
    """Stream one recording's audio into ``out``; its verification and size."""
    digest = hashlib.sha256()
    size = 0
    with catalogue.open_audio(rec) as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return _verification(catalogue, rec, digest.hexdigest()), size


def _verification(catalogue: Catalogue, rec: Recording, sha256_hex: str) -> Verification:
    """F29 on the bytes just copied: the hash first, then the signature over hash and details."""
    if not rec.sha256:  # migrated from Contact Recorder without a checksum: nothing vouches
        return Verification.CANNOT_VERIFY
    if sha256_hex != rec.sha256:
        return Verification.TAMPERED
    genuine = catalogue.signer.verify(sha256_hex, rec.details.to_dict(), rec.signature, rec.key_id)
    if genuine is None:
        return Verification.CANNOT_VERIFY
    return Verification.VERIFIED if genuine else Verification.TAMPERED


def _write_zip(
    catalogue: Catalogue,
    recordings: Sequence[Recording],
    out: IO[bytes],
    exported_by: str,
    moment: datetime,
) -> dict[int, Verification]:
    verified: dict[int, Verification] = {}
    names: dict[int, str] = {}
    used: set[str] = set()
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for rec in recordings:
            name = _unique(file_name(rec), used)
            names[rec.id] = name
            start = rec.details.start.astimezone()
            info = zipfile.ZipInfo(name, date_time=start.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED  # Opus does not compress further
            info.file_size = rec.size  # lets zipfile choose zip64 for huge files up front
            info.external_attr = 0o600 << 16
            with archive.open(info, "w") as entry:
                verified[rec.id], _ = _copy(catalogue, rec, entry)
        page = index_html(recordings, names, verified, exported_by, moment)
        info = zipfile.ZipInfo("index.html", date_time=moment.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        archive.writestr(info, page.encode("utf-8"))
    return verified


def _unique(name: str, used: set[str]) -> str:
    stem, _, suffix = name.rpartition(".")
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem} ({n}).{suffix}"
    used.add(candidate)
    return candidate


# -- the page in the zip ----------------------------------------------------------------------

VERIFIED_TEXT = {
    Verification.VERIFIED: "✓ verified",
    Verification.TAMPERED: "✗ not verified",
    Verification.CANNOT_VERIFY: "? cannot verify",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.4em; }
p.note { color: #555; max-width: 60em; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ccc; padding: .35em .6em; text-align: left;
         vertical-align: middle; }
th { background: #f1f1f1; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
.verified, .tampered, .cannot { white-space: nowrap; }
.verified { color: #176117; } .tampered { color: #a40000; font-weight: bold; }
.cannot { color: #7a5a00; }
audio { height: 2.2em; }
"""

_CLASS = {
    Verification.VERIFIED: "verified",
    Verification.TAMPERED: "tampered",
    Verification.CANNOT_VERIFY: "cannot",
}


def _length(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def index_html(
    recordings: Sequence[Recording],
    names: dict[int, str],
    verified: dict[int, Verification],
    exported_by: str,
    moment: datetime,
) -> str:
    """A self-contained page (UTF-8, no external resources, no script) listing each recording's
    call details with a player for its file beside the page."""

    def e(value: object) -> str:
        return html.escape(str(value), quote=True)

    rows = []
    for rec in recordings:
        d = rec.details
        state = verified.get(rec.id, Verification.CANNOT_VERIFY)
        cells = [
            f'<td class="num"><time datetime="{e(d.start.isoformat())}">'
            f"{e(d.start.strftime('%Y-%m-%d %H:%M:%S'))}</time></td>",
            f'<td class="num">{e(_length(rec.duration_s))}</td>',
            f"<td>{e(', '.join(d.parties))}</td>",
            f"<td>{e(d.direction.value)}</td>",
            f"<td>{e(', '.join(d.agents))}</td>",
            f"<td>{e(d.owner)}</td>",
            f"<td>{e(d.target)}</td>",
            f"<td>{e(d.skill)}</td>",
            f"<td>{e(d.call_id)}</td>",
            f'<td class="{_CLASS[state]}">{e(VERIFIED_TEXT[state])}</td>',
            f'<td><audio controls preload="metadata" src="{e(quote(names[rec.id]))}">'
            f'<a href="{e(quote(names[rec.id]))}">{e(names[rec.id])}</a></audio></td>',
        ]
        rows.append(f'<tr data-recording="{rec.id}">' + "".join(cells) + "</tr>")
    by = f" by {e(exported_by)}" if exported_by else ""
    head = (
        "<th>Date</th><th>Length</th><th>Parties</th><th>Direction</th><th>Agent</th>"
        "<th>Initiator</th><th>Target</th><th>Skill</th><th>Call ID</th><th>Verified</th>"
        "<th>Play</th>"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Call recordings ({len(recordings)})</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>Call recordings ({len(recordings)})</h1>",
            f'<p class="note">Exported from mm on {e(moment.strftime("%Y-%m-%d %H:%M:%S %z"))}'
            f"{by}. Verified: the file's SHA-256 and the recorder's signature over it and the "
            f"call details were checked when it was exported. {e(WARNING)}</p>",
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>",
            *rows,
            "</tbody>\n</table>",
            "</body>",
            "</html>",
            "",
        ]
    )
