"""Call details of a handover recording, gathered from every carrier that has them.

Carriers in precedence order (per field, the first carrier that has it wins): sidecar
(JSON or XML), our RIFF ``mmcd`` chunk, RIFF ``LIST``/``INFO``, Opus comments, the file
name, and finally the file's own time and length. The input contract is docs/handover-format.md;
this module is its implementation, so the two change together.

Every carrier's values go through the same validation, so a value means the same thing
wherever it was written. Only values that are actually used are validated: a field that a
higher carrier already supplied is not read from the lower ones.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mm_engine.domain import CALL_DETAIL_KEYS, LIST_KEYS, CallDetails, Direction, OwnerKind
from mm_engine.ingest import filename, opus_tags, riff, sidecar
from mm_engine.text import N_, Msg, msg

__all__ = [
    "OUR_CHUNK",
    "CallDetailsError",
    "ParsedInput",
    "format_lines",
    "opus_comments",
    "parse_lines",
    "read_call_details",
    "read_opus_tags",
    "sidecar_for",
    "write_opus_tags",
]

OUR_CHUNK = "mmcd"
_RIFF = "riff"  # the carrier that is our own RIFF chunk
# Chunks that describe the audio itself (or are filler): not worth keeping as "unknown".
STANDARD_CHUNKS = frozenset(
    {"fmt ", "data", "fact", "LIST", OUR_CHUNK, "ds64", "JUNK", "junk", "PAD ", "FLLR"}
)
MAX_KEPT_CHUNK = 64 * 1024
EXTRA_PREFIX = "mm_riff_"
# INFO fields that stand for one call-detail key (ICMT holds key=value lines for all keys).
INFO_KEYS = {"INAM": "call_id", "ICRD": "start"}

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_HAS_TIME = re.compile(r"^\d{4}-?\d{2}-?\d{2}[T ]\d{2}", re.IGNORECASE)
_EXPECTED_START = msg("expected an ISO 8601 date and time, e.g. 2026-11-20T14:05:00+01:00")

LABELS = {
    "json": N_("JSON sidecar"),
    "xml": N_("XML sidecar"),
    "riff": N_("RIFF 'mmcd' chunk"),  # OUR_CHUNK
    "riff-info": N_("RIFF LIST/INFO chunk"),
    "opus": N_("Opus comments"),
    "filename": N_("file name"),
}


class CallDetailsError(ValueError):
    """Call details that are present but wrong; the message names the file, carrier and key."""

    def __init__(self, message: str, *, carrier: str = "", key: str = "") -> None:
        super().__init__(message)
        self.message = message  # a msg(), the reason a person reads
        self.carrier = carrier
        self.key = key


@dataclass
class ParsedInput:
    details: CallDetails
    # field -> "json", "xml", "riff", "riff-info", "opus", "filename", "file" (the start from
    # the file's time and length) or "default" (no carrier had it)
    sources: dict[str, str]
    sidecar: Path | None
    extra_tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Carrier:
    source: str
    label: str  # a msg(): what carried the details, for people
    fields: dict[str, object]


def sidecar_for(audio: Path) -> Path | None:
    """``<name>.json`` or ``<name>.xml`` beside ``audio`` (JSON first), if present."""
    return sidecar.find(audio)


def read_opus_tags(opus_path: Path) -> dict[str, str]:
    """Lowercased comment name -> value of an Ogg/Opus file (empty if it has none)."""
    return opus_tags.read_comments(opus_path) or {}


def opus_comments(details: CallDetails, extra: dict[str, str]) -> list[tuple[str, str]]:
    """The Opus comments of a stored recording: every call-detail key, then ``extra``.

    Every key is written, even empty ones, so the stored file says plainly that a field was
    unknown rather than leaving a reader to wonder whether it was lost. The one definition
    serves the encoder (comments written with the audio) and :func:`write_opus_tags` (the
    fallback encoder and later corrections), so both leave identical comments. Names are
    unique ignoring case, as in a Vorbis comment block edited by mutagen: a later name
    replaces an earlier one and moves to the end.
    """
    text = details.to_text_fields()
    fields = {key: text.get(key, "") for key in CALL_DETAIL_KEYS}
    fields.update(extra)
    unique: dict[str, tuple[str, str]] = {}
    for key, value in fields.items():
        unique.pop(key.lower(), None)
        unique[key.lower()] = (key, value)
    return list(unique.values())


def write_opus_tags(opus_path: Path, details: CallDetails, extra: dict[str, str]) -> None:
    """Set the comments of :func:`opus_comments` on an existing Ogg/Opus file in place."""
    opus_tags.update_comments(opus_path, dict(opus_comments(details, extra)))


# -- key=value text (the mmcd chunk and ICMT) -----------------------------------------------------


def parse_lines(text: str) -> dict[str, str]:
    """``key=value`` lines -> lowercased key -> value.

    Blank lines, ``#`` comments and lines without ``=`` are skipped. A list key given on
    several lines collects all of them; any other key keeps its first line.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip().strip("\0")
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip().lower(), value.strip()
        if key not in out:
            out[key] = value
        elif key in LIST_KEYS:
            out[key] = f"{out[key]};{value}"
    return out


