"""Optical drives and their media, found and followed through udev (pyudev).

udev's ``cdrom_id`` tags every optical drive (``ID_CDROM=1``) and describes the medium in it
(``ID_CDROM_MEDIA=1``, ``ID_CDROM_MEDIA_DVD_PLUS_RW=1``, ``ID_CDROM_MEDIA_STATE``, ...). Inserting
or removing a disc makes the kernel send a ``change`` event with ``DISK_MEDIA_CHANGE=1``; pressing
the eject button sends ``DISK_EJECT_REQUEST=1``. :class:`DriveMonitor` follows those events as
they come (a pyudev ``MonitorObserver`` thread blocked on the netlink socket: no polling loop)
and tells its callback what changed, with the medium as xorriso sees it when a ``probe`` is
given. udev's own media state is only a hint: for a DVD+RW holding an ISO image ``cdrom_id``
says "complete" although xorriso can still append to it, so decisions use the probe.

The event source is injectable (:class:`EventSource`): tests drive the monitor with scripted
events, because a container has no udev daemon and no optical hardware.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from mm_engine.dvd.xorriso import MediaInfo

log = logging.getLogger(__name__)

# ID_CDROM_MEDIA_* keys that are not a media type
_NOT_A_TYPE = ("STATE", "SESSION", "TRACK")


@dataclass(frozen=True)
class OpticalDrive:
    """An optical drive and the disc in it, as udev describes them."""

    node: str  # /dev/sr0
    model: str
    media: bool  # a disc is in the drive
    media_type: str | None  # "DVD_PLUS_RW", "DVD_R", "CD_RW", ... (udev's names)
    state: str | None  # udev's hint: "blank", "appendable", "complete", "other"
    sessions: int | None
    label: str | None  # the volume id of the newest session (ID_FS_LABEL)
    writes_dvd_plus_rw: bool  # the drive can write DVD+RW

    @property
    def dvd_plus_rw(self) -> bool:
        return self.media_type == "DVD_PLUS_RW"

    def to_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "model": self.model,
            "media": self.media,
            "media_type": self.media_type,
            "state": self.state,
            "sessions": self.sessions,
            "label": self.label,
            "writes_dvd_plus_rw": self.writes_dvd_plus_rw,
        }


def drive_from_properties(props: Mapping[str, str]) -> OpticalDrive | None:
    """The drive a udev device describes, or None when it is not an optical drive."""
    if props.get("ID_CDROM") != "1" or props.get("DEVTYPE", "disk") != "disk":
        return None
    media = props.get("ID_CDROM_MEDIA") == "1"
    media_type = None
    if media:
        for key, value in sorted(props.items()):
            suffix = key[len("ID_CDROM_MEDIA_") :]
            if (
                key.startswith("ID_CDROM_MEDIA_")
                and value == "1"
                and not suffix.startswith(_NOT_A_TYPE)
            ):
                media_type = suffix
                break
    sessions = props.get("ID_CDROM_MEDIA_SESSION_COUNT")
    model = props.get("ID_MODEL", "").replace("_", " ").strip()
    return OpticalDrive(
        node=props.get("DEVNAME", ""),
        model=model or props.get("ID_VENDOR", "") or "optical drive",
        media=media,
        media_type=media_type,
        state=props.get("ID_CDROM_MEDIA_STATE") if media else None,
        sessions=int(sessions) if media and sessions and sessions.isdigit() else None,
        label=(props.get("ID_FS_LABEL") or None) if media else None,
        writes_dvd_plus_rw=props.get("ID_CDROM_DVD_PLUS_RW") == "1",
    )


def list_drives(context: Any = None) -> list[OpticalDrive]:
    """Every optical drive udev knows, with its medium (empty without udev or drives)."""
    import pyudev

    ctx = context if context is not None else pyudev.Context()
    found = []
    for device in ctx.list_devices(subsystem="block", DEVTYPE="disk", ID_CDROM="1"):
        drive = drive_from_properties(dict(device.properties))
        if drive is not None:
            found.append(drive)
    return sorted(found, key=lambda d: d.node)


# -- live events ------------------------------------------------------------------------------

RawHandler = Callable[[str, Mapping[str, str]], None]
"""Called with a udev action ("add", "remove", "change") and the device's properties."""


class EventSource(Protocol):
    """Where device events come from: pyudev's monitor, or a script in tests."""

    def start(self, handler: RawHandler) -> None:
        """Begin delivering events to ``handler`` on a background thread."""

    def stop(self) -> None:
        """Stop delivering; returns once the handler is no longer running."""


