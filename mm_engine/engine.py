"""The engine: one object that opens the data directory and holds one service per area.

Front ends create an Engine, call its services, and close it. Running ingest and the scheduler
(the engine *role*) is a separate step, :mod:`mm_engine.service`, that takes the engine lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

from mm_engine.alarms import Alarms
from mm_engine.archiving import Archiver
from mm_engine.audit import Audit
from mm_engine.catalogue import Catalogue
from mm_engine.config import Config
from mm_engine.connectors import ACTIVE_KEY, Connectors
from mm_engine.db import Database
from mm_engine.dvd.archive import DvdArchive
from mm_engine.mailer import Mail
from mm_engine.memory import reuse_large_buffers
from mm_engine.paths import DataDir
from mm_engine.primary_storage import TYPE_KEY, PrimaryStorage, PrimaryStore
from mm_engine.signing import Signer
from mm_engine.storage_move import StorageMigration, refuse_path_change_with_recordings
from mm_engine.users import Users


class Engine:
    def __init__(self, home: Path | str | None = None) -> None:
        reuse_large_buffers()
        self.data_dir = DataDir.resolve(home)
        self.data_dir.ensure()
        self.db = Database(self.data_dir.db)
        self.alarms = Alarms(self.db)
        self.config = Config(self.db, self.data_dir, self.alarms)
        self.config.seal_stored_secrets()
        self.mail = Mail(self.config)
        self.signer = Signer(self.data_dir.keys)
        self.catalogue = Catalogue(self.db, self.signer, self.store)
        self.audit = Audit(self.db, self.config)
        self.users = Users(self.db, self.audit, self.alarms)
        self.config.guard("call_storage_path", refuse_path_change_with_recordings)
        self.connectors = Connectors(self.db, self.config, self.alarms, self.data_dir.keys)
        self.config.guard(ACTIVE_KEY, self.connectors.guard_active)
        self.primary = PrimaryStorage(
            self.db, self.config, self.connectors, self.alarms, self.data_dir.root / "spool"
        )
        self.config.guard(TYPE_KEY, self.primary.guard_type)
        self.config.guard(ACTIVE_KEY, self.primary.guard_active)
        self.storage_move = StorageMigration(self.db, self.config, self.primary, self.catalogue)
        self.catalogue.remote = self.connectors.open_archived
        self.archiver = Archiver(self.db, self.connectors, self.catalogue, self.alarms)
        self.dvd = DvdArchive(
            self.db,
            self.connectors,
            self.catalogue,
            self.alarms,
            self.data_dir.root / "spool" / "dvd",
            self.data_dir.keys,
        )
        self.connectors.dvd = self.dvd
        self.archiver.dvd = self.dvd
        self.maintenance = threading.RLock()
        """Held by a job that needs the call storage to itself (a storage migration, a catalogue
        rebuild); a service in this process holds it to ingest or apply retention, so those
        wait meanwhile and the files they would handle stay in the handover folder."""

    def store(self) -> PrimaryStore:
        """The call storage as configured now (local or hosted; it can change while we run)."""
        return self.primary.store()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
