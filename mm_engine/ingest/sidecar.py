"""Sidecar files: ``<name>.json`` or ``<name>.xml`` beside the recording, the first carrier.

A sidecar is the easiest carrier for a voicemail server to write and the only one that can
describe any audio format, so it outranks everything embedded in the audio. Values come back
raw (as the document holds them); validating them is the caller's job, so that every carrier
is judged by the same rules.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from mm_engine.domain import CALL_DETAIL_KEYS, LIST_KEYS, CallDetails
from mm_engine.text import msg

# Checked in this order: with both present, the JSON one is used.
SUFFIXES = (".json", ".xml", ".JSON", ".XML")
# Element names of list items in XML (any name is accepted when reading).
XML_ITEM = {"parties": "party", "agents": "agent"}


def find(audio: Path) -> Path | None:
    for suffix in SUFFIXES:
        candidate = audio.with_suffix(suffix)
        if candidate != audio and candidate.is_file():
            return candidate
    return None


def kind(path: Path) -> str:
    return "json" if path.suffix.lower() == ".json" else "xml"


def load(path: Path) -> dict[str, object]:
    """Lowercased key -> raw value. Raises ValueError saying what is malformed."""
    data = path.read_bytes()
    return _load_json(data) if kind(path) == "json" else _load_xml(data)


def _load_json(data: bytes) -> dict[str, object]:
    try:
        doc = json.loads(data)
    except UnicodeDecodeError as exc:
        raise ValueError(
            msg("not UTF-8 text ({reason} at byte {at})", reason=exc.reason, at=exc.start)
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            msg(
                "not valid JSON: {error} at line {line} column {column}",
                error=exc.msg,
                line=exc.lineno,
                column=exc.colno,
            )
        ) from None
    if not isinstance(doc, dict):
        raise ValueError(
            msg(
                "the JSON document is {type}, expected an object {{...}}",
                type=type(doc).__name__,
            )
        )
    return {str(key).strip().lower(): value for key, value in doc.items()}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].strip().lower()


def _load_xml(data: bytes) -> dict[str, object]:
    # Entity declarations are the only road to entity-expansion bombs; call details need none.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError(msg("XML with a DOCTYPE or entity declarations is not accepted"))
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(msg("not well-formed XML: {error}", error=exc)) from None
    out: dict[str, object] = {}
    for element in root:
        key = _local(str(element.tag))
        children = list(element)
        value: str | list[str]
        if children:
            value = [(child.text or "").strip() for child in children]
        else:
            value = (element.text or "").strip()
        if key not in out:
            out[key] = value
        elif key in LIST_KEYS:  # repeated <parties>: all of them count
            before = out[key]
            out[key] = (before if isinstance(before, list) else [str(before)]) + (
                value if isinstance(value, list) else [value]
            )
    return out


def render_json(
    details: CallDetails, *, lists_as_text: bool = False, extra: dict[str, Any] | None = None
) -> str:
    """A JSON sidecar for ``details`` (lists as arrays, or as ``;``-text when asked)."""
    doc: dict[str, Any] = details.to_dict()
    if lists_as_text:
        for key in LIST_KEYS:
            doc[key] = ";".join(doc[key])
    doc.update(extra or {})
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render_xml(details: CallDetails, *, extra: dict[str, str] | None = None) -> str:
    """An XML sidecar: ``<call>`` with one element per key, lists as repeated item elements."""
    root = ET.Element("call")
    fields = details.to_dict()
    for key in CALL_DETAIL_KEYS:
        value = fields[key]
        element = ET.SubElement(root, key)
        if key in LIST_KEYS:
            for item in value:
                ET.SubElement(element, XML_ITEM[key]).text = item
        elif isinstance(value, bool):
            element.text = "true" if value else "false"
        elif value is not None:
            element.text = str(value)
    for key, text in (extra or {}).items():
        ET.SubElement(root, key).text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
