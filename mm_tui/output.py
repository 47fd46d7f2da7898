"""How the CLI prints: data to stdout (JSON or tables), diagnostics to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.cells import cell_len

from mm_engine.errors import MMError
from mm_tui.i18n import _, tr

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def print_record(data: dict[str, Any]) -> None:
    """One item as aligned `key  value` lines, for `show` commands."""
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        sys.stdout.write(f"{key.ljust(width)}  {_cell(value)}".rstrip() + "\n")


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal cells (a Chinese character takes two)."""
    return text + " " * (width - cell_len(text))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """A plain aligned table; ``columns`` is (key, heading)."""
    cells = [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [
        max([cell_len(h)] + [cell_len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)
    ]
    out = sys.stdout
    out.write("  ".join(_pad(h, w) for (_, h), w in zip(columns, widths, strict=True)).rstrip())
    out.write("\n")
    for c in cells:
        out.write("  ".join(_pad(v, w) for v, w in zip(c, widths, strict=True)).rstrip() + "\n")


def print_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    json_out: bool,
    empty: str,
) -> None:
    """A listing as JSON, as a table, or the ``empty`` sentence (on stderr) when there is none."""
    if json_out:
        print_json(list(rows))
    elif rows:
        print_table(rows, columns)
    else:
        sys.stderr.write(empty + "\n")


def fail(message: str, hint: str = "", code: int = EXIT_FAILED) -> typer.Exit:
    """Say ``message`` and ``hint`` on stderr (the engine's sentences in the user's language)
    and return the exit for ``code``."""
    sys.stderr.write(_("Error: {message}").format(message=tr(message)) + "\n")
    if hint:
        sys.stderr.write(f"{tr(hint)}\n")
    return typer.Exit(code)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn engine errors into a message on stderr and the contract's exit code."""
    try:
        yield
    except MMError as exc:
        raise fail(exc.message, exc.hint, exc.exit_code) from None


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator form of :func:`reporting_errors` for typer commands."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reporting_errors():
            return fn(*args, **kwargs)

    return wrapper
