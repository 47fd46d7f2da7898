"""Run the engine role in the foreground until SIGTERM or Ctrl-C (`mm --no-ui`)."""

from __future__ import annotations

import logging
import os
import sys

from mm_engine.errors import MMError
from mm_engine.service import Service
from mm_tui.context import open_engine
from mm_tui.output import fail

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "error": logging.ERROR}


def configure_logging(level: str) -> None:
    # journald stamps time and unit itself; on a terminal a timestamp helps.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if sys.stderr.isatty() or not os.environ.get("INVOCATION_ID"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(
        level=LEVELS.get(level, logging.INFO), format=fmt, stream=sys.stderr, force=True
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def run_service() -> int:
    with open_engine() as engine:
        configure_logging(str(engine.config.get("log_level")))
        try:
            Service(engine).run_forever()
        except MMError as exc:
            raise fail(exc.message, exc.hint, exc.exit_code) from None
    return 0
