"""Run the engine role in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations


def run_service() -> int:
    raise NotImplementedError
