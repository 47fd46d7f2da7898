"""The language mm speaks (seed F5): gettext catalogs for the console and the command line.

Catalogs are ``mm_tui/locale/<code>/LC_MESSAGES/mm.po`` in git; the ``.mo`` files beside them
are build output (setup.py's build hook, ``scripts/lib/setup.sh``, ``scripts/i18n compile``).

Which language: ``mm --lang CODE``, else the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
``LANG``: the first one set decides, as for the standard library's gettext). A tag is reduced
to its language: any English is US English, any Spanish is Latin-American Spanish (es_ES too:
a Spanish reader is better served by it than by English), any Portuguese is Brazilian, any
Chinese is Simplified Chinese. Anything else, and ``C``/``POSIX``, is US English.

Use ``_("...")`` where the text is shown, ``N_("...")`` to mark a constant that is translated
later with ``_()``, ``ngettext`` for plurals, and ``plural("3 recording(s)", n)`` for a message
whose English reads the same for every count but whose translations need plural forms.
Put values in through named placeholders: ``_("Deleted {name}.").format(name=name)``.
"""

from __future__ import annotations

import gettext
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mm_engine.errors import MMError
from mm_engine.text import Msg

DOMAIN = "mm"
LOCALE_DIR = Path(__file__).resolve().with_name("locale")
DEFAULT = "en_US"

# code -> the language's own name (F5)
LANGUAGES: dict[str, str] = {
    "en_US": "English (US)",
    "nl": "Nederlands",
    "it": "Italiano",
    "de": "Deutsch",
    "ru": "Русский",
    "fr": "Français",
    "es_419": "Español (Latinoamérica)",
    "pt_BR": "Português (Brasil)",
    "zh_CN": "简体中文",
}
_BY_LANGUAGE = {code.split("_")[0].lower(): code for code in LANGUAGES}
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
# The marking functions below, as extraction keywords (babel's spec: which arguments are the
# singular and the plural); scripts/i18n and tests/test_i18n.py extract with these.
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "N_": None,
    "ngettext": (1, 2),
    "plural": (1, 1),
    # the engine's sentences (mm_engine/text.py)
    "msg": None,
    "msgn": (1, 1),
}
# Where the marked messages are: the front ends, and the engine's sentences they show.
SOURCE_PACKAGES = ("mm_tui", "mm_engine")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_current = DEFAULT
_warned: set[str] = set()


def _(message: str) -> str:
    """``message`` in the current language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural_: str, n: int) -> str:
    """The form of a message for ``n`` things, in the current language."""
    return _translation.ngettext(singular, plural_, n)


def plural(message: str, n: int) -> str:
    """A message whose English reads the same for any ``n`` ("{count} recording(s)") but whose
    translations take the plural form for ``n``."""
    return _translation.ngettext(message, message, n)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs only; translate it with ``_()`` where it is shown."""
    return message


def tr(text: object) -> str:
    """A sentence from the engine (:class:`mm_engine.text.Msg`) in the current language, its
    values filled in (values that are sentences or engine errors translated too). A plain
    string is returned as it is: it is data (a path, a name) or already translated. A
    translation that does not fit its values (a damaged catalog) gives the English."""
    if isinstance(text, MMError):
        return error_text(text)
    if isinstance(text, BaseException) and len(text.args) == 1 and isinstance(text.args[0], Msg):
        return tr(text.args[0])  # an engine OSError (unreachable share...) built from a msg()
    if not isinstance(text, Msg):
        return str(text)
    values = {key: _value(value) for key, value in text.params.items()}
    if text.n is None:
        template = _translation.gettext(text.template)
    else:
        template = _translation.ngettext(text.template, text.template, text.n)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return str(text)


def _value(value: object) -> object:
    return tr(value) if isinstance(value, Msg | BaseException) else value


def error_text(error: MMError) -> str:
    """What happened and what to do, in one line, in the current language."""
    return f"{tr(error.message)} {tr(error.hint)}".strip()


# Roles as people read them; `--role` and --json keep the engine's words.
ROLE_NAMES = {
    "administrator": N_("administrator"),
    "standard": N_("standard"),
    "end_user": N_("end-user"),
}


def role_name(role: str) -> str:
    """A role (its value, e.g. ``end_user``) in the current language."""
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


def languages() -> list[str]:
    """The nine language codes mm has catalogs for, US English first."""
    return list(LANGUAGES)


def current() -> str:
    """The code of the language in use."""
    return _current


def normalise(tag: str) -> str | None:
    """A locale name or language tag (``de_DE.UTF-8``, ``pt-BR``, ``es_MX``, ``C``) as one of
    :func:`languages`, or None when mm has no catalog for it."""
    text = tag.strip().split(".")[0].split("@")[0].replace("-", "_")
    if text.upper() in ("C", "POSIX"):
        return DEFAULT
    return _BY_LANGUAGE.get(text.partition("_")[0].lower()) if text else None


def from_environment(env: Mapping[str, str]) -> str:
    """The language the locale asks for: the first of ``ENV_VARS`` that is set decides (its
    ``:``-separated entries are tried in order); US English when mm has none of them."""
    for var in ENV_VARS:
        value = env.get(var, "")
        if value:
            for item in value.split(":"):
                code = normalise(item)
                if code is not None:
                    return code
            return DEFAULT
    return DEFAULT


