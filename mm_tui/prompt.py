"""Reading a password: prompted twice on a terminal, one line from stdin for scripts.

Never from argv or an option: those show in `ps`, shell history and process accounting.
"""

from __future__ import annotations

import getpass
import sys

from mm_engine.errors import InvalidInput
from mm_tui.i18n import _


def read_new_password(what: str = "") -> str:
    """``what`` names the password in the prompts and messages ("Backup password"), already
    translated; the default is "Password"."""
    what = what or _("Password")
    if sys.stdin.isatty():
        first = getpass.getpass(_("{what}: ").format(what=what))
        if getpass.getpass(_("{what} (again): ").format(what=what)) != first:
            raise InvalidInput(_("The two passwords differ; nothing was changed."))
        return first
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput(
            _("{what} missing: nothing on stdin.").format(what=what),
            _(
                "Pipe it in as one line, e.g. `printf '%s\\n' \"$PW\" | mm ...`, or run on a "
                "terminal."
            ),
        )
    return password
