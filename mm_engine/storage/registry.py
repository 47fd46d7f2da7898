"""Storage types by name: their fields and how to open one, with the SDK imported only then.

Each backend module exposes ``KIND``, ``TITLE``, ``FIELDS`` (see fields.py) and
``from_settings(settings, name) -> Store``; importing the module must not import its cloud SDK
(that happens inside the backend when it is first used), so listing types stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

from mm_engine.errors import InvalidSetting
from mm_engine.storage.base import Store
from mm_engine.storage.fields import Field, validate
from mm_engine.text import msg

BACKENDS: dict[str, str] = {
    "smb": "mm_engine.storage.smb",
    "s3": "mm_engine.storage.s3",
    "gcs": "mm_engine.storage.gcs",
    "azure": "mm_engine.storage.azure",
    "gdrive": "mm_engine.storage.gdrive",
    "local": "mm_engine.storage.local_backend",
    "dvd": "mm_engine.storage.dvd",
}

# Types that may serve as the primary call storage (F19: local or bring-your-own cloud storage).
PRIMARY_KINDS = ("local", "s3", "gcs", "azure")


def _module(kind: str) -> ModuleType:
    try:
        return importlib.import_module(BACKENDS[kind])
    except KeyError:
        raise InvalidSetting(
            "type",
            msg("unknown storage type {kind!r}", kind=kind),
            msg("Choose one of: {kinds}", kinds=", ".join(BACKENDS)),
        ) from None


def kinds() -> list[str]:
    return list(BACKENDS)


def title(kind: str) -> str:
    return str(_module(kind).TITLE)


def fields(kind: str) -> tuple[Field, ...]:
    result: tuple[Field, ...] = _module(kind).FIELDS
    return result


def open_store(kind: str, settings: Mapping[str, str], name: str = "") -> Store:
    """A ready Store for ``kind``; settings are validated first (InvalidSetting names the field)."""
    module = _module(kind)
    clean = validate(module.FIELDS, settings)
    store: Store = module.from_settings(clean, name or kind)
    return store
