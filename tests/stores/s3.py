"""Real S3 servers on 127.0.0.1 for the ``s3`` storage type (/work/shared/services.md).

- moto's S3 server, in this process, for everything that needs a working bucket (it accepts any
  credentials);
- s3rver (npm, from the repo's .cache/node) for wrong-key checks: it accepts only the key
  ``S3RVER``/``S3RVER`` and refuses every other with InvalidAccessKeyId;
- a free port where nothing listens, for an unreachable endpoint.

Both servers are started once per session on free ports. Each test gets a fresh bucket, and the
store writes inside a parent folder of it, so the folder prefix is exercised everywhere.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
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

ROOT = Path(__file__).resolve().parents[2]
S3RVER = ROOT / ".cache" / "node" / "node_modules" / ".bin" / "s3rver"
S3RVER_KEY = "S3RVER"  # the only key s3rver accepts; the secret is the same word
S3RVER_BUCKET = "mm-s3rver"
MOTO_KEY = "AKIAMMTESTKEY000"
MOTO_SECRET = "mm-test-secret"
FOLDER = "recordings/archive"


@dataclass
class S3Server:
    endpoint: str
    key: str
    secret: str

    def client(self) -> Any:
        """A plain boto3 client on this server: what someone outside mm would see."""
        import boto3.session
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        )
        return session.client(
            "s3",
            endpoint_url=self.endpoint,
            verify=False,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def settings(self, bucket: str, folder: str = FOLDER, **changes: str) -> dict[str, str]:
        values = {
            "bucket": bucket,
            "folder": folder,
            "access_key_id": self.key,
            "secret_access_key": self.secret,
            "endpoint_url": self.endpoint,
        }
        values.update(changes)
        return values


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_port(port)
        yield S3Server(f"http://127.0.0.1:{port}", MOTO_KEY, MOTO_SECRET)
    finally:
        server.stop()


@dataclass
class S3rverProcess:
    """An s3rver on a free port, storing in its own temp folder; ``stop()`` ends and tidies it."""

    server: S3Server
    proc: subprocess.Popen[bytes]
    data: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.data, ignore_errors=True)


def start_s3rver(bucket: str = S3RVER_BUCKET) -> S3rverProcess:
    """s3rver with one bucket (usable outside pytest: the benchmarks start it too)."""
    if not S3RVER.exists():
        raise RuntimeError(f"s3rver is not installed at {S3RVER}; run the project's test script")
    data = Path(tempfile.mkdtemp(prefix="mm-s3rver-"))
    port = free_port()
    proc = subprocess.Popen(
        [
            str(S3RVER),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-d",
            str(data),
            "--silent",
            "--configure-bucket",
            bucket,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = S3rverProcess(
        S3Server(f"http://127.0.0.1:{port}", S3RVER_KEY, S3RVER_KEY), proc, data
    )
    try:
        wait_port(port, proc)
    except BaseException:
        running.stop()
        raise
    return running


@pytest.fixture(scope="session")
def s3rver() -> Iterator[S3Server]:
    """s3rver with one bucket, storing in a temp folder; it checks keys as S3 does."""
    if not S3RVER.exists():
        pytest.fail(f"s3rver is not installed at {S3RVER}; run the project's test script")
    running = start_s3rver()
    try:
        yield running.server
    finally:
        running.stop()


def new_bucket(server: S3Server) -> str:
    bucket = f"mm-test-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_bucket(moto_s3: S3Server) -> str:
    """A fresh, empty bucket on the moto server."""
    return new_bucket(moto_s3)


@pytest.fixture
def s3_store(moto_s3: S3Server, s3_bucket: str) -> Store:
    return open_store("s3", moto_s3.settings(s3_bucket), "s3")


@pytest.fixture
def s3_denied_store(s3rver: S3Server) -> Store:
    wrong = s3rver.settings(
        S3RVER_BUCKET, access_key_id="AKIAWRONGKEY0000", secret_access_key="not-the-secret"
    )
    return open_store("s3", wrong, "s3-denied")


@pytest.fixture
def s3_unreachable_store() -> Store:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = S3Server(nowhere, MOTO_KEY, MOTO_SECRET).settings("mm-unreachable")
    return open_store("s3", settings, "s3-unreachable")
