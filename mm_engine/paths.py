"""Where mm keeps its files: one data directory, laid out as DESIGN.md section 7 says."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVER_DATA_DIR = Path("/var/lib/mm")
SERVER_HANDOVER_FOLDER = Path("/opt/vmpro/MM/VRL")


def is_server_install() -> bool:
    """Running as root means a server install: system-wide paths, as the seed's product uses."""
    return os.geteuid() == 0


def default_data_dir() -> Path:
    env = os.environ.get("MM_HOME")
    if env:
        return Path(env).expanduser().resolve()
    if is_server_install():
        return SERVER_DATA_DIR
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "mm"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, home: Path | str | None = None) -> DataDir:
        root = Path(home).expanduser().resolve() if home else default_data_dir()
        return cls(root)

    @property
    def db(self) -> Path:
        return self.root / "mm.db"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def lock(self) -> Path:
        return self.root / "engine.lock"

    @property
    def default_handover(self) -> Path:
        return SERVER_HANDOVER_FOLDER if is_server_install() else self.root / "handover"

    @property
    def default_call_storage(self) -> Path:
        return self.root / "recordings"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.quarantine.mkdir(exist_ok=True)
        self.keys.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.keys, 0o700)
