"""The worker process's memory allocator settings."""
from __future__ import annotations

import ctypes
import functools
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default


@functools.cache  # once per process: the setting is the process's
def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> None:
    """Serve large buffers (frames, crops) from the OS and hand them back when freed. glibc otherwise raises its
    mmap threshold after the first large free and serves later frames from heaps that two threads fragment,
    so a long job's memory creeps up with the footage's length (docs/reliability.md)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, size)
        except (OSError, AttributeError):  # not glibc: its allocator decides
            pass
