"""Remappable keys (issue 4): the `console_keys` setting, checked by the engine (its shape) and
the console (its ids and keys), applied with Textual's keymap, shown in the footer and in `?`.

The table of binding ids in docs/configuration.md is compared with the bindings the console
really has, so a new or renamed binding fails here until the docs say it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TabbedContent
from textual.widgets._footer import FooterKey

from mm_engine.engine import Engine
from mm_engine.errors import InvalidSetting
from mm_engine.principal import Role
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.help import HelpDialog
from mm_tui.keymap import bindings, keymap
from mm_tui.screens.main import MainScreen
from mm_tui.widgets.configuration_form import ConfigurationForm
from mm_tui.widgets.forms import Form
from mm_tui.widgets.recordings_table import RecordingsTable
from tests.conftest import AddRecording
from tests.test_console import FAST, SIZE, account, log_in, run_async, settle

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "configuration.md"
SECTION = "## Console keys"
ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \|")


def docs_rows() -> dict[str, str]:
    """binding id -> keys, from the table under "## Console keys"."""
    text = DOCS.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/configuration.md has no '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return {m[1]: m[2] for line in section.splitlines() if (m := ROW.match(line))}


def table_rows() -> str:
    """The rows the docs table should hold (printed when it is out of date)."""
    return "\n".join(
        f"| `{b.id}` | `{b.keys}` | {b.description} |"
        for b in sorted(bindings().values(), key=lambda b: b.id)
    )


# -- the table in the docs ---------------------------------------------------------------------
def test_the_docs_table_lists_every_binding_id_with_its_default_keys() -> None:
    documented = docs_rows()
    actual = {b.id: b.keys for b in bindings().values()}
    assert documented == actual, (
        "docs/configuration.md, section 'Console keys', is out of date; the table should be:\n"
        + table_rows()
    )


def _literal_binding_ids() -> set[str]:
    """Ids written as ``Binding(..., id="x.y")`` anywhere in mm_tui, read from the source."""
    found: set[str] = set()
    for path in (ROOT / "mm_tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Binding":
                for kw in node.keywords:
                    if kw.arg == "id" and isinstance(kw.value, ast.Constant):
                        found.add(str(kw.value.value))
    return found


def test_the_keymap_knows_every_binding_id_written_in_the_source() -> None:
    written = _literal_binding_ids()
    assert len(written) > 50  # the walk found the source, not nothing
    assert written - set(bindings()) == set()


# -- the setting: shape in the engine, ids and keys in the console -----------------------------
def test_the_engine_keeps_a_tidy_setting_and_refuses_a_malformed_one(engine: Engine) -> None:
    stored = engine.config.set(
        "console_keys", " recordings.delete = ctrl+d ; recordings.search=slash, ctrl+f;"
    )
    assert stored == "recordings.delete=ctrl+d;recordings.search=slash,ctrl+f"
    assert engine.config.get("console_keys") == stored
    refusals = {
        "recordings.delete": "is not binding.id=key[,key]",
        "recordings.delete=": "is not a key",
        "recordings.delete=ctrl+": "is not a key",
        "recordings.delete=F1": "is not a key",
        "recordings.delete=hyperr+d": "is not a key",
        "recordings.delete=a;recordings.delete=b": "recordings.delete is given twice",
    }
    for text, said in refusals.items():
        with pytest.raises(InvalidSetting) as refused:
            engine.config.set("console_keys", text)
        assert refused.value.key == "console_keys"
        assert said in refused.value.message, text
    assert engine.config.get("console_keys") == stored  # nothing changed


def test_the_console_names_unknown_ids_and_keys_and_applies_the_rest() -> None:
    wanted = keymap(
        "recordings.delete=ctrl+d;recordings.serach=ctrl+f;recordings.verify=ctrl+zz;"
        "app.help=f1,question_mark"
    )
    assert wanted.keys == {"recordings.delete": "ctrl+d", "app.help": "f1,question_mark"}
    assert wanted.unknown_ids == ("recordings.serach",)
    assert wanted.unknown_keys == ("'ctrl+zz' (recordings.verify)",)
    assert "recordings.serach" in wanted.problems()
    assert "ctrl+zz" in wanted.problems()
    assert keymap("recordings.delete=ctrl+d").problems() == ""


# -- the console -------------------------------------------------------------------------------
def footer_keys(app: MMApp) -> dict[str, str]:
    """What the footer shows: description -> key."""
    return {k.description: k.key_display for k in app.screen.query(FooterKey)}


def help_keys(app: MMApp) -> dict[str, list[str]]:
    """The help dialog's rows: id -> keys."""
    assert isinstance(app.screen, HelpDialog)
    table = app.screen.query_one(DataTable)
    rows: dict[str, list[str]] = {}
    for r in range(table.row_count):
        rows.setdefault(str(table.get_cell_at((r, 2))), []).append(str(table.get_cell_at((r, 0))))
    return rows


