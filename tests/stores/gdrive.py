"""Google Drive stores for the conformance suite, against a local double of Google's API.

Google Drive cannot run locally: Google provides no Drive server or emulator, so unlike the other
remote types this one is tested against tests/drive_double.py, an in-memory HTTP double of the
Drive v3 and OAuth endpoints the backend uses, started on 127.0.0.1 for the test session. The
backend talks real HTTP to it, exactly as it would to www.googleapis.com.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mm_engine.storage.base import Store
from mm_engine.storage.registry import open_store
from tests.drive_double import DriveDouble
from tests.stores.net import free_port


@pytest.fixture(scope="session")
def drive_double() -> Iterator[DriveDouble]:
    double = DriveDouble().start()
    try:
        yield double
    finally:
        double.stop()


def _folder() -> str:
    return f"mm-tests/{uuid.uuid4().hex[:12]}/archive"


@pytest.fixture
def gdrive_store(drive_double: DriveDouble) -> Store:
    """A fresh parent folder in the double's My Drive."""
    return open_store("gdrive", drive_double.settings(_folder()), "gdrive")


@pytest.fixture
def gdrive_denied_store(drive_double: DriveDouble) -> Store:
    """A refresh token Google no longer accepts (revoked, or from another client)."""
    settings = drive_double.settings(_folder(), refresh_token="1//revoked-refresh-token")
    return open_store("gdrive", settings, "gdrive-denied")


@pytest.fixture
def gdrive_unreachable_store() -> Store:
    """Drive and the token endpoint at a port where nothing listens."""
    base = f"http://127.0.0.1:{free_port()}"
    settings = {
        "client_id": DriveDouble.CLIENT_ID,
        "client_secret": DriveDouble.CLIENT_SECRET,
        "refresh_token": DriveDouble.REFRESH_TOKEN,
        "folder": "mm/archive",
        "api_base": base,
        "token_url": f"{base}/token",
    }
    return open_store("gdrive", settings, "gdrive-unreachable")
