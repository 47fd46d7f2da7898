"""Errors a user can see. Each carries a title and what to do, so every front end can show both."""

from __future__ import annotations

from mm_engine.text import N_, msg


class MMError(Exception):
    """Base of every error the engine reports to a person or a script.

    ``exit_code`` follows the CLI contract: 1 failed, 2 bad usage, 3 refused. ``message`` and
    ``hint`` are :func:`mm_engine.text.msg` sentences (a plain ``str`` stays English);
    ``title`` is marked with ``N_`` and translated where it is shown.
    """

    exit_code = 1
    title = N_("Operation failed")

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InvalidInput(MMError):
    """The caller asked for something malformed (a bad setting value, a bad filter)."""

    exit_code = 2
    title = N_("Invalid input")


class InvalidSetting(InvalidInput):
    title = N_("Invalid setting")

    def __init__(self, key: str, message: str, hint: str = "") -> None:
        super().__init__(msg("Setting '{key}': {message}", key=key, message=message), hint)
        self.key = key
        self.problem = message  # the sentence without the setting's name, for a form field


class NotFound(MMError):
    title = N_("Not found")


class Refused(MMError):
    """The engine will not do this in the current state (or for this principal)."""

    exit_code = 3
    title = N_("Refused")


class EngineBusy(Refused):
    """Another process holds the engine role."""

    title = N_("Engine already running")
