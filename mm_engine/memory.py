"""How the process gets memory for the big buffers that moving recordings needs.

Copying a recording passes it through several 1 MiB buffers at once (the file read, the
protocol message, its signed form...). glibc hands out blocks that big with a fresh ``mmap``
and returns them with ``munmap`` on free, so every buffer's pages are faulted in and zeroed
by the kernel again: measured on an archive run to Samba, 1.2 million page faults per GB
copied, 60 % of the process's CPU, in the kernel. Raising glibc's mmap threshold (and its trim
threshold with it) lets freed buffers be used again from the heap: 2,500 faults per GB and
about 1.5 × the throughput. The heap may then keep up to :data:`TRIM_THRESHOLD` of freed
memory instead of giving it back at once.

Only glibc has ``mallopt``; elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

MMAP_THRESHOLD = 16 << 20  # blocks up to this size come from the heap (an S3 part is 8 MiB)
TRIM_THRESHOLD = 16 << 20  # free heap memory above this goes back to the system
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done: bool | None = None


def reuse_large_buffers() -> bool:
    """Ask glibc to reuse large freed blocks (once per process); True when it agreed."""
    global _done
    if _done is None:
        _done = False
        if sys.platform.startswith("linux"):
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            mallopt.restype = ctypes.c_int
            _done = bool(
                mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            )
    return _done
