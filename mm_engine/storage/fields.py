"""What a backend needs to be configured: its fields, declared once per backend.

The connector forms (console), ``mm connectors add`` (CLI) and the connector store all read these
declarations, so a backend's settings are described in one place. Secret fields are sealed at
rest and never shown back in full.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mm_engine.errors import InvalidSetting
from mm_engine.text import Msg, msg


@dataclass(frozen=True)
class Field:
    name: str  # key in the connector's settings mapping
    label: str  # shown in forms and in `mm connectors add --help`
    help: str = ""
    secret: bool = False  # sealed at rest, shown masked
    required: bool = True
    default: str = ""
    choices: tuple[str, ...] = ()
    multiline: bool = False  # e.g. a service-account JSON
    check: Callable[[str], str | None] | None = field(default=None, compare=False)
    """Returns a message when the value is wrong, None when it is fine."""


def validate(fields: tuple[Field, ...], settings: Mapping[str, str]) -> dict[str, str]:
    """The settings with defaults filled in, or InvalidSetting naming the first bad field."""
    known = {f.name for f in fields}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InvalidSetting(
            unknown[0],
            msg("no such field"),
            msg("This storage type takes: {fields}", fields=", ".join(sorted(known))),
        )
    out: dict[str, str] = {}
    for f in fields:
        value = (
            str(settings.get(f.name, "") or "").strip()
            if not f.multiline
            else str(settings.get(f.name, "") or "")
        )
        if not value:
            if f.required and not f.default:
                raise InvalidSetting(f.name, msg("{label} is required", label=Msg(f.label)))
            value = f.default
        if value and f.choices and value not in f.choices:
            raise InvalidSetting(
                f.name,
                msg(
                    "{label} must be one of: {choices}",
                    label=Msg(f.label),
                    choices=", ".join(f.choices),
                ),
            )
        if value and f.check is not None:
            problem = f.check(value)
            if problem:
                raise InvalidSetting(
                    f.name, msg("{label} {problem}", label=Msg(f.label), problem=problem)
                )
        out[f.name] = value
    return out


def mask(value: str) -> str:
    """How a secret is shown back: never in full."""
    if not value:
        return ""
    if len(value) <= 8:
        return "••••"
    return f"{value[:2]}••••{value[-2:]}"


def check_folder(value: str) -> str | None:
    """A parent-folder field of an object store: a relative path without empty, '.' or '..'."""
    parts = value.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return msg("must be a path like recordings/archive, without empty parts, '.' or '..'")
    return None
