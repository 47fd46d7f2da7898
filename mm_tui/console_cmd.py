"""Plain `mm`: the console, on an embedded engine unless a service already runs one.

The engine role (ingest and scheduled jobs) belongs to whichever process holds the engine lock.
When nobody does, the console takes it for as long as it runs, so a fresh machine works with
just `mm`; when a service holds it, the console works beside it on the same database.
"""

from __future__ import annotations

import logging

from mm_engine.errors import EngineBusy
from mm_engine.lock import EngineLock
from mm_engine.service import Service
from mm_tui.context import open_engine
from mm_tui.service_cmd import LEVELS


def run_console() -> int:
    with open_engine() as engine:
        # a full-screen app owns the terminal: engine logs go to a file in the data directory
        logging.basicConfig(
            level=LEVELS.get(str(engine.config.get("log_level")), logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            filename=engine.data_dir.root / "console.log",
            force=True,
        )
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("watchdog").setLevel(logging.WARNING)
        from mm_tui.app import MMApp, embedded_status, service_status  # Textual: console only

        embedded = Service(engine)
        service: Service | None = embedded
        status = embedded_status()
        try:
            embedded.start()
        except EngineBusy:
            service = None
            status = service_status(EngineLock(engine.data_dir.lock).holder())

        try:
            MMApp(engine, status, service=service, beside_service=service is None).run()
        finally:
            if service is not None:
                service.stop()
    return 0
