"""Inputs that cannot be ingested are moved aside with a reason, never deleted."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path


def quarantine(files: list[Path], folder: Path, reason: str) -> Path:
    """Move ``files`` (a recording and its sidecar) to ``folder``; returns the recording's new path.

    The ``.reason`` file is written first, so a crash leaves either the untouched input (it is
    tried again) or a quarantined file that explains itself.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    main = files[0]
    dest_main = folder / f"{stamp}-{main.name}"
    reason_file = dest_main.with_name(dest_main.name + ".reason")
    reason_file.write_text(
        f"file: {main}\ntime: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"reason: {reason}\n",
        encoding="utf-8",
    )
    for src in files:
        if src.exists():
            shutil.move(src, folder / f"{stamp}-{src.name}")
    return dest_main
