"""A real Google Cloud Storage emulator (gcp-storage-emulator) on 127.0.0.1 for the session.

It runs as its own process, in memory, speaking the JSON and upload APIs the SDK uses (resumable
uploads, ranged downloads, listing by prefix). It does not check credentials at all, so the
store is opened with an endpoint and no key (anonymous requests), and ``gcs`` is not in
DENIABLE: a wrong key cannot be told from a right one here.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mm_engine.storage.base import Store
from mm_engine.storage.registry import open_store
from tests.stores.net import free_port, wait_port

FOLDER = "archive/calls"  # every test store keeps its objects under this parent folder


@dataclass
class GcsEmulator:
    endpoint: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self) -> Any:
        """A plain SDK client, as an administrator (or a test) would use one."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="mm-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )

    def new_bucket(self) -> str:
        name = f"mm-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def start_emulator() -> GcsEmulator:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="mm-gcs-emulator-", suffix=".log")[1])
    with open(log, "wb") as out:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gcp_storage_emulator", "start"),
                *("--host", "127.0.0.1", "--port", str(port), "--in-memory"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_port(port, proc)
    except BaseException as exc:
        proc.kill()
        proc.wait()
        said = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"gcp-storage-emulator did not start: {exc}\n{said}") from exc
    return GcsEmulator(f"http://127.0.0.1:{port}", proc, log)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    server = start_emulator()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcs_store(gcs_emulator: GcsEmulator) -> Store:
    """A fresh bucket of its own, objects under FOLDER."""
    settings = {"bucket": gcs_emulator.new_bucket(), "folder": FOLDER}
    return open_store("gcs", {**settings, "endpoint": gcs_emulator.endpoint}, "gcs")


@pytest.fixture
def gcs_unreachable_store() -> Store:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    return open_store("gcs", {"bucket": "mm-archive", "endpoint": endpoint}, "gcs")
