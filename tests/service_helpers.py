"""Running the real headless service (`mm --no-ui`) as a subprocess in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MM = str(Path(sys.executable).with_name("mm"))


def start_service(home: Path, *, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MM_HOME": str(home)}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen([MM, "--no-ui"], env=env, stdout=subprocess.DEVNULL, stderr=out)


def stop_service(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=60)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def mm(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MM_HOME": str(home)}
    return subprocess.run(
        [MM, *args], env=env, capture_output=True, text=True, input=stdin, timeout=120
    )