def lang_option(argv: Sequence[str]) -> str | None:
    """The value of ``--lang`` in a command line (``--lang de`` or ``--lang=de``), if any."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.removeprefix("--lang=")
    return None


def catalog_path(code: str, suffix: str = ".mo") -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def _warn(key: str, text: str) -> None:
    if key not in _warned:
        _warned.add(key)
        sys.stderr.write(f"mm: {text}\n")


def _load(code: str) -> gettext.NullTranslations | None:
    path = catalog_path(code)
    try:
        with path.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    except Exception as exc:  # a missing or damaged catalog must never stop mm
        if code != DEFAULT:  # English needs no catalog: the messages are English
            problem = "is missing" if isinstance(exc, FileNotFoundError) else f"is damaged: {exc}"
            _warn(
                f"load:{code}",
                f"{path} {problem}, so mm speaks US English instead of {LANGUAGES[code]}. "
                "Compile the catalogs with ./scripts/i18n compile, or reinstall mm.",
            )
        return None


def setup(lang: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Choose the language: ``lang`` (the ``--lang`` value) if given, else the locale in
    ``env`` (default ``os.environ``). Returns the code in use; an unknown ``lang`` or a missing
    catalog means US English, with one warning on stderr."""
    global _translation, _current
    if lang is not None:
        code = normalise(lang)
        if code is None:
            _warn(
                f"lang:{lang}",
                f"mm has no {lang!r} language; using US English. "
                f"Languages: {', '.join(LANGUAGES)}.",
            )
            code = DEFAULT
    else:
        code = from_environment(os.environ if env is None else env)
    loaded = _load(code)
    _translation = loaded if loaded is not None else gettext.NullTranslations()
    _current = code if loaded is not None else DEFAULT
    _localise_cli_framework()
    return _current


# -- the words click and typer print themselves ("Usage:", "Options", "--help"'s help) ----------
# Both call the standard library's gettext.gettext, which only knows the locale's language, so
# their modules' ``_`` is pointed at ours. These are the messages our catalogs carry for them.
FRAMEWORK_MESSAGES = (
    N_("Usage:"),
    N_("Options"),
    N_("Arguments"),
    N_("Commands"),
    N_("Error"),
    N_("Error: {message}"),
    N_("Aborted."),
    N_("Aborted!"),
    N_("Show this message and exit."),
    N_("Try [blue]'{command_path} {help_option}'[/] for help."),
    N_("Try '{command} {option}' for help."),
    N_("[default: {}]"),
    N_("[env var: {}]"),
    N_("[required]"),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing command."),
    N_("No such command {name!r}."),
    N_("No such option {name!r}."),
    N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value!r} is not a valid boolean. Recognized values: {states}"),
    N_("Repeat for confirmation"),
    N_("Error: The two entered values do not match."),
)
_CLICK_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.termui",
    "click.types",
    "typer.core",
    "typer.main",
)
_TYPER_RICH_TEXTS = {
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
    "DEFAULT_STRING": "[default: {}]",
    "ENVVAR_STRING": "[env var: {}]",
    "REQUIRED_LONG_STRING": "[required]",
}


def _localise_cli_framework() -> None:
    """Only for modules already loaded: mm itself never loads click or typer for this."""
    _localise_vendored_click()
    for name in _CLICK_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        if callable(getattr(module, "_", None)):
            module._ = _  # type: ignore[attr-defined]
        if callable(getattr(module, "ngettext", None)):
            module.ngettext = ngettext  # type: ignore[attr-defined]
    rich_utils = sys.modules.get("typer.rich_utils")
    if rich_utils is None and "typer" in sys.modules and _current != DEFAULT:
        try:  # typer loads it for help and errors; its texts are fixed when it loads
            rich_utils = importlib.import_module("typer.rich_utils")
        except ImportError:  # typer without rich prints through click, patched above
            return
    if rich_utils is not None:
        for attr, message in _TYPER_RICH_TEXTS.items():
            if isinstance(getattr(rich_utils, attr, None), str):
                setattr(rich_utils, attr, _(message))


def _localise_vendored_click() -> None:
    """Typer 0.2x carries its own click (``typer._click``) with "Usage: " and the --help text
    written in: wrap the two places that print them (once; they translate when called)."""
    core = sys.modules.get("typer._click.core")
    formatting = sys.modules.get("typer._click.formatting")
    command = getattr(core, "Command", None)
    formatter = getattr(formatting, "HelpFormatter", None)
    if command is not None and not hasattr(command, "_mm_localised"):
        original_help_option = command.get_help_option

        def get_help_option(self: Any, ctx: Any) -> Any:
            option = original_help_option(self, ctx)
            if option is not None and option.help == "Show this message and exit.":
                option.help = _(option.help)
            return option

        command.get_help_option = get_help_option
        command._mm_localised = True
    if formatter is not None and not hasattr(formatter, "_mm_localised"):
        original_write_usage = formatter.write_usage

        def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
            original_write_usage(self, prog, args, _("Usage:") + " " if prefix is None else prefix)

        formatter.write_usage = write_usage
        formatter._mm_localised = True
