"""Every command a user can type is documented (as sqlite-utils' test_docs does)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.main import get_command

from mm_engine.config import SETTINGS
from mm_tui.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs"


def command_paths() -> list[str]:
    root = get_command(app)
    paths: list[str] = []

    def walk(cmd: object, prefix: str) -> None:
        subs = getattr(cmd, "commands", None)
        if not subs:
            paths.append(prefix)
            return
        for name, sub in subs.items():
            walk(sub, f"{prefix} {name}")

    walk(root, "mm")
    return [p for p in paths if p != "mm"]


def test_every_cli_command_is_in_docs_cli_md() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [p for p in command_paths() if f"`{p}" not in text]
    assert missing == [], f"undocumented commands: {missing}"
    assert "`mm --no-ui`" in text


def test_every_setting_is_in_docs_configuration_md() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [k for k in SETTINGS if f"`{k}`" not in text]
    assert missing == [], f"undocumented settings: {missing}"


def test_the_command_walker_sees_nested_commands() -> None:
    # guards the first test against passing on an empty list
    assert isinstance(app, typer.Typer)
    assert {"mm config show", "mm config set", "mm storage move"} <= set(command_paths())
