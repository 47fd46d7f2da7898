"""The ``local`` storage type: a folder on this server (or a mounted disk) as a connector."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mm_engine.storage.fields import Field
from mm_engine.storage.local import LocalStore
from mm_engine.text import N_, msg

KIND = "local"
TITLE = N_("Local folder")


def _absolute(value: str) -> str | None:
    return None if Path(value).is_absolute() else msg("must be an absolute path")


FIELDS = (Field("path", N_("Folder"), N_("An absolute path on this server"), check=_absolute),)


def from_settings(settings: Mapping[str, str], name: str) -> LocalStore:
    return LocalStore(Path(settings["path"]), name=name)
