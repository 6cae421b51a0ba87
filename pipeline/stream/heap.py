"""Give the memory of evicted brands back to the operating system.

A worker evicts idle brands in bulk (``Monitor.evict_idle``): thousands of small objects freed at
once. What is left alive per idle brand is small (~0.3 KiB: RocksDB's memtables and index), but
the memory of the busiest interval stays mapped unless something gives it back (issue #7,
measured on 100,000 brands made idle in waves of 10,000, `make bench BENCH_ARGS=--memory-only`):

* Python's own small-object allocator (pymalloc) holds objects of up to 512 bytes in 1 MiB arenas
  and returns an arena only once *every* object in it is free. A wave of 10,000 active brands
  (~20-40 KiB each) fills a few hundred arenas, and the few long-lived objects allocated meanwhile
  pin nearly all of them: 430 arenas (450 MB) held 89 MB of live objects - the same 89 MB as the
  idle worker - at 100,000 brands. Nothing can trim that. ``use_system_malloc`` makes the worker
  run with ``PYTHONMALLOC=malloc``, so every object comes from glibc, whose free pages can be.
* glibc keeps freed pages mapped in the middle of its heap; ``malloc_trim`` returns them. It runs
  only after many evictions, at most every ``min_interval_s``: at the end of the commit that
  evicted them, once its writes are acknowledged, and once more ``min_interval_s`` later for what
  was still held then (produce buffers, the fetch under way: 450-470 MiB at 100,000 brands without
  this second trim, 370-380 with it); 20 ms on a 360 MiB heap, 50-180 ms on 600-900 MiB. It used
  to wait for the next commit, which under load came >10 s later (commits ran 7-10 s): whether a
  reading caught the memory given back or not was the run-to-run drift of the memory figure (475
  to 1,100 MiB for the same code).

Both together: 100,000 idle brands ~380 MiB instead of 550-1,100. Where libc has no
``malloc_trim`` (musl, macOS) the trimmer does nothing. Where mimalloc is installed the worker
preloads it instead of running on glibc's allocator (``use_system_malloc``): cheaper for small
objects (the production path 18% faster), and with ``MIMALLOC_ENV`` it gives free pages back at once
(~390 MiB at 100,000 idle brands, the same). ``malloc_trim`` then has little left to do.

The same heap costs latency: CPython's cyclic garbage collector stops the worker to scan every
container object of its oldest generation, and after start-up that holds ~125,000 objects of
Faust, aiokafka, the scorer and their imports that never die. Measured at 6,000 mentions/s live
(timed with a ``gc.callbacks`` hook): a full collection every ~2 s taking 180-330 ms, the largest
term of the p99 latency. ``tune_gc`` freezes what start-up allocated (never scanned again) and
lets 50,000 net allocations, not 700, start a young collection: collections over 2 ms went from
~90 to ~7 a run, and the full ones left are the explicit ``gc.collect()`` of Faust's RocksDB store
at a rebalance (60-70 ms).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Environment the worker re-executes itself with, unless already set (an operator's choice wins).
SYSTEM_MALLOC_ENV = {"PYTHONMALLOC": "malloc"}

#: mimalloc's options for a worker: free pages go back to the OS at once. mimalloc 2.0 reads the
#: RESET names, 2.1 and later the PURGE ones. With a 100 ms delay instead, 100,000 idle brands
#: held 575 MiB; with mimalloc's defaults, 641 MiB.
MIMALLOC_ENV = {"MIMALLOC_RESET_DELAY": "0", "MIMALLOC_PAGE_RESET": "1", "MIMALLOC_RESET_DECOMMITS": "1",
                "MIMALLOC_PURGE_DELAY": "0", "MIMALLOC_PURGE_DECOMMITS": "1"}


def find_mimalloc(environ: dict[str, str] | os._Environ[str] | None = None) -> str | None:
    """The mimalloc library to preload: ``BUZZWATCH_MIMALLOC`` if set (a path or name; ``0`` for
    none), else the system's (Debian: ``libmimalloc2.0``), else None."""
    env = os.environ if environ is None else environ
    chosen = env.get("BUZZWATCH_MIMALLOC")
    if chosen is not None:
        return None if chosen in ("", "0") else chosen
    return ctypes.util.find_library("mimalloc")


