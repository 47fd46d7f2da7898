"""Languages (seed F5): complete catalogs for the nine languages, chosen by --lang or the locale.

The messages are extracted from the code as it is now (babel, in-process), so a new message
without a translation in any of the nine catalogs fails here, naming the language and the text.
"""

from __future__ import annotations

import asyncio
import gettext
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from textual.widgets import Button, Label

from mm_engine.engine import Engine
from mm_engine.passwords import ScryptParams
from mm_engine.principal import SYSTEM, Role
from mm_tui import i18n
from mm_tui.app import MMApp
from mm_tui.screens.login import LoginScreen

ROOT = Path(__file__).resolve().parents[1]
MM = str(Path(sys.executable).with_name("mm"))
LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

Message = str | tuple[str, ...]


def current_messages() -> dict[Message, str]:
    """Every message the code marks today, with the file it is in."""
    found: dict[Message, str] = {}
    for package in i18n.SOURCE_PACKAGES:
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT / package), keywords=i18n.KEYWORDS, comment_tags=("Translators:",)
        ):
            found.setdefault(message, f"{package}/{filename}")
    return found


PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\([a-z_]+\))?[-#0+]*\d*(?:\.\d+)?[sdifr]")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def problems_in(code: str, wanted: dict[Message, str]) -> list[str]:
    path = i18n.catalog_path(code, ".po")
    with path.open("rb") as fh:
        catalog = read_po(fh)
    problems = []
    for message_id, where in wanted.items():
        key = message_id[0] if isinstance(message_id, tuple) else message_id
        entry = catalog.get(key)
        shown = f"{code}: {key!r} ({where})"
        if entry is None:
            problems.append(f"{shown}: missing")
            continue
        sources = message_id if isinstance(message_id, tuple) else (message_id,)
        raw = entry.string
        translations = tuple(map(str, raw)) if isinstance(raw, tuple | list) else (str(raw or ""),)
        if entry.fuzzy:
            problems.append(f"{shown}: marked fuzzy, check the translation")
        if isinstance(message_id, tuple) != entry.pluralizable:
            problems.append(f"{shown}: singular/plural differs from the code; run scripts/i18n")
            continue
        if not all(translations):
            problems.append(f"{shown}: not translated")
            continue
        expected = set().union(*(placeholders(s) for s in sources))
        for text in translations:
            if placeholders(text) != expected:
                problems.append(
                    f"{shown}: placeholders {sorted(placeholders(text))} in {text!r}, "
                    f"expected {sorted(expected)}"
                )
    return problems


def test_the_catalogs_are_the_nine_languages_of_f5() -> None:
    assert i18n.languages() == ["en_US", "nl", "it", "de", "ru", "fr", "es_419", "pt_BR", "zh_CN"]
    found = sorted(p.parent.parent.name for p in (ROOT / "mm_tui/locale").glob("*/*/mm.po"))
    assert found == sorted(i18n.languages())


def test_every_catalog_translates_every_message_with_its_placeholders() -> None:
    wanted = current_messages()
    assert len(wanted) > 400  # the walker found the code (guards against passing on nothing)
    problems = [p for code in i18n.languages() for p in problems_in(code, wanted)]
    shown = "\n".join(problems[:60]) + (
        f"\n... {len(problems) - 60} more" if len(problems) > 60 else ""
    )
    assert problems == [], (
        f"{len(problems)} catalog problem(s); run ./scripts/i18n, translate, run it again:\n{shown}"
    )


def test_us_english_reads_as_the_code_does() -> None:
    with i18n.catalog_path("en_US", ".po").open("rb") as fh:
        catalog = read_po(fh)
    for entry in catalog:
        if entry.id and not entry.pluralizable:
            assert entry.string == entry.id, entry.id


# -- choosing the language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("de_DE.UTF-8", "de"),
        ("de_AT", "de"),
        ("nl_BE.UTF-8@euro", "nl"),
        ("pt_BR.UTF-8", "pt_BR"),
        ("pt_PT", "pt_BR"),
        ("pt-BR", "pt_BR"),
        ("es_MX.UTF-8", "es_419"),
        ("es_ES", "es_419"),
        ("es-419", "es_419"),
        ("zh_CN.UTF-8", "zh_CN"),
        ("zh_TW", "zh_CN"),
        ("en_GB.UTF-8", "en_US"),
        ("C.UTF-8", "en_US"),
        ("POSIX", "en_US"),
        ("ja_JP.UTF-8", None),
        ("", None),
    ],
)
def test_locale_names_reduce_to_the_nine(tag: str, code: str | None) -> None:
    assert i18n.normalise(tag) == code


def test_the_first_locale_variable_set_decides() -> None:
    assert i18n.from_environment({"LANG": "ru_RU.UTF-8"}) == "ru"
    assert i18n.from_environment({"LANG": "ru_RU.UTF-8", "LC_ALL": "fr_FR.UTF-8"}) == "fr"
    assert i18n.from_environment({"LANGUAGE": "ja:it", "LC_ALL": "fr_FR.UTF-8"}) == "it"
    assert i18n.from_environment({"LC_MESSAGES": "ja_JP.UTF-8", "LANG": "de_DE"}) == "en_US"
    assert i18n.from_environment({}) == "en_US"


