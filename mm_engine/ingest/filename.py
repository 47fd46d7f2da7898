"""The file-name convention, the last carrier of call details before the file's own time.

``<call_id>_<YYYYMMDDTHHMMSS[Z|±hhmm]>[_<direction>[_<owner>]].<ext>``, e.g.
``4711002_20261120T140500+0100_inbound_201.wav``. A voicemail server that can set nothing
else can usually name its files, so the name carries the fields that matter most for finding
a call. It is a fallback, so it never fails: a name that does not follow the convention
exactly yields only ``call_id`` = the name without its extension.
"""

from __future__ import annotations

import re
from datetime import datetime

from mm_engine.domain import CallDetails

STAMP_FORMAT = "%Y%m%dT%H%M%S"
_NAME = re.compile(
    r"^(?P<call_id>.+?)_(?P<start>\d{8}T\d{6}(?:Z|[+-]\d{4})?)"
    r"(?:_(?P<direction>internal|inbound|outbound)(?:_(?P<owner>.+))?)?$",
    re.IGNORECASE,
)
_UNSAFE = re.compile(r"[/\\\0]")


def parse_name(stem: str) -> dict[str, str]:
    """The raw call-detail fields a file name (without extension) carries."""
    match = _NAME.match(stem)
    if match is None:
        return {"call_id": stem}
    try:
        datetime.fromisoformat(match["start"])
    except ValueError:  # looks like a stamp but is no date (month 13): not our convention
        return {"call_id": stem}
    return {key: value for key, value in match.groupdict().items() if value}


def make_name(details: CallDetails, suffix: str) -> str:
    """The conventional name for ``details``; ``suffix`` includes the dot (``".wav"``).

    Raises ValueError for a call id or owner that cannot be carried in a file name, or that
    would read back differently.
    """
    stamp = details.start.strftime(STAMP_FORMAT)
    offset = details.start.strftime("%z")
    parts = [details.call_id, stamp + offset, details.direction.value]
    if details.owner:
        parts.append(details.owner)
    stem = "_".join(parts)
    if _UNSAFE.search(stem) or stem.startswith("."):
        raise ValueError(f"cannot carry {stem!r} in a file name")
    expected = {
        "call_id": details.call_id,
        "start": stamp + offset,
        "direction": details.direction.value,
    }
    if details.owner:
        expected["owner"] = details.owner
    if parse_name(stem) != expected:
        raise ValueError(f"{stem!r} would not read back as the same call details")
    return stem + suffix
