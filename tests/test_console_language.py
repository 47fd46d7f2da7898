"""The engine's sentences reach people in their language (seed F5, issue 4).

The engine says everything in English and remembers each sentence's template and values
(``mm_engine.text.Msg``); the console and the command line say it again from the catalogs. The
expected German here is read from the catalog itself, so the tests hold whatever the wording,
and each also checks that the German differs from the English (a sentence missing from the
catalog would otherwise pass unnoticed).
"""

from __future__ import annotations

import asyncio
import gettext
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import DataTable, Label, Static

from mm_engine.alarms import TEMPLATES, AlarmType
from mm_engine.engine import Engine
from mm_engine.errors import NotFound
from mm_engine.principal import SYSTEM, Role
from mm_engine.session import Session
from mm_tui import i18n
from mm_tui.alarm_text import description
from mm_tui.app import MMApp
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.dialogs.job_progress import beside_service
from mm_tui.screens.main import MainScreen
from tests.test_console import FAST, account, log_in, run_async, settle

MM = str(Path(sys.executable).with_name("mm"))
LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
LOCKED = TEMPLATES[(AlarmType.ACCOUNT_LOCKED, "")][1]
LOCKED_VALUES: dict[str, Any] = {"user": "bob", "failures": 5, "until": "2026-03-02 09:15"}


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


@pytest.fixture
def german() -> Iterator[gettext.GNUTranslations]:
    """The console speaks German; the catalog, to read what it should say."""
    assert i18n.setup("de") == "de"
    with i18n.catalog_path("de").open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)
    yield catalog
    i18n.setup("en_US")


def german_of(de: gettext.GNUTranslations, english: str) -> str:
    """``english`` from the German catalog, which must have it."""
    text = de.gettext(english)
    assert text != english, f"the German catalog does not translate {english!r}"
    return text


