"""Real storage servers on 127.0.0.1 for the benchmarks, started outside pytest.

Samba and s3rver are started by the same code the tests use (tests/stores/samba.py and
tests/stores/s3.py). moto runs here as its own ``moto_server`` process rather than in-process as
in the tests: in the benchmark's process it would share the interpreter lock with the code being
measured. Its objects spill to files in its own temp folder above 1 MiB, so 10 GB of uploads do
not sit in its memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stores.net import free_port, wait_port  # noqa: E402
from tests.stores.s3 import MOTO_KEY, MOTO_SECRET, S3RVER_BUCKET, S3Server, start_s3rver  # noqa: E402
from tests.stores.samba import Samba, start_samba  # noqa: E402

BUCKET = "mm-bench"
MOTO_BUFFER = 1 << 20  # bytes of an object moto keeps in memory before spilling to a file


@dataclass
class S3Running:
    """An S3 server process: what it is, how to reach it, and its pid for RSS and CPU figures."""

    kind: str  # "moto" or "s3rver"
    server: S3Server
    bucket: str  # an empty bucket made for the caller
    pid: int


@contextlib.contextmanager
def samba() -> Iterator[Samba]:
    server = start_samba()
    try:
        yield server
    finally:
        server.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def moto() -> Iterator[S3Running]:
    """``moto_server`` in its own process, spilling objects to its own temp folder."""
    spill = Path(tempfile.mkdtemp(prefix="mm-bench-moto-"))
    port = free_port()
    env = {
        **os.environ,
        "TMPDIR": str(spill),
        "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(MOTO_BUFFER),
    }
    log = open(spill / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        wait_port(port, proc)
        server = S3Server(f"http://127.0.0.1:{port}", MOTO_KEY, MOTO_SECRET)
        server.client().create_bucket(Bucket=BUCKET)
        yield S3Running("moto", server, BUCKET, proc.pid)
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(spill, ignore_errors=True)


@contextlib.contextmanager
def s3rver() -> Iterator[S3Running]:
    running = start_s3rver()
    try:
        yield S3Running("s3rver", running.server, S3RVER_BUCKET, running.proc.pid)
    finally:
        running.stop()


@contextlib.contextmanager
def s3(kind: str) -> Iterator[S3Running]:
    with moto() if kind == "moto" else s3rver() as running:
        yield running
