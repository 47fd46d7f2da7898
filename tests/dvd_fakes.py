"""A scripted udev event source for the DVD drive monitor.

There is no udev daemon and no optical drive or DVD hardware in this container: pyudev can list
devices and open a netlink monitor, but no disc will ever be inserted. So the tests script the
events instead: :class:`ScriptedUdev` plays the part of ``pyudev.MonitorObserver`` (a background
thread handing each event to the monitor, one at a time) and builds events with the same
properties udev's ``cdrom_id`` sets on a real drive (``ID_CDROM``, ``ID_CDROM_MEDIA``,
``ID_CDROM_MEDIA_DVD_PLUS_RW``, ``ID_CDROM_MEDIA_STATE``, ``DISK_MEDIA_CHANGE``,
``DISK_EJECT_REQUEST``, ...). What the disc holds comes from real xorriso runs on image files.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from mm_engine.dvd.drives import RawHandler


def drive_properties(node: str = "/dev/sr0") -> dict[str, str]:
    """A DVD writer with no disc in it, as udev describes one."""
    return {
        "DEVNAME": node,
        "DEVTYPE": "disk",
        "SUBSYSTEM": "block",
        "ID_CDROM": "1",
        "ID_CDROM_DVD_PLUS_RW": "1",
        "ID_MODEL": "DVD-RW_DRU-880S",
        "ID_VENDOR": "SONY",
    }


class ScriptedUdev:
    """An EventSource whose events the test sends: insert, eject, the eject button, a drive
    plugged in or out, or any raw event."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # EventSource
    def start(self, handler: RawHandler) -> None:
        def run() -> None:
            while True:
                item = self._queue.get()
                try:
                    if item is None:  # stop
                        return
                    handler(*item)
                finally:
                    self._queue.task_done()

        self._thread = threading.Thread(target=run, name="scripted-udev", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    # the script
    def send(self, action: str, props: Mapping[str, str]) -> None:
        self._queue.put((action, dict(props)))

    def wait(self) -> None:
        """Return once every event sent so far has been handled."""
        self._queue.join()

    def attach(self, node: str = "/dev/sr0") -> None:
        self.send("add", drive_properties(node))

    def detach(self, node: str = "/dev/sr0") -> None:
        self.send("remove", drive_properties(node))

    def insert(
        self,
        node: str = "/dev/sr0",
        *,
        media: str = "DVD_PLUS_RW",
        state: str = "blank",
        label: str | None = None,
        sessions: int = 0,
    ) -> None:
        props = drive_properties(node)
        props.update(
            {
                "DISK_MEDIA_CHANGE": "1",
                "ID_CDROM_MEDIA": "1",
                f"ID_CDROM_MEDIA_{media}": "1",
                "ID_CDROM_MEDIA_STATE": state,
                "ID_CDROM_MEDIA_SESSION_COUNT": str(sessions),
            }
        )
        if label:
            props["ID_FS_LABEL"] = label
        self.send("change", props)

    def eject(self, node: str = "/dev/sr0") -> None:
        props = drive_properties(node)
        props["DISK_MEDIA_CHANGE"] = "1"
        self.send("change", props)

    def press_eject_button(self, node: str = "/dev/sr0") -> None:
        props = drive_properties(node)
        props["DISK_EJECT_REQUEST"] = "1"
        self.send("change", props)


# -- failures only hardware produces ------------------------------------------------------------

_STAND_IN = """#!{python}
# The real xorriso, except for the run that writes a session (it has -commit): {what}
import os, sys
args = sys.argv[1:]
if "-commit" in args:
    at = args.index("-dev") + 1
    image = args[at][len("stdio:"):]
    if {mode!r} == "write-error":
        args[at] = "stdio:/dev/full"
    elif {mode!r} == "pull-disc" and os.path.exists(image):
        os.rename(image, image + ".pulled")
os.execvp("xorriso", ["xorriso", *args])
"""

MODES = {
    "write-error": "the drive's writes fail (they go to /dev/full: real libburn write errors)",
    "pull-disc": "the disc is taken out as the burn starts (the image moves to <image>.pulled)",
}


def xorriso_stand_in(folder: Path, mode: str) -> Path:
    """A program to use instead of xorriso: it runs the real one, but the run that writes a
    session meets a failure only hardware produces (see MODES)."""
    program = folder / f"xorriso-{mode}"
    program.write_text(_STAND_IN.format(python=sys.executable, what=MODES[mode], mode=mode))
    program.chmod(0o755)
    return program
