"""A real Azurite (Microsoft's Azure Storage emulator) blob service on 127.0.0.1 for the session.

Azurite comes from npm into <repo>/.cache/node (scripts/test installs it). Containers are made
with the emulator's well-known account key, as an administrator would in the portal; the store
itself only ever gets a container SAS token, as a user gives one. Azurite checks SAS
signatures, expiry and permissions as Azure does, so wrong, expired and read-only tokens are
refused for real.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mm_engine.storage.base import Store
from mm_engine.storage.registry import open_store
from tests.stores.net import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / ".cache" / "node" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same on every installation; not a secret)
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
WRONG_KEY = ACCOUNT_KEY[:10] + ACCOUNT_KEY[10:20][::-1] + ACCOUNT_KEY[20:]
FOLDER = "archive/calls"  # every test store keeps its blobs under this parent folder
ALL = "racwdl"  # read, add, create, write, delete, list


@dataclass
class Azurite:
    port: int
    location: Path
    proc: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def service(self) -> Any:
        """A plain SDK client with the account key, as an administrator would use one."""
        from azure.storage.blob import BlobServiceClient

        key = {"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}
        return BlobServiceClient(self.endpoint, credential=key)

    def new_container(self) -> str:
        name = f"mm-test-{uuid.uuid4().hex[:12]}"
        self.service().create_container(name)
        return name

    def settings(self, container: str, sas: str, folder: str = FOLDER) -> dict[str, str]:
        return {
            "account": ACCOUNT,
            "container": container,
            "folder": folder,
            "sas_token": sas,
            "endpoint": self.endpoint,
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.location, ignore_errors=True)


def container_sas(
    container: str,
    permission: str = ALL,
    expires_in: timedelta = timedelta(hours=2),
    key: str = ACCOUNT_KEY,
) -> str:
    """A container SAS token as the portal makes one ('sv=...&sig=...', no leading '?')."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    now = datetime.now(UTC)
    return str(
        generate_container_sas(
            ACCOUNT,
            container,
            account_key=key,
            permission=ContainerSasPermissions.from_string(permission),
            start=now - timedelta(minutes=10),
            expiry=now + expires_in,
        )
    )


def start_azurite() -> Azurite:
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} is missing: run ./scripts/test once to install Azurite")
    port = free_port()
    location = Path(tempfile.mkdtemp(prefix="mm-azurite-"))
    with open(location / "azurite.out", "wb") as out:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            [
                str(AZURITE),
                *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
                *("--location", str(location)),
                *("--skipApiVersionCheck", "--loose", "--disableTelemetry"),
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
        said = (location / "azurite.out").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Azurite did not start: {exc}\n{said}") from exc
    return Azurite(port, location, proc)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def azure_store(azurite: Azurite) -> Store:
    """A fresh container of its own and a token with every permission the connector needs."""
    container = azurite.new_container()
    return open_store("azure", azurite.settings(container, container_sas(container)), "azure")


@pytest.fixture
def azure_denied_store(azurite: Azurite) -> Store:
    """A real container, and a token signed with the wrong key (as if mistyped or revoked)."""
    container = azurite.new_container()
    sas = container_sas(container, key=WRONG_KEY)
    return open_store("azure", azurite.settings(container, sas), "azure")


@pytest.fixture
def azure_unreachable_store() -> Store:
    endpoint = f"http://127.0.0.1:{free_port()}/{ACCOUNT}"  # nothing listens there
    settings = {
        "account": ACCOUNT,
        "container": "recordings",
        "sas_token": container_sas("recordings"),
        "endpoint": endpoint,
    }
    return open_store("azure", settings, "azure")
