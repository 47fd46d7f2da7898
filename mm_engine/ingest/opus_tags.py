"""Opus comments (the Vorbis-comment block of an Ogg/Opus file), read and edited in place.

mutagen rewrites only the comment header pages; when their page count changes it renumbers the
pages that follow a page at a time, so an hour-long file is never held in memory. Comment
names are case-insensitive by the Vorbis comment rules, so they are handed out lowercased.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mutagen import MutagenError
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

# Keep some room in the comment header, so a later edit (re-tagging after a correction)
# rewrites one page instead of renumbering every page of the file.
PADDING = 1024


def _open(path: Path) -> Any:
    """The file as Ogg/Opus, or Ogg/Vorbis (same comment format), or None if it is neither."""
    for kind in (OggOpus, OggVorbis):
        try:
            return kind(str(path))
        except FileNotFoundError:
            raise
        # mutagen's parsers fail on damaged input with whatever they trip over (IndexError,
        # struct.error, ...); a damaged input only means this carrier is absent.
        except Exception:
            continue
    return None


def read_comments(path: Path) -> dict[str, str] | None:
    """Lowercased comment name -> value; a name given twice has its values ``;``-joined.

    None when the file has no readable Ogg/Opus (or Vorbis) comment header.
    """
    audio = _open(path)
    if audio is None or audio.tags is None:
        return None
    out: dict[str, str] = {}
    for key, value in audio.tags:
        name = str(key).lower()
        out[name] = f"{out[name]};{value}" if name in out else str(value)
    return out


def update_comments(path: Path, fields: dict[str, str]) -> None:
    """Set ``fields`` (replacing any earlier value of each), keeping the rest and the vendor."""
    try:
        audio: Any = OggOpus(str(path))  # type: ignore[no-untyped-call]
    except MutagenError as exc:
        raise ValueError(f"{path.name}: not an Ogg/Opus file ({exc})") from None
    if audio.tags is None:  # pragma: no cover - every Ogg/Opus stream has a comment header
        audio.add_tags()
    for key, value in fields.items():
        audio.tags[key] = [value]
    audio.save(padding=lambda _info: PADDING)