async def toasts(pilot: Pilot[Any]) -> list[str]:
    await pilot.pause()
    return [str(n.message) for n in pilot.app._notifications]


@pytest.fixture
def admin_with_calls(engine: Engine, add_recording: AddRecording) -> Engine:
    engine.users.params = FAST
    account(engine, "alice", Role.ADMINISTRATOR)
    add_recording(call_id="A1")
    return engine


@run_async
async def test_remapped_keys_work_and_show_in_the_footer_and_help(
    admin_with_calls: Engine,
) -> None:
    engine = admin_with_calls
    engine.config.set("console_keys", "recordings.delete=ctrl+d;recordings.search=slash,ctrl+f")
    app = MMApp(engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        assert footer_keys(app)["Del"] == "^d"
        assert footer_keys(app)["Find"] == "/"
        await pilot.press("d")  # the old key does nothing now
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+f")
        assert app.screen.query_one("#recordings-terms", Input).has_focus
        app.screen.query_one(RecordingsTable).focus()
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        shown = help_keys(app)
        assert shown["recordings.delete"] == ["^d"]
        assert shown["recordings.search"] == ["/", "^f"]
        assert shown["recordings.verify"] == ["v"]  # untouched keys stay
        assert await toasts(pilot) == []


@run_async
async def test_unknown_ids_are_named_in_a_warning_and_the_rest_applies(
    admin_with_calls: Engine,
) -> None:
    engine = admin_with_calls
    engine.config.set("console_keys", "recordings.verify=ctrl+y;recordings.erase=e")
    app = MMApp(engine, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        said = await toasts(pilot)
        assert len(said) == 1
        assert "no binding has the id recordings.erase" in said[0]
        await log_in(pilot, "alice")
        assert footer_keys(app)["Verify"] == "^y"
        assert len(await toasts(pilot)) == 1  # the same setting at login: not said again


@run_async
async def test_saving_console_keys_in_the_configuration_tab_applies_them_at_once(
    admin_with_calls: Engine,
) -> None:
    app = MMApp(admin_with_calls, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        assert footer_keys(app)["Del"] == "d"
        app.screen.query_one(TabbedContent).active = "configuration"
        await settle(pilot)
        form = app.screen.query_one(ConfigurationForm)
        form.query_one(Form).set_values({"console_keys": "recordings.delete=ctrl+d;nope.x=a"})
        form.action_save()
        await settle(pilot)
        assert admin_with_calls.config.get("console_keys") == "recordings.delete=ctrl+d;nope.x=a"
        assert any("no binding has the id nope.x" in t for t in await toasts(pilot))
        app.screen.query_one(TabbedContent).active = "recordings"
        app.screen.query_one(RecordingsTable).focus()
        await settle(pilot)
        assert footer_keys(app)["Del"] == "^d"


@run_async
async def test_a_key_already_used_there_is_refused_and_the_old_key_kept(
    admin_with_calls: Engine,
) -> None:
    admin_with_calls.config.set("console_keys", "recordings.delete=v")
    app = MMApp(admin_with_calls, "embedded engine")
    async with app.run_test(size=SIZE) as pilot:
        said = await toasts(pilot)
        assert len(said) == 1
        assert "v: recordings.delete, recordings.verify" in said[0]
        await log_in(pilot, "alice")
        assert footer_keys(app)["Del"] == "d"
        assert footer_keys(app)["Verify"] == "v"


def test_two_bindings_may_swap_their_keys() -> None:
    swapped = keymap("recordings.delete=v;recordings.verify=d")
    assert swapped.keys == {"recordings.delete": "v", "recordings.verify": "d"}
    assert swapped.problems() == ""
    same = keymap("confirm.yes=n")
    assert same.keys == {}
    assert same.clashes == ("n: confirm.no, confirm.yes",)
