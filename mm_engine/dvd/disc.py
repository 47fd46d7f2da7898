"""Which disc is ours: the marker file mm writes on every disc it burns, and the verdict
blank / ours / foreign.

Every session mm writes carries ``/.mm-disc.json``: the DVD label, the disc's sequence number and
the library it belongs to (the same content each time, so the newest session always shows it).
The volume id of every session is ``<label>-<sequence>`` with four digits (``ARCHIVE-0003``), the
name a technician reads on the disc list and in alarms. Each session also leaves
``/.mm-sessions/<n>.json``: what that session added (path, size, SHA-256, MD5) and when, so a disc
can be re-catalogued from the disc alone.

A non-blank disc without our marker, or with another label's or library's, is *foreign*: it is
never written to or blanked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mm_engine.dvd.xorriso import MediaInfo, MediaState, Xorriso
from mm_engine.errors import NotFound, Refused
from mm_engine.text import N_, Msg, msg

MARKER_PATH = "/.mm-disc.json"
SESSIONS_DIR = "/.mm-sessions"
MARKER_FORMAT = 1
LABEL = re.compile(r"^[A-Za-z0-9_]{1,27}$")
LABEL_RULE = N_("1-27 letters, digits or _ (it becomes the discs' volume id, e.g. ARCHIVE-0001)")


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a DVD label (None when it can)."""
    return None if LABEL.match(label) else msg("must be {rule}", rule=Msg(LABEL_RULE))


def volume_id(label: str, sequence: int) -> str:
    """The volume id of disc ``sequence`` of a label: ``LABEL-0001`` (at most 32 characters)."""
    return f"{label}-{sequence:04d}"


@dataclass(frozen=True)
class DiscMarker:
    label: str
    sequence: int
    library: str
    created: str  # when the disc's first session was written (ISO 8601, UTC)

    @property
    def volume_id(self) -> str:
        return volume_id(self.label, self.sequence)

    @classmethod
    def new(cls, label: str, sequence: int, library: str) -> DiscMarker:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(label, sequence, library, now)

    def to_json(self) -> bytes:
        body = {
            "mm_disc": MARKER_FORMAT,
            "label": self.label,
            "sequence": self.sequence,
            "volume_id": self.volume_id,
            "library": self.library,
            "created": self.created,
        }
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> DiscMarker | None:
        """The marker in ``data``, or None when it is not a marker mm can read."""
        try:
            body: Any = json.loads(data.decode("utf-8"))
            if not isinstance(body, dict) or body.get("mm_disc") != MARKER_FORMAT:
                return None
            marker = cls(
                str(body["label"]),
                int(body["sequence"]),
                str(body["library"]),
                str(body["created"]),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        return marker if LABEL.match(marker.label) and marker.sequence > 0 else None


class DiscKind(StrEnum):
    ABSENT = "absent"  # no disc in the drive
    BLANK = "blank"  # nothing on it: it can become our next disc
    OURS = "ours"  # written by this library under this label
    FOREIGN = "foreign"  # anything else that is not blank: never written to


@dataclass(frozen=True)
class DiscState:
    kind: DiscKind
    media: MediaInfo
    marker: DiscMarker | None
    reason: str  # in words, for people (a msg() that goes inside a sentence)
    opening: str = ""  # the same, capitalised, to open a sentence

    @property
    def volume_id(self) -> str | None:
        return self.marker.volume_id if self.marker else self.media.volume_id


class ForeignDisc(Refused):
    title = N_("Not our disc")


class DiscNeeded(NotFound):
    """A recording's only readable copy is on a disc that is not in the drive: the message
    names the disc and the drive, so a technician knows what to insert."""

    title = N_("Insert a disc")

    def __init__(self, recording_id: int, volume_id: str, drive: str, found: str) -> None:
        super().__init__(
            msg(
                "Recording {recording_id} is archived on disc {volume_id}, which is not in the "
                "drive {drive} ({found}).",
                recording_id=recording_id,
                volume_id=volume_id,
                drive=drive,
                found=found,
            ),
            msg(
                "Insert disc {volume_id} into {drive}, then try again.",
                volume_id=volume_id,
                drive=drive,
            ),
        )
        self.recording_id = recording_id
        self.volume_id = volume_id
        self.drive = drive


def classify(drive: Xorriso, label: str, library: str = "") -> DiscState:
    """Look at the disc in ``drive``: absent, blank, ours (marker with ``label`` and, when
    given, ``library``) or foreign. Raises DriveUnavailable when there is no drive."""
    media = drive.media_info()
    if not media.present:
        return DiscState(
            DiscKind.ABSENT,
            media,
            None,
            msg("there is no disc in {drive}", drive=drive.drive),
            msg("There is no disc in {drive}", drive=drive.drive),
        )
    if media.state is MediaState.BLANK:
        return DiscState(
            DiscKind.BLANK, media, None, msg("the disc is blank"), msg("The disc is blank")
        )
    data = drive.read_bytes(MARKER_PATH) if media.sessions else None
    marker = DiscMarker.from_json(data) if data is not None else None
    if marker is None:
        if media.volume_id:
            shown = media.volume_id
            reason = msg(
                "disc {disc} was not written by mm (it has no {marker})",
                disc=shown,
                marker=MARKER_PATH,
            )
            opening = msg(
                "Disc {disc} was not written by mm (it has no {marker})",
                disc=shown,
                marker=MARKER_PATH,
            )
        else:
            reason = msg(
                "disc (no volume id) was not written by mm (it has no {marker})",
                marker=MARKER_PATH,
            )
            opening = msg(
                "Disc (no volume id) was not written by mm (it has no {marker})",
                marker=MARKER_PATH,
            )
        return DiscState(DiscKind.FOREIGN, media, None, reason, opening)
    disc = marker.volume_id
    if marker.label != label:
        reason = msg(
            "disc {disc} belongs to DVD label {other}, not {label}",
            disc=disc,
            other=marker.label,
            label=label,
        )
        opening = msg(
            "Disc {disc} belongs to DVD label {other}, not {label}",
            disc=disc,
            other=marker.label,
            label=label,
        )
        return DiscState(DiscKind.FOREIGN, media, marker, reason, opening)
    if library and marker.library != library:
        reason = msg("disc {disc} belongs to another mm installation", disc=disc)
        opening = msg("Disc {disc} belongs to another mm installation", disc=disc)
        return DiscState(DiscKind.FOREIGN, media, marker, reason, opening)
    return DiscState(
        DiscKind.OURS,
        media,
        marker,
        msg("disc {disc} is ours", disc=disc),
        msg("Disc {disc} is ours", disc=disc),
    )


def erase_token(state: DiscState) -> str:
    """What :func:`erase` asks to be confirmed with, for the disc in ``state``."""
    return Xorriso.blank_token(state.media)


def erase(drive: Xorriso, label: str, library: str, confirm: str) -> MediaInfo:
    """Blank a disc of ours so it can be reused; ``confirm`` must be :func:`erase_token`.

    A foreign disc is refused whatever the confirmation: mm never overwrites what it did not
    write. A blank disc is left as it is.
    """
    state = classify(drive, label, library)
    if state.kind is DiscKind.FOREIGN:
        raise ForeignDisc(
            msg("Refusing to blank it: {reason}.", reason=state.reason),
            msg("mm never erases a disc it did not write; use a blank DVD+RW."),
        )
    if state.kind is DiscKind.BLANK:
        return state.media
    return drive.blank(confirm)
