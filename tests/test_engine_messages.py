"""The engine's sentences reach people in their language (seed F5): every error the engine
raises is built from ``msg()`` (a template the catalogs carry, values by name), and the front
ends translate it, values and nested errors included."""

from __future__ import annotations

import ast
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from mm_engine.alarms import AlarmType, template_of
from mm_engine.connectors import TestResult as ConnectorTest
from mm_engine.engine import Engine
from mm_engine.errors import InvalidSetting, NotFound
from mm_engine.storage.base import Accessibility
from mm_engine.text import Msg, from_data, msg, msgn, to_data
from mm_tui import i18n
from mm_tui.alarm_text import description

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "mm_engine"
# Exceptions whose message a person reads; engine classes deriving from these count too.
BASES = {"MMError", "Exception", "OSError", "ConnectionError", "PermissionError", "ValueError"}
MARKERS = {"msg", "msgn"}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def engine_trees() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ENGINE.rglob("*.py")):
        yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def engine_error_classes() -> set[str]:
    """Names of the exception classes the engine defines (any depth below ``BASES``)."""
    parents: dict[str, set[str]] = {}
    for _where, tree in engine_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                parents[node.name] = {_name(b) for b in node.bases}
    found = {"MMError"}
    changed = True
    while changed:
        changed = False
        for name, bases in parents.items():
            if name not in found and bases & (found | BASES) and name != "Msg":
                found.add(name)
                changed = True
    return found


def _plain_text(node: ast.expr) -> bool:
    """A sentence written so that no catalog can carry it: a literal, an f-string, glued or
    formatted text."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value != ""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _plain_text(node.left) or _plain_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and isinstance(node.func.value, ast.Constant)
    return False


def test_every_engine_sentence_is_a_literal_template() -> None:
    problems = []
    for where, tree in engine_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in MARKERS:
                first = node.args[0] if node.args else None
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    problems.append(f"{where}:{node.lineno}: {_name(node.func)}() needs a literal")
    assert not problems, "\n".join(problems)


def test_every_error_the_engine_raises_is_built_from_msg() -> None:
    classes = engine_error_classes()
    problems = []
    for where, tree in engine_trees():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in classes):
                continue
            skip = 1 if _name(node.func) == "InvalidSetting" else 0
            texts = list(node.args[skip:]) + [k.value for k in node.keywords if k.arg != "key"]
            for text in texts:
                if _plain_text(text):
                    problems.append(
                        f"{where}:{node.lineno}: {_name(node.func)}(...) with plain text: "
                        "build it with msg() (mm_engine/text.py)"
                    )
    assert not problems, f"{len(problems)} sentences:\n" + "\n".join(problems)


def test_a_msg_is_its_english_sentence_and_survives_pickling() -> None:
    text = msgn("Archived {count} recording(s) to {name}.", 3, name="nas")
    assert text == "Archived 3 recording(s) to nas." and isinstance(text, str)
    again = pickle.loads(pickle.dumps(text))
    assert isinstance(again, Msg) and again == text
    assert (again.template, again.n, again.params) == (text.template, 3, text.params)
    assert again.count("r") == str(again).count("r")  # still every str method


@pytest.fixture
def german() -> Iterator[None]:
    i18n.setup("de")
    yield
    i18n.setup("en_US")


def test_an_engine_error_reads_in_the_users_language(german: None) -> None:
    error = InvalidSetting("retention_days", msg("must be a whole number"))
    shown = i18n.tr(error)
    assert "retention_days" in shown and shown != str(error)
    assert i18n.tr(NotFound(msg("no such thing {x}", x=1))) == "no such thing 1"  # no catalog


# -- sentences the engine stores are read later in the reader's language ---------------------


def test_a_stored_sentence_comes_back_translatable_with_its_values() -> None:
    inner = InvalidSetting("retention_days", msg("must be a whole number"), msg("Try 30."))
    outer = msgn("{count} copies failed: {error}", 2, error=inner)
    again = from_data(json.loads(json.dumps(to_data(outer))))
    assert isinstance(again, Msg) and again == outer and again.n == 2
    assert isinstance(again.params["error"], Msg)  # the error's sentence and hint, still one
    assert from_data(json.loads(json.dumps(to_data("plain")))) == "plain"


def test_a_connectors_last_test_reads_in_german(engine: Engine, german: None) -> None:
    engine.connectors.add("NAS", "local", {"path": "/tmp/nowhere-for-mm"})
    info = engine.connectors.get("NAS")
    said = msg("another archive run is in progress")
    engine.connectors.record_test(info.id, ConnectorTest("NAS", Accessibility.OK, said, "now"))
    stored = engine.connectors.get("NAS").last_test_message
    assert stored == said  # English for --json and older readers
    assert i18n.tr(stored) == i18n._("another archive run is in progress") != said


def test_an_alarm_value_that_is_a_sentence_reads_in_german(engine: Engine, german: None) -> None:
    engine.alarms.raise_(
        AlarmType.ARCHIVE_ERROR, dedupe="x", name="NAS", error=msg("another archive run took over")
    )
    [row] = engine.alarms.list()
    assert "another archive run took over" in row["message"]  # stored in English
    template = i18n._(template_of(AlarmType.ARCHIVE_ERROR))
    expected = template.format(name="NAS", error=i18n._("another archive run took over"))
    assert description(row) == expected and "another archive run" not in expected