def use_system_malloc(environ: dict[str, str] | None = None,
                      execv: Callable[[str, list[str]], object] | None = None,
                      mimalloc: str | None | bool = True) -> bool:
    """Re-execute this process (same pid, same arguments) with ``PYTHONMALLOC=malloc`` if it is not
    set; False if nothing was done (already set, an operator's own value, or no original command
    line to run again). Call first thing in the worker's entry point: the interpreter reads it at
    start-up only.

    Where mimalloc is installed (``find_mimalloc``; ``mimalloc`` names the library, False: none) it
    is preloaded as that allocator, with ``MIMALLOC_ENV``: glibc's allocator makes the scorer, which
    allocates many small objects, 19% slower than pymalloc, and the worker's production path 27%
    slower; on mimalloc the production path runs 18% faster than on glibc's and gives its free pages
    back as glibc does after ``malloc_trim`` (382 MiB at 100,000 idle brands; README, "Memory").
    ``BUZZWATCH_PYMALLOC=1`` keeps pymalloc, whose memory is never given back (587 MiB). The image
    sets ``PYTHONMALLOC`` and ``LD_PRELOAD`` itself (no second start): there, those choose."""
    env = os.environ if environ is None else environ
    keep = env.get("BUZZWATCH_PYMALLOC", "").lower() in ("1", "true", "yes", "on")  # Settings checked it
    if keep or all(k in env for k in SYSTEM_MALLOC_ENV):
        return False
    argv = list(getattr(sys, "orig_argv", []) or [])
    if not argv:
        return False
    env.update(allocator_env(env, mimalloc))
    sys.stdout.flush()
    sys.stderr.flush()
    (execv or os.execv)(sys.executable, argv)
    return True


def allocator_env(environ: dict[str, str] | os._Environ[str], mimalloc: str | None | bool = True) -> dict[str, str]:
    """What ``use_system_malloc`` adds to ``environ`` (an operator's own values kept): the system
    allocator, and mimalloc preloaded with its options where there is one."""
    out = {k: environ.get(k, v) for k, v in SYSTEM_MALLOC_ENV.items()}
    library = find_mimalloc(environ) if mimalloc is True else (mimalloc or None)
    preloaded = environ.get("LD_PRELOAD", "")
    if library and library not in preloaded.split():
        out["LD_PRELOAD"] = f"{preloaded} {library}".strip()
        out.update({k: environ.get(k, v) for k, v in MIMALLOC_ENV.items()})
    return out


def allocator() -> str:
    """What this process allocates with, for the start-up log: ``pymalloc``, ``malloc`` (glibc's) or
    ``mimalloc`` (preloaded)."""
    if os.environ.get("PYTHONMALLOC", "") not in ("malloc", "malloc_debug"):
        return "pymalloc"
    try:
        with open("/proc/self/maps") as maps:  # what is loaded, not what was asked for
            loaded = "mimalloc" in maps.read()
    except OSError:
        loaded = "mimalloc" in os.environ.get("LD_PRELOAD", "")
    return "mimalloc" if loaded else "malloc"


#: Net allocations of container objects that start a young collection (CPython's default: 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Freeze everything allocated so far out of the collector's reach and make young collections
    rarer (see the module's docstring). Call once start-up has built the app, before the stream."""
    gc.collect()  # start-up's own garbage goes now, not into the frozen set
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


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
    and ``min_interval_s`` have passed, and once more ``min_interval_s`` after that."""

    def __init__(self, every: int = 1000, min_interval_s: float = 5.0,
                 trim: Callable[[], object] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.min_interval_s = min_interval_s
        self.trim = trim if trim is not None else _libc_malloc_trim()
        self.clock = clock
        self._evicted = 0
        self._last = float("-inf")
        self._follow_up = False
        self.trims = 0

    def evicted(self, n: int) -> None:
        self._evicted += n

    def maybe_trim(self) -> bool:
        """True if it trimmed. A trim after evictions is followed by one more, ``min_interval_s`` on:
        what was still held during the first (the commit's produce buffers, the fetch under way)
        is garbage by then."""
        now = self.clock()
        if self.trim is None or now - self._last < self.min_interval_s:
            return False
        if self._evicted < self.every:
            if not self._follow_up:
                return False
            self._follow_up = False
        else:
            self._follow_up = True
        self.trim()
        took = self.clock() - now
        if took > 0.05:
            log.info("malloc_trim after %d evictions took %.0f ms", self._evicted, took * 1000)
        self._evicted, self._last = 0, now
        self.trims += 1
        return True
