"""The engine role: ingest, scheduled jobs and queued jobs (mm_engine/job_queue.py), run by
`mm --no-ui` or an embedded console."""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from mm_engine.alarms import AlarmType
from mm_engine.engine import Engine
from mm_engine.ingest.pipeline import Pipeline, Result
from mm_engine.ingest.quarantine import quarantine
from mm_engine.ingest.watcher import HandoverWatcher
from mm_engine.job_queue import JobRunner
from mm_engine.lock import EngineLock
from mm_engine.mailer import MailSender
from mm_engine.retention import Retention
from mm_engine.text import msg

log = logging.getLogger(__name__)

SPACE_CHECK_SECONDS = 60
BUSY_RETRY_SECONDS = 10  # a disc went in while a scheduled archive run held the lease


class Service:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = EngineLock(engine.data_dir.lock)
        self.retention = Retention(engine.config, engine.catalogue, engine.alarms, engine.store)
        self.watcher = HandoverWatcher(
            folder=lambda: engine.config.path("handover_folder"),
            ingest=self.ingest,
            settle_seconds=lambda: float(engine.config.get("ingest_settle_seconds")),
            rescan_seconds=lambda: float(engine.config.get("ingest_rescan_seconds")),
            on_failure=self._ingest_failed,
            sweep_sidecar=lambda path, now: self.pipeline().sweep_sidecar(path, now),
        )
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.mail_sender = MailSender(engine.db, engine.mail, engine.alarms)
        self.jobs = JobRunner(engine)
        self._started = False

    def pipeline(self) -> Pipeline:
        e = self.engine
        return Pipeline(e.db, e.alarms, e.signer, e.store(), e.data_dir.quarantine)

    def ingest(self, path: Path) -> Result:
        with self.engine.maintenance:  # a storage migration running meanwhile: wait for it
            self.retention.ensure_free_space()
            return self.pipeline().ingest(path)

    def _after_maintenance(self, job: Callable[[], object]) -> Callable[[], object]:
        """A scheduled job that changes the call storage waits for a migration to finish."""

        @functools.wraps(job)
        def run() -> object:
            with self.engine.maintenance:
                return job()

        return run

    def _ingest_failed(self, path: Path, exc: BaseException, give_up: bool) -> None:
        alarms = self.engine.alarms
        alarms.raise_(
            AlarmType.INTERNAL_SERVICE_ERROR,
            action="run",
            service="ingest",
            reason=f"{path.name}: {exc}",
            dedupe=f"ingest:{path.name}",
        )
        if give_up and path.exists():
            quarantine(
                [path], self.engine.data_dir.quarantine, msg("ingest failed: {error}", error=exc)
            )

    def _now(self) -> str:
        return datetime.now().astimezone().isoformat(timespec="seconds")

    def start(self) -> None:
        self.lock.acquire()
        try:
            engine = self.engine
            self.mail_sender.start()
            stale = engine.store().remove_stale_temps()
            if stale:
                log.info("removed %d partial files left by an interrupted ingest", stale)
            engine.config.check_storage_location()
            engine.alarms.raise_(
                AlarmType.SYSTEM_RESTART,
                event="started",
                time=self._now(),
                dedupe=f"start:{time.time_ns()}",
            )
            engine.archiver.stopping.clear()
            for job_id, job, trigger in self._scheduled_jobs():
                self.scheduler.add_job(self._safe(job), id=job_id, coalesce=True, **trigger)
            self.scheduler.start()
            self.watcher.start()
            self.jobs.start()
            engine.dvd.watch(self._disc_inserted)  # udev events, no polling (F16)
            self._started = True
            log.info(
                "engine started on %s, watching %s",
                engine.data_dir.root,
                engine.config.path("handover_folder"),
            )
        except BaseException:
            self.jobs.stop()
            self.mail_sender.stop()
            self.lock.release()
            raise

    def _scheduled_jobs(self) -> list[tuple[str, Callable[[], object], dict[str, Any]]]:
        """What the engine role runs on its own: (id, job, APScheduler trigger)."""
        return [
            (
                "retention",
                self._after_maintenance(self.retention.apply_days_to_keep),
                {"trigger": "cron", "hour": 2, "minute": 30},
            ),
            ("audit-prune", self.engine.audit.prune, {"trigger": "cron", "hour": 2, "minute": 45}),
            (
                "disk-space",
                self._after_maintenance(self.retention.ensure_free_space),
                {"trigger": "interval", "seconds": SPACE_CHECK_SECONDS},
            ),
            (
                "archive",
                self.engine.archiver.run_once,
                {
                    "trigger": "interval",
                    "minutes": int(self.engine.config.get("archive_interval_minutes")),
                },
            ),
        ]

    def _disc_inserted(self) -> None:
        """A disc went into the active DVD connector's drive: archive now, so what was recorded
        while the discs were swapped goes onto the new one (F16)."""
        self._archive_soon(0)

    def _archive_soon(self, seconds: float) -> None:
        run_at = datetime.now(UTC) + timedelta(seconds=seconds)
        with contextlib.suppress(SchedulerNotRunningError):  # the service is stopping
            self.scheduler.add_job(
                self._safe(self._archive_now),
                "date",
                run_date=run_at,
                id="archive-now",
                replace_existing=True,
            )

    def _archive_now(self) -> None:
        if self.engine.archiver.run_once().status == "busy":
            self._archive_soon(BUSY_RETRY_SECONDS)

    def _safe(self, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except Exception as exc:
                log.exception("scheduled job failed")
                self.engine.alarms.raise_(
                    AlarmType.INTERNAL_SERVICE_ERROR,
                    action="run",
                    service=getattr(job, "__name__", "job"),
                    reason=exc,
                )

        return run

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.engine.dvd.unwatch()
        self.engine.archiver.stopping.set()  # a long archive run ends after its current file
        self.jobs.stop()  # a queued job too, so ingest waiting for a migration is let go
        self.watcher.stop()
        self.scheduler.shutdown(wait=True)
        self.engine.alarms.raise_(
            AlarmType.SYSTEM_RESTART,
            event="shutdown",
            time=self._now(),
            dedupe=f"stop:{time.time_ns()}",
        )
        self.mail_sender.stop()  # sends the shutdown mail if the server answers within seconds
        self.lock.release()
        log.info("engine stopped")

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT; the current file finishes or is retried next start."""
        stop = threading.Event()

        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
