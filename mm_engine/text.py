"""Sentences the engine says to people, in English, carrying what a front end needs to say
them in the user's language (seed F5).

The engine speaks no language itself: one service serves consoles in several languages, and
what it stores (job errors, alarms) is read later by whoever looks. So a message is built from
a template and named values::

    raise NotFound(msg("No recording {call_id}.", call_id=call_id), msg("Search for it first."))

``msg`` returns a :class:`Msg`, which *is* the English sentence (a ``str``: logs, ``--json``,
tests and ``str(exc)`` read English), and remembers its template and values, so a front end
translates the template through its catalog and fills in the same values. ``msgn`` is the
same for a sentence about a count, whose translations need plural forms. ``N_`` marks a
constant whose text is translated where it is shown (error titles, alarm templates).

Rules for writing them: the template is a literal (never an f-string: the catalogs are
extracted from the code), values go in by name, and a sentence is never glued to another with
``+`` (the result is a plain ``str`` and stays English).
"""

from __future__ import annotations

from typing import Any


class Msg(str):
    """An English sentence with its ``template`` and ``params``; ``n`` when it is about a
    number of things (the form of a plural is chosen from it)."""

    template: str
    params: dict[str, Any]
    n: int | None

    def __new__(cls, template: str, /, count: int | None = None, **params: Any) -> Msg:
        values = dict(params)
        if count is not None:
            values.setdefault("count", count)
        text = template.format(**values) if values else template
        self = super().__new__(cls, text)
        self.template = template
        self.params = values
        self.n = count
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.template, self.n, self.params))


def _rebuild(template: str, count: int | None, params: dict[str, Any]) -> Msg:
    params = {k: v for k, v in params.items() if not (k == "count" and v == count)}
    return Msg(template, count, **params)


def msg(template: str, /, **params: Any) -> Msg:
    """A sentence from ``template`` with named ``params`` (``{name}`` in the template)."""
    return Msg(template, **params)


def msgn(template: str, count: int, /, **params: Any) -> Msg:
    """A sentence about ``count`` things ("Deleted {count} recording(s)."): ``{count}`` is
    filled in, and translations take the plural form for ``count``."""
    return Msg(template, count, **params)


def N_(message: str) -> str:
    """Marks a constant for the catalogs; the front end translates it where it is shown."""
    return message


def to_data(text: object) -> Any:
    """``text`` as JSON data that :func:`from_data` makes a :class:`Msg` again, for sentences
    the engine stores (a job's error, a connector's last test, an alarm's values), so whoever
    reads them later reads them in their own language. An engine error keeps its sentence and
    hint; other values become plain JSON values (anything else: its text)."""
    if isinstance(text, Msg):
        params = {k: v for k, v in text.params.items() if not (k == "count" and v == text.n)}
        return {
            "msg": text.template,
            "n": text.n,
            "params": {k: to_data(v) for k, v in params.items()},
        }
    message = getattr(text, "message", None)
    if isinstance(text, BaseException) and isinstance(message, Msg):
        hint = getattr(text, "hint", "")
        return to_data(Msg("{message} {hint}", message=message, hint=hint) if hint else message)
    if isinstance(text, BaseException) and len(text.args) == 1 and isinstance(text.args[0], Msg):
        return to_data(text.args[0])
    if text is None or isinstance(text, str | int | float | bool):
        return str(text) if isinstance(text, str) else text
    return str(text)


def from_data(data: Any) -> Any:
    """What :func:`to_data` stored: a :class:`Msg` again, or the plain value."""
    if isinstance(data, dict) and isinstance(data.get("msg"), str):
        params = data.get("params")
        values = {k: from_data(v) for k, v in params.items()} if isinstance(params, dict) else {}
        n = data.get("n")
        try:
            return Msg(data["msg"], n if isinstance(n, int) else None, **values)
        except (KeyError, IndexError, ValueError):  # stored by a version with other templates
            return data["msg"]
    return data


def said_again(data: Any, english: str) -> str:
    """A sentence stored with :func:`to_data` (``None`` when there is none), or ``english``
    when it was stored as plain text or by an older version."""
    text = from_data(data) if data is not None else None
    return text if isinstance(text, str) else english
