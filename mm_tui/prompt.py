"""Reading a password: prompted twice on a terminal, one line from stdin for scripts.

Never from argv or an option: those show in `ps`, shell history and process accounting.
"""

from __future__ import annotations

import getpass
import sys

from mm_engine.errors import InvalidInput


def read_new_password(what: str = "Password") -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"{what}: ")
        if getpass.getpass(f"Repeat {what.lower()}: ") != first:
            raise InvalidInput("The two passwords differ; nothing was changed.")
        return first
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput(
            f"No {what.lower()} on stdin.",
            "Pipe it in as one line, e.g. `printf '%s\\n' \"$PW\" | mm ...`, or run on a terminal.",
        )
    return password
