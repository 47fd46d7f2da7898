"""Watch the handover folder and hand each finished file to the pipeline.

Events (watchdog) make ingest prompt; a periodic full rescan makes it reliable, since events
can be lost (overflow, a folder re-created, files present before start). A file is finished
once its size and mtime, and its sidecar's, have not changed for the settle time.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from mm_engine.ingest.calldetails import sidecar_for
from mm_engine.ingest.pipeline import Result, is_candidate, is_sidecar, recordings_for

log = logging.getLogger(__name__)

MAX_FAILURES = 3
Signature = tuple[int, int, int, int]


@dataclass
class _Pending:
    signature: Signature
    since: float
    failures: int = 0


def _signature(path: Path) -> Signature:
    st = path.stat()
    side = sidecar_for(path)
    if side is not None:
        try:
            sst = side.stat()
            return (st.st_size, st.st_mtime_ns, sst.st_size, sst.st_mtime_ns)
        except FileNotFoundError:
            pass
    return (st.st_size, st.st_mtime_ns, -1, -1)


class _Events(FileSystemEventHandler):
    def __init__(self, sink: queue.Queue[Path], wake: threading.Event) -> None:
        self.sink = sink
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self.sink.put(Path(str(raw)))
        self.wake.set()


class HandoverWatcher:
    def __init__(
        self,
        folder: Callable[[], Path],
        ingest: Callable[[Path], Result],
        settle_seconds: Callable[[], float],
        rescan_seconds: Callable[[], float],
        on_failure: Callable[[Path, BaseException, bool], None],
        sweep_sidecar: Callable[[Path, float], None] | None = None,
    ) -> None:
        self._sweep_sidecar = sweep_sidecar
        self._folder = folder
        self._ingest = ingest
        self._settle = settle_seconds
        self._rescan = rescan_seconds
        self._on_failure = on_failure
        self._events: queue.Queue[Path] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: dict[Path, _Pending] = {}
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._watched: Path | None = None
        self._thread: threading.Thread | None = None
        self.processed = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mm-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join()
        self._unwatch()

    def _watch(self, folder: Path) -> None:
        self._unwatch()
        folder.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Events(self._events, self._wake), str(folder), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer, self._watched = observer, folder

    def _unwatch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            folder = self._folder()
            if folder != self._watched:
                try:
                    self._watch(folder)
                except OSError as exc:
                    self._on_failure(folder, exc, False)
                    self._stop.wait(5)
                    continue
                self._pending.clear()
                next_scan = 0.0
            if now >= next_scan:
                self._scan(folder)
                next_scan = now + self._rescan()
            self._drain_events(folder)
            ready = self._ready(time.monotonic())
            for path in ready:
                if self._stop.is_set():
                    break
                self._process(path)
            self._wake.clear()
            if not ready:
                self._wake.wait(min(0.5, max(0.05, self._settle() / 4)))

    def _scan(self, folder: Path) -> None:
        try:
            for entry in folder.iterdir():
                if is_sidecar(entry) and self._sweep_sidecar is not None:
                    with contextlib.suppress(OSError):
                        self._sweep_sidecar(entry, time.time())
                else:
                    self._track(entry)
        except OSError as exc:
            log.warning("cannot list handover folder %s: %s", folder, exc)

    def _drain_events(self, folder: Path) -> None:
        while True:
            try:
                path = self._events.get_nowait()
            except queue.Empty:
                return
            if path.parent != folder:
                continue
            # a sidecar event re-checks its recording, whose settle time it restarts
            for candidate in recordings_for(path) if is_sidecar(path) else [path]:
                self._track(candidate)

    def _track(self, path: Path) -> None:
        if not is_candidate(path) or path in self._pending:
            return
        try:
            if not path.is_file():
                return
            self._pending[path] = _Pending(_signature(path), time.monotonic())
        except OSError:
            return

    def _ready(self, now: float) -> list[Path]:
        settle = self._settle()
        ready: list[tuple[int, Path]] = []
        for path, entry in list(self._pending.items()):
            try:
                sig = _signature(path)
            except FileNotFoundError:
                del self._pending[path]
                continue
            if sig != entry.signature:
                entry.signature, entry.since = sig, now
            elif now - entry.since >= settle:
                ready.append((sig[1], path))
        return [p for _, p in sorted(ready)]

    def _process(self, path: Path) -> None:
        entry = self._pending[path]
        try:
            self._ingest(path)
        except Exception as exc:
            entry.failures += 1
            give_up = entry.failures >= MAX_FAILURES
            log.exception("ingest of %s failed (attempt %d)", path.name, entry.failures)
            self._on_failure(path, exc, give_up)
            if not give_up:
                entry.since = time.monotonic() + 5 * entry.failures  # back off
                return
        self._pending.pop(path, None)
        self.processed += 1
