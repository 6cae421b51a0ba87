"""Give the memory of evicted brands back to the operating system.

A worker evicts idle brands in bulk (``Monitor.evict_idle``): thousands of small objects freed at
once. glibc's allocator keeps such freed pages mapped in the middle of its heap, so RSS stays at
the high-water mark of the busiest interval (measured: 100,000 brands made idle in waves of
10,000 left RSS 100 MiB higher without trimming; 1.18 vs 0.75 KiB per idle brand). ``malloc_trim``
returns them (~15 ms on a 400 MiB heap), so it runs only after many evictions, and not often:
at the commit after them, when what the eviction's commit itself allocated is freed too.
Where libc has no ``malloc_trim`` (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable


def _libc_malloc_trim() -> Callable[[], object] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return lambda: trim(0)


class HeapTrimmer:
    """``maybe_trim`` calls ``malloc_trim`` once ``every`` brands were evicted since the last trim
    and ``min_interval_s`` have passed."""

    def __init__(self, every: int = 1000, min_interval_s: float = 10.0,
                 trim: Callable[[], object] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.min_interval_s = min_interval_s
        self.trim = trim if trim is not None else _libc_malloc_trim()
        self.clock = clock
        self._evicted = 0
        self._last = float("-inf")
        self.trims = 0

    def evicted(self, n: int) -> None:
        self._evicted += n

    def maybe_trim(self) -> bool:
        """True if it trimmed."""
        now = self.clock()
        if self.trim is None or self._evicted < self.every or now - self._last < self.min_interval_s:
            return False
        self.trim()
        self._evicted, self._last = 0, now
        self.trims += 1
        return True
