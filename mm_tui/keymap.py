"""Remapped keys (setting ``console_keys``): which bindings exist, and the keymap Textual applies.

Every binding of the console carries an id ("recordings.delete"); ``App.set_keymap`` gives an
id other keys, and the footer and `?` then show those. The engine checks only the setting's
shape (``mm_engine.config.key_bindings``): the bindings live here, so unknown ids and key names
are found here. What is wrong is named and left out; the rest of the setting still applies.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import REPLACED_KEYS, Keys, _normalize_key_list, key_to_character

from mm_engine.config import MODIFIERS, key_bindings
from mm_tui.i18n import _, tr

# the packages whose classes bind keys; every module in them is looked at
PACKAGES = ("mm_tui.screens", "mm_tui.widgets", "mm_tui.dialogs")
KEY_NAMES = frozenset(k.value.rpartition("+")[2] for k in Keys if not k.value.startswith("<"))


@dataclass(frozen=True)
class BindingInfo:
    id: str
    keys: str  # the default keys, written as in console_keys ("x,insert")
    description: str
    where: str  # the class that binds it


def _subclasses(cls: type[DOMNode]) -> list[type[DOMNode]]:
    found: list[type[DOMNode]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


@cache
def _classes() -> tuple[type[DOMNode], ...]:
    """The console's screens, widgets and dialogs."""
    importlib.import_module("mm_tui.app")
    for package in PACKAGES:
        path = importlib.import_module(package).__path__
        for module in pkgutil.iter_modules(path):
            importlib.import_module(f"{package}.{module.name}")
    found = dict.fromkeys(c for c in _subclasses(DOMNode) if c.__module__.startswith("mm_tui."))
    return tuple(found)


@cache
def bindings() -> dict[str, BindingInfo]:
    """Every binding id of the console with its default keys."""
    found: dict[str, BindingInfo] = {}
    for cls in _classes():
        for binding in cls.__dict__.get("BINDINGS", []):
            if not isinstance(binding, Binding) or binding.id is None:
                continue
            known = found.get(binding.id)
            if known is None:
                found[binding.id] = BindingInfo(
                    binding.id, binding.key, binding.description, cls.__name__
                )
            elif binding.key not in known.keys.split(","):  # the same id in two places
                keys = f"{known.keys},{binding.key}"
                found[binding.id] = BindingInfo(binding.id, keys, known.description, known.where)
    return found


def is_key(key: str) -> bool:
    """Whether Textual knows ``key`` ("ctrl+d", "f2", "slash", "question_mark", "x")."""
    *modifiers, name = key.split("+")
    if any(m not in MODIFIERS for m in modifiers):
        return False
    return (
        len(name) == 1
        or name in KEY_NAMES
        or name in REPLACED_KEYS
        or key_to_character(name) is not None
    )


def clashes(keys: dict[str, str]) -> dict[str, set[str]]:
    """Keys that ``keys`` (id -> "key,key") gives a binding where the same screen or widget
    already uses them for something else, each with what it would do. Textual would drop one
    of them without a word; a swap ("a.x=k2;a.y=k1") is no clash."""
    found: dict[str, set[str]] = {}
    for cls in _classes():
        merged = cls._merged_bindings
        if merged is None:
            continue
        final: dict[str, set[str]] = {}
        moved: set[str] = set()
        for key, bound in merged.key_to_bindings.items():
            for binding in bound:
                if binding.id in keys:
                    new_keys = _normalize_key_list(keys[binding.id]).split(",")
                    for new in new_keys:
                        final.setdefault(new, set()).add(binding.id)
                    moved.update(new_keys)
                else:
                    final.setdefault(key, set()).add(binding.id or binding.action)
        for key in moved:
            if len(final[key]) > 1:
                found.setdefault(key, set()).update(final[key])
    return found


@dataclass(frozen=True)
class Keymap:
    """What ``console_keys`` asks for: the keymap to apply and what it names wrongly."""

    keys: dict[str, str]  # binding id -> "key,key", for App.set_keymap
    unknown_ids: tuple[str, ...] = ()
    unknown_keys: tuple[str, ...] = ()
    clashes: tuple[str, ...] = ()  # "v: recordings.delete, recordings.verify"
    error: str = ""  # the whole setting could not be read

    def problems(self) -> str:
        """One message for the person, or "" when everything applies."""
        if self.error:
            return _(
                "console_keys is not used: {error}. Fix it in the Configuration tab "
                "or with `mm config set console_keys ...`; the standard keys apply."
            ).format(error=self.error)
        parts = []
        if self.unknown_ids:
            parts.append(_("no binding has the id {ids}").format(ids=", ".join(self.unknown_ids)))
        if self.unknown_keys:
            parts.append(_("{keys} is not a key").format(keys=", ".join(self.unknown_keys)))
        if self.clashes:
            parts.append(
                _("a key would do two things at once ({clashes})").format(
                    clashes="; ".join(self.clashes)
                )
            )
        if not parts:
            return ""
        return _(
            "console_keys: {problems}. Those entries are left out, the others apply. "
            "Press ? to see the ids and keys of a screen (docs/configuration.md lists them all)."
        ).format(problems="; ".join(parts))


def keymap(text: str) -> Keymap:
    """``console_keys`` read and checked against the console's bindings."""
    try:
        asked = key_bindings(text)
    except ValueError as exc:
        return Keymap({}, error=tr(exc))
    if not asked:
        return Keymap({})  # the usual case: nothing more to import at start-up
    known = bindings()
    keys: dict[str, str] = {}
    unknown_ids: list[str] = []
    unknown_keys: list[str] = []
    for binding_id, wanted in asked.items():
        if binding_id not in known:
            unknown_ids.append(binding_id)
            continue
        bad = [k for k in wanted if not is_key(k)]
        unknown_keys.extend(f"'{k}' ({binding_id})" for k in bad)
        if not bad:
            keys[binding_id] = ",".join(wanted)
    clashed: dict[str, set[str]] = {}
    while found := clashes(keys):  # leaving one out can bring back the key it moved away from
        for key, doing in found.items():
            clashed.setdefault(key, set()).update(doing)
            for binding_id in doing & set(keys):
                del keys[binding_id]
    said = tuple(f"{key}: {', '.join(sorted(doing))}" for key, doing in sorted(clashed.items()))
    return Keymap(keys, tuple(unknown_ids), tuple(unknown_keys), said)