def format_lines(fields: dict[str, str]) -> str:
    """The inverse of :func:`parse_lines`, for writers (the simulator, tests)."""
    for key, value in fields.items():
        if "\n" in value or "\r" in value or "=" in key:
            raise ValueError(f"{key!r} cannot be carried as one key=value line")
    return "".join(f"{key}={value}\n" for key, value in fields.items())


# -- values -------------------------------------------------------------------------------------


def parse_start(text: str) -> datetime:
    """ISO 8601 date and time; without an offset it is local time (the server's clock)."""
    if not _HAS_TIME.match(text):
        raise ValueError(_EXPECTED_START)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_EXPECTED_START) from None
    return value if value.tzinfo is not None else value.astimezone()


def _text(raw: object) -> str | None:
    if isinstance(raw, str):
        return raw.strip() or None
    if isinstance(raw, int) and not isinstance(raw, bool):  # a JSON number such as 201
        return str(raw)
    raise ValueError(msg("expected text"))


def _coerce(key: str, raw: object) -> object | None:
    """The typed value of ``raw`` for ``key``; None when it is empty (so the next carrier may
    supply it). Raises ValueError with what was expected."""
    if raw is None:
        return None
    if key in LIST_KEYS:
        items: list[object] = raw if isinstance(raw, list) else [raw]
        out: list[str] = []
        for item in items:
            if item is None:
                continue
            text = item if isinstance(item, str) else _text(item)
            out.extend(part.strip() for part in (text or "").split(";") if part.strip())
        return out or None
    if key == "authenticated":
        if isinstance(raw, bool):
            return raw
        word = _text(raw)
        if word is None:
            return None
        if word.lower() in _TRUE:
            return True
        if word.lower() in _FALSE:
            return False
        raise ValueError(msg("expected true or false"))
    text = _text(raw)
    if text is None:
        return None
    if key == "start":
        return parse_start(text)
    if key == "direction":
        try:
            return Direction(text.lower())
        except ValueError:
            choices = ", ".join(d.value for d in Direction)
            raise ValueError(msg("expected {choices}", choices=choices)) from None
    if key == "owner_kind":
        try:
            return OwnerKind(re.sub(r"[\s-]+", "_", text.lower()))
        except ValueError:
            choices = ", ".join(k.value for k in OwnerKind)
            raise ValueError(msg("expected {choices}", choices=choices)) from None
    return text


def _shown(raw: object) -> str:
    shown = repr(raw)
    return shown if len(shown) <= 80 else shown[:77] + "..."


# -- carriers -----------------------------------------------------------------------------------


def _sidecar_carrier(audio: Path, side: Path) -> _Carrier:
    source = sidecar.kind(side)
    label = msg("{carrier} {file}", carrier=Msg(LABELS[source]), file=side.name)
    try:
        fields = sidecar.load(side)
    except ValueError as exc:
        raise CallDetailsError(
            msg(
                "{file}: {carrier} is malformed: {error}", file=audio.name, carrier=label, error=exc
            ),
            carrier=source,
        ) from None
    return _Carrier(source, label, fields)


