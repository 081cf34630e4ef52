"""The garbage collector's settings for a process that backs up (``once``, ``run``).

A pass over a large library is bound by the GIL (docs/performance.md), and CPython's
default thresholds (700, 10, 10) had the collector take a tenth of it: adopting 100,000
files made 1,365 young, 124 middle and 11 full collections, 0.7 s of GIL time in a
6 s pass. The full ones walked every object the imports had made, each time.

What a pass allocates dies by reference counting (rows, tuples, requests) or lives
until its batch is recorded (candidates and their stats); few of them are in cycles
(but the pass itself is: see below). So the collector runs much less often, and never
walks the start-up objects:

- ``gc.freeze()`` once the program is imported: modules, classes and functions live as
  long as the process, and full collections skip them from then on.
- The young generation is collected after 50,000 more tracked objects instead of 700,
  the middle one after 20 young collections (was 10), the full one after 10 middle
  ones, as before. Cyclic garbage that dies young still goes, a little later: at most
  one young generation of it (a few MB) waits.

Measured (adopt 100k): GC 0.71 → 0.03 s; the pass 6.49 → 5.64 s (medians of 5).

The pass itself is a cycle: its stages call back into it (``stopping``, ``fail_pass``),
so the pass and all it still holds when it ends (the files it held back as still being
written, with their stats, paths and folders; its lists) are freed by the collector,
not by reference counting. They lived as long as the pass, so they are in the oldest
generation, which these thresholds collect after some ten million more tracked
objects: in a daemon that then sits idle, never, and each pass added its own. A
long-running process calls :func:`release_after_pass` when a pass has ended. Measured
(the bench's daemon on 100,000 files just written, held back by ``settle_time`` over
several passes): RSS once idle 333 → 73 to 92 MB (the rest: arenas of Python's
allocator that a few small objects made during the passes keep); an idle daemon with
no files: 51 to 53 MB.
"""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable

YOUNG = 50_000
MIDDLE = 20
OLD = 10

_tuned = False


def tune_gc() -> None:
    """Freeze what exists now and raise the thresholds, once per process: a later call
    does nothing, so it can never freeze what a pass left behind (cycles frozen are
    never collected)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)


def release_after_pass() -> None:
    """Free what a finished pass left (a full collection: see the module's docstring)
    and give the freed memory of the C heap back to the system (:func:`trim_heap`).

    Call it with no pass running: it walks every object not frozen, which at that point
    is the pass's garbage (~0.1 s for 100,000 files held back) and what lives on (a few
    ms). It holds the GIL, on the event loop: between passes, where nothing waits."""
    gc.collect()
    trim_heap()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_heap() -> bool:
    """Have the C library return the free pages of its heap (glibc's ``malloc_trim``),
    which it otherwise keeps for later: the pass's freed objects, SQLite's page cache
    of the closed state. Return False where the C library has no such call (musl,
    macOS): there it does nothing."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