def test_lang_option_is_read_from_the_command_line() -> None:
    assert i18n.lang_option(["--home", "/x", "--lang", "de", "recordings", "search"]) == "de"
    assert i18n.lang_option(["--lang=zh_CN", "--help"]) == "zh_CN"
    assert i18n.lang_option(["recordings", "search", "--", "--lang", "de"]) is None
    assert i18n.lang_option(["recordings", "search"]) is None


def run_mm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in LOCALE_VARS}
    return subprocess.run(
        [MM, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def catalog(code: str) -> gettext.GNUTranslations:
    with i18n.catalog_path(code).open("rb") as fh:
        return gettext.GNUTranslations(fh)


def test_lang_de_makes_mm_help_german() -> None:
    de = catalog("de")
    result = run_mm("--lang", "de", "--help", env={"LANG": "fr_FR.UTF-8"})
    assert result.returncode == 0, result.stderr
    for english in ("mm: call-recording library manager.", "Options", "Commands"):
        german = de.gettext(english)
        assert german != english
        assert german in result.stdout
    assert "Search, show, download" not in result.stdout
    assert de.gettext("Search, show, download, verify and delete recordings.") in result.stdout


def test_lang_pt_br_locale_picks_brazilian_portuguese() -> None:
    pt = catalog("pt_BR").gettext("List and acknowledge alarms; test alarm e-mail.")
    result = run_mm("alarms", "--help", env={"LANG": "pt_BR.UTF-8"})
    assert result.returncode == 0, result.stderr
    assert pt != "List and acknowledge alarms; test alarm e-mail." and pt in result.stdout


def test_an_unknown_language_falls_back_to_english() -> None:
    by_option = run_mm("--lang", "xx", "--help")
    assert by_option.returncode == 0
    assert "mm: call-recording library manager." in by_option.stdout
    assert "no 'xx' language" in by_option.stderr and "zh_CN" in by_option.stderr
    by_locale = run_mm("--help", env={"LANG": "ja_JP.UTF-8"})
    assert "mm: call-recording library manager." in by_locale.stdout
    assert by_locale.stderr == ""


def test_json_output_is_the_same_in_every_language(home: Path) -> None:
    english = run_mm("config", "show", "--json")
    assert english.returncode == 0, english.stderr
    for code in ("de", "zh_CN", "ru"):
        other = run_mm("--lang", code, "config", "show", "--json")
        assert other.stdout == english.stdout


def test_messages_and_errors_are_translated(home: Path) -> None:
    fr = catalog("fr")
    result = run_mm("--lang", "fr", "recordings", "delete", "1")
    assert result.returncode == 3
    for english in ("Error: {message}", "Pass --yes to delete from a script."):
        french = fr.gettext(english)
        assert french != english
        assert french.split("{")[0] in result.stderr


# -- in this process ---------------------------------------------------------------------------


@pytest.fixture
def english_after() -> Iterator[None]:
    yield
    i18n.setup("en_US")


def test_russian_takes_the_plural_form_for_the_count(english_after: None) -> None:
    assert i18n.setup("ru") == "ru"
    forms = [i18n.plural("{count} account(s)", n).format(count=n) for n in (1, 3, 5, 21)]
    assert len(set(f.split(" ", 1)[1] for f in forms[:3])) == 3  # one, few, many
    assert forms[3].split(" ", 1)[1] == forms[0].split(" ", 1)[1]  # 21 reads like 1
    assert i18n.setup("en_US") == "en_US"
    assert i18n.plural("{count} account(s)", 5).format(count=5) == "5 account(s)"


def test_a_missing_catalog_means_english_with_one_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    english_after: None,
) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(i18n, "_warned", set())
    assert i18n.setup("de") == "en_US"
    assert i18n.setup("de") == "en_US"
    assert i18n._("Log in") == "Log in"
    err = capsys.readouterr().err
    assert err.count("mm: ") == 1 and "Deutsch" in err and "scripts/i18n compile" in err
    (tmp_path / "it" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "it" / "LC_MESSAGES" / "mm.mo").write_bytes(b"not a catalog")
    assert i18n.setup("it") == "en_US"  # a damaged one too: English, never a crash
    assert "damaged" in capsys.readouterr().err


def test_the_console_login_screen_speaks_french(engine: Engine, english_after: None) -> None:
    engine.users.params = ScryptParams(n=2**10, r=8, p=1)
    engine.users.add(SYSTEM, "alice", Role.ADMINISTRATOR, "correct horse")
    fr = catalog("fr")
    assert i18n.setup("fr") == "fr"

    async def run() -> None:
        app = MMApp(engine, "embedded engine")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, LoginScreen)
            title = str(screen.query_one("#login-title", Label).render())
            assert title == fr.gettext("Log in to mm") != "Log in to mm"
            button = str(screen.query_one("#login-submit", Button).label)
            assert button == fr.gettext("Log in") != "Log in"

    asyncio.run(run())