def _riff_carriers(audio: Path, extra: dict[str, str]) -> list[_Carrier]:
    scanned = riff.scan(audio)
    if scanned is None:
        return []
    carriers: list[_Carrier] = []
    ours = scanned.first(OUR_CHUNK)
    if ours is not None and ours.body is not None:
        try:
            text = ours.body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CallDetailsError(
                msg(
                    "{file}: {carrier} is not UTF-8 text",
                    file=audio.name,
                    carrier=Msg(LABELS["riff"]),
                ),
                carrier=_RIFF,
            ) from None
        carriers.append(_Carrier(_RIFF, Msg(LABELS[_RIFF]), dict(parse_lines(text))))
    info: dict[str, object] = {}
    for chunk in scanned.chunks:
        if chunk.id == "LIST" and chunk.body is not None and chunk.body[:4] == b"INFO":
            texts = riff.info_fields(chunk.body)
            info.update(
                {k: v for k, v in parse_lines(texts.get("ICMT", "")).items() if k not in info}
            )
            for info_id, key in INFO_KEYS.items():
                value = texts.get(info_id, "").strip()
                if key == "start" and not _HAS_TIME.match(value):
                    value = ""  # a bare date (common from generic tools) is no start time
                if value and key not in info:
                    info[key] = value
    if info:
        carriers.append(_Carrier("riff-info", Msg(LABELS["riff-info"]), info))
    _keep_unknown_chunks(scanned, extra)
    return carriers


def _keep_unknown_chunks(scanned: riff.RiffScan, extra: dict[str, str]) -> None:
    """Chunks we do not understand go into the stored Opus file as base64 comments, so
    converting to Opus loses nothing a vendor tool might need later."""
    taken = {key.lower() for key in extra}
    for chunk in scanned.chunks:
        if chunk.id in STANDARD_CHUNKS:
            continue
        base = EXTRA_PREFIX + (re.sub(r"[^A-Za-z0-9]", "_", chunk.id.rstrip(" ")) or "chunk")
        key, n = base, 1
        while key.lower() in taken:
            n += 1
            key = f"{base}_{n}"
        if chunk.body is None or chunk.size > MAX_KEPT_CHUNK:
            key += "_skipped"
            extra[key] = f"{chunk.size} bytes"
        else:
            extra[key] = base64.b64encode(chunk.body).decode("ascii")
        taken.add(key.lower())


def _opus_carrier(audio: Path, extra: dict[str, str]) -> list[_Carrier]:
    comments = opus_tags.read_comments(audio)
    if not comments:
        return []
    # an Opus input that was itself converted from RIFF keeps what it carried
    extra.update({k: v for k, v in comments.items() if k.startswith(EXTRA_PREFIX)})
    return [_Carrier("opus", Msg(LABELS["opus"]), dict(comments))]


def _head(audio: Path) -> bytes:
    with open(audio, "rb") as fh:
        return fh.read(12)


def read_call_details(audio: Path, duration_s: float) -> ParsedInput:
    """Complete call details for ``audio``: every field filled, from the best carrier that has
    it, else the documented default. Raises CallDetailsError for malformed or invalid input.
    """
    side = sidecar_for(audio)
    extra: dict[str, str] = {}
    carriers: list[_Carrier] = []
    if side is not None:
        carriers.append(_sidecar_carrier(audio, side))
    head = _head(audio)
    if riff.is_riff(head):
        carriers += _riff_carriers(audio, extra)
    elif head.startswith(b"OggS"):
        carriers += _opus_carrier(audio, extra)
    named: dict[str, object] = dict(filename.parse_name(audio.stem))
    carriers.append(_Carrier("filename", Msg(LABELS["filename"]), named))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in CALL_DETAIL_KEYS:
        for carrier in carriers:
            raw = carrier.fields.get(key)
            try:
                value = _coerce(key, raw)
            except ValueError as exc:
                raise CallDetailsError(
                    msg(
                        "{file}: {carrier}: invalid '{key}' {value} ({error})",
                        file=audio.name,
                        carrier=carrier.label,
                        key=key,
                        value=_shown(raw),
                        error=exc,
                    ),
                    carrier=carrier.source,
                    key=key,
                ) from None
            if value is not None:
                values[key], sources[key] = value, carrier.source
                break
    if "start" not in values:
        ended = audio.stat().st_mtime
        values["start"] = datetime.fromtimestamp(ended - duration_s, UTC).astimezone()
        sources["start"] = "file"
    if "call_id" not in values:  # a name of nothing but spaces
        values["call_id"] = audio.name
        sources["call_id"] = "filename"
    for key in CALL_DETAIL_KEYS:
        sources.setdefault(key, "default")
    return ParsedInput(CallDetails(**values), sources, side, extra)