class UdevEventSource:
    """Block-device events from the kernel through udev: a ``pyudev.MonitorObserver`` thread
    that sleeps on the netlink socket until an event arrives."""

    def __init__(self, context: Any = None) -> None:
        self.context = context
        self._observer: Any = None

    def start(self, handler: RawHandler) -> None:
        import pyudev

        if self._observer is not None:
            raise RuntimeError("the udev event source is already started")
        ctx = self.context if self.context is not None else pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(ctx)
        monitor.filter_by("block", device_type="disk")

        def deliver(device: Any) -> None:
            handler(str(device.action or ""), dict(device.properties))

        self._observer = pyudev.MonitorObserver(monitor, callback=deliver, name="mm-dvd-udev")
        self._observer.start()

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()


class Change(StrEnum):
    DRIVE_ADDED = "drive_added"
    DRIVE_REMOVED = "drive_removed"
    INSERTED = "inserted"  # a disc went in
    EJECTED = "ejected"  # the disc came out
    EJECT_REQUESTED = "eject_requested"  # the drive's button was pressed
    CHANGED = "changed"  # something else about the drive or disc changed


@dataclass(frozen=True)
class DriveEvent:
    change: Change
    node: str
    drive: OpticalDrive | None  # what udev says now (None once the drive is gone)
    media: MediaInfo | None = None  # what the probe (xorriso) says, after an insert
    problem: str | None = None  # why the probe failed, when it did


Probe = Callable[[str], MediaInfo]


class DriveMonitor:
    """Follows optical drives and discs live and calls ``on_event`` for each change.

    ``source`` defaults to :class:`UdevEventSource`. ``probe`` (e.g. ``lambda node:
    Xorriso(node).media_info()``) is run when a disc goes in, so the event carries the medium's
    real state (blank / appendable, DVD+RW or not, free space). ``nodes`` limits the monitor to
    those drives. ``on_event`` runs on the event thread: keep it short and thread-safe; an
    exception in it is logged and does not stop the monitor.
    """

    def __init__(
        self,
        on_event: Callable[[DriveEvent], None],
        source: EventSource | None = None,
        *,
        probe: Probe | None = None,
        nodes: Collection[str] | None = None,
        initial: Collection[OpticalDrive] = (),
    ) -> None:
        self.on_event = on_event
        self.source: EventSource = source if source is not None else UdevEventSource()
        self.probe = probe
        self.nodes = set(nodes) if nodes is not None else None
        self._lock = threading.Lock()
        self._drives: dict[str, OpticalDrive] = {d.node: d for d in initial}
        self._running = False

    def __enter__(self) -> DriveMonitor:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self._running:
            self.source.start(self._handle)
            self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.source.stop()

    def drives(self) -> dict[str, OpticalDrive]:
        """The drives seen so far (from ``initial`` and events), by device node."""
        with self._lock:
            return dict(self._drives)

    def _classify(self, action: str, node: str, drive: OpticalDrive | None) -> Change | None:
        before = self._drives.get(node)
        if action == "remove":
            return Change.DRIVE_REMOVED if before is not None or drive is not None else None
        if drive is None:
            return None
        if action == "add":
            return Change.DRIVE_ADDED
        if action != "change":
            return None
        if drive.media and (before is None or not before.media):
            return Change.INSERTED
        if not drive.media and before is not None and before.media:
            return Change.EJECTED
        return Change.CHANGED

    def _handle(self, action: str, props: Mapping[str, str]) -> None:
        node = props.get("DEVNAME", "")
        if not node or (self.nodes is not None and node not in self.nodes):
            return
        drive = drive_from_properties(props)
        with self._lock:
            if props.get("DISK_EJECT_REQUEST") == "1" and drive is not None:
                change: Change | None = Change.EJECT_REQUESTED
            else:
                change = self._classify(action, node, drive)
            if change is None:
                return
            if change is Change.DRIVE_REMOVED:
                self._drives.pop(node, None)
                drive = None
            elif change is not Change.EJECT_REQUESTED and drive is not None:
                self._drives[node] = drive
        media: MediaInfo | None = None
        problem: str | None = None
        wants_probe = change is Change.INSERTED or (
            change in (Change.DRIVE_ADDED, Change.CHANGED) and drive is not None and drive.media
        )
        if wants_probe and self.probe is not None:
            try:
                media = self.probe(node)
            except Exception as exc:  # the disc may be unreadable: say so in the event
                problem = str(exc)
        try:
            self.on_event(DriveEvent(change, node, drive, media, problem))
        except Exception:
            log.exception("the DVD drive event handler failed on %s %s", change, node)
