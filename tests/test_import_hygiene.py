"""The engine and the headless service never load a front-end library (DESIGN.md section 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("textual", "rich", "typer", "mm_tui")

ENGINE_MODULES = [
    "mm_engine",
    "mm_engine.engine",
    "mm_engine.service",
    "mm_engine.catalogue",
    "mm_engine.config",
    "mm_engine.ingest.pipeline",
    "mm_engine.ingest.watcher",
    "mm_engine.retention",
    "mm_engine.users",
    "mm_engine.audit",
]


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_loads_no_front_end(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FRONT_ENDS!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulled in: {out.stdout.strip()}"


def test_import_linter_contract_holds() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint_imports), "--no-cache"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


def test_the_headless_service_command_loads_no_console() -> None:
    """`mm --no-ui` runs on servers without a terminal: the Textual console stays unloaded."""
    code = (
        "import sys, mm_tui.cli, mm_tui.service_cmd\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