def run_mm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in LOCALE_VARS}
    return subprocess.run(
        [MM, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


# -- errors --------------------------------------------------------------------------------------


def test_the_error_dialog_says_an_engine_error_in_german(
    engine: Engine, german: gettext.GNUTranslations
) -> None:
    with pytest.raises(NotFound) as caught:
        Session(engine, SYSTEM).connectors_show("Tape")
    error = caught.value
    assert str(error).startswith("No connector named 'Tape'.")  # the engine speaks English
    shown: dict[str, str] = {}

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ErrorDialog.for_exception(error))

    async def run() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            shown["title"] = str(screen.query_one("#error-title", Label).render())
            shown["message"] = str(screen.query_one("#error-message", Static).render())
            shown["hint"] = str(screen.query_one("#error-hint", Static).render())

    asyncio.run(run())
    assert shown == {
        "title": german_of(german, "Not found"),
        "message": german_of(german, "No connector named {name!r}.").format(name="Tape"),
        "hint": german_of(german, "`mm connectors list` shows the connectors."),
    }


def test_the_command_line_says_an_engine_refusal_in_german(home: Path) -> None:
    with i18n.catalog_path("de").open("rb") as fh:
        de = gettext.GNUTranslations(fh)
    result = run_mm("--lang", "de", "connectors", "show", "Tape")
    assert result.returncode == 1, result.stderr
    said = german_of(de, "No connector named {name!r}.").format(name="Tape")
    lines = result.stderr.splitlines()
    assert de.gettext("Error: {message}").format(message=said) in lines
    assert german_of(de, "`mm connectors list` shows the connectors.") in lines
    assert "No connector named" not in result.stderr


def test_an_invalid_setting_is_german_inside_and_out(home: Path) -> None:
    """The setting's sentence holds the parser's sentence: both are said in German."""
    with i18n.catalog_path("de").open("rb") as fh:
        de = gettext.GNUTranslations(fh)
    result = run_mm("--lang", "de", "config", "set", "archive_interval_minutes", "often")
    assert result.returncode == 2, result.stderr
    inner = german_of(de, "'{value}' is not a whole number").format(value="often")
    outer = german_of(de, "Setting '{key}': {message}").format(
        key="archive_interval_minutes", message=inner
    )
    assert de.gettext("Error: {message}").format(message=outer) in result.stderr
    english = run_mm("config", "set", "archive_interval_minutes", "often")
    assert "Setting 'archive_interval_minutes': 'often' is not a whole number" in english.stderr


# -- alarms --------------------------------------------------------------------------------------


def locked_alarm(engine: Engine) -> dict[str, Any]:
    engine.alarms.raise_(AlarmType.ACCOUNT_LOCKED, dedupe="bob", **LOCKED_VALUES)
    (alarm,) = engine.alarms.list()
    return alarm


def test_an_alarm_reads_as_stored_in_english(engine: Engine) -> None:
    alarm = locked_alarm(engine)
    assert alarm["message"] == LOCKED.format(**LOCKED_VALUES)
    assert description(alarm) == alarm["message"]


def test_an_alarm_is_said_again_from_its_template_in_german(
    engine: Engine, german: gettext.GNUTranslations
) -> None:
    alarm = locked_alarm(engine)
    assert description(alarm) == german_of(german, LOCKED).format(**LOCKED_VALUES)


def test_a_new_alarm_toast_and_the_service_s_words_are_german(
    engine: Engine, german: gettext.GNUTranslations
) -> None:
    """What the console toasts (Session.alarms_after) carries what it needs to be said again,
    and the words the service fills in ("started") are translated with the template."""
    admin = Session(engine, SYSTEM)
    seen = max([0, *(int(a["id"]) for a in admin.alarms_after(0, limit=1000))])
    engine.alarms.raise_(AlarmType.SYSTEM_RESTART, event="started", time="09:00", dedupe="t")
    [fresh] = admin.alarms_after(seen)
    template = german_of(german, TEMPLATES[(AlarmType.SYSTEM_RESTART, "")][1])
    assert description(fresh) == template.format(event=german_of(german, "started"), time="09:00")


def test_an_alarm_from_another_template_keeps_its_stored_words(
    engine: Engine, german: gettext.GNUTranslations
) -> None:
    """An alarm stored by an older version (whose template read otherwise), or with values
    that no longer fit, is shown as it was stored: never a wrong or empty sentence."""
    alarm = locked_alarm(engine)
    older = {**alarm, "message": "Account bob is locked (5 failed logins)."}
    assert description(older) == "Account bob is locked (5 failed logins)."
    unknown = {**alarm, "type": "NO_SUCH_TYPE"}
    assert description(unknown) == alarm["message"]
    damaged = {**alarm, "params": "not json"}
    assert description(damaged) == alarm["message"]


@run_async
async def test_the_alarms_tab_shows_the_alarm_in_german(
    fast_engine: Engine, german: gettext.GNUTranslations
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    locked_alarm(fast_engine)
    app = MMApp(fast_engine, i18n._("embedded engine"), beside_service=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        screen.show_tab("alarms")
        await settle(pilot)
        table = screen.query_one("#alarms-table", DataTable)
        shown = str(table.get_row_at(0)[-1])
    assert shown == german_of(german, LOCKED).format(**LOCKED_VALUES)


def test_mm_alarms_list_says_the_alarm_in_german_and_json_stays_english(
    engine: Engine,
) -> None:
    alarm = locked_alarm(engine)
    with i18n.catalog_path("de").open("rb") as fh:
        de = gettext.GNUTranslations(fh)
    table = run_mm("--lang", "de", "alarms", "list")
    assert table.returncode == 0, table.stderr
    assert german_of(de, LOCKED).format(**LOCKED_VALUES) in table.stdout
    as_json = run_mm("--lang", "de", "alarms", "list", "--json")
    assert alarm["message"] in as_json.stdout


# -- where the engine runs -----------------------------------------------------------------------


def test_a_translated_status_does_not_decide_where_jobs_run(
    engine: Engine, german: gettext.GNUTranslations
) -> None:
    """The header's words are for people; whether jobs go to the service is a flag."""
    status = i18n._("service running (pid {pid})").format(pid=4242)
    beside = MMApp(engine, status, beside_service=True)
    alone = MMApp(engine, i18n._("embedded engine"), beside_service=False)
    assert beside_service(beside) and not beside_service(alone)
