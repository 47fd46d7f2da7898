"""The smb storage type against a real Samba smbd on 127.0.0.1 (the server: tests/stores/samba.py).

Stores are opened the way a connector is (``open_store`` with the user's settings), each on a
fresh sub-folder of the share, and their connections are closed when the test ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from mm_engine.storage.registry import open_store
from mm_engine.storage.smb import SMBStore
from tests.stores.net import free_port
from tests.stores.samba import Samba

OpenSMB = Callable[..., SMBStore]


def settings_for(server: Samba, folder: str = "", **overrides: str) -> dict[str, str]:
    path = f"127.0.0.1/{server.share}" + (f"/{folder}" if folder else "")
    settings = {
        "path": path,
        "username": server.user,
        "password": server.password,
        "port": str(server.port),
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def open_smb() -> Iterator[OpenSMB]:
    """Opens SMB stores from settings, as a connector would; all are closed afterwards."""
    opened: list[SMBStore] = []

    def open_(settings: dict[str, str]) -> SMBStore:
        store = open_store("smb", settings, "nas")
        assert isinstance(store, SMBStore)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def smb_store(samba: Samba, open_smb: OpenSMB) -> SMBStore:
    return open_smb(settings_for(samba, f"archive-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def smb_denied_store(samba: Samba, open_smb: OpenSMB) -> SMBStore:
    return open_smb(settings_for(samba, "archive", password="not-the-password"))


@pytest.fixture
def smb_unreachable_store(samba: Samba, open_smb: OpenSMB) -> SMBStore:
    return open_smb(settings_for(samba, "archive", port=str(free_port())))
