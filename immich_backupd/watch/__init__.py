"""Watching the include folders: events, debounced into batches, held back until settled.

The observer (and so watchdog) is imported on first use, so the pure parts (debounce,
settle, limits) stay importable without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from immich_backupd.watch.debounce import Batch, Debouncer
from immich_backupd.watch.limits import count_dirs, inotify_limit, top_roots, watch_limit_advice
from immich_backupd.watch.settle import DEFAULT_QUIET, SettleTracker, read_signature

if TYPE_CHECKING:
    from immich_backupd.watch.observer import ChangeKind, FolderWatcher, OnChange, WatchMode

__all__ = [
    "DEFAULT_QUIET",
    "Batch",
    "ChangeKind",
    "Debouncer",
    "FolderWatcher",
    "OnChange",
    "SettleTracker",
    "WatchMode",
    "count_dirs",
    "inotify_limit",
    "read_signature",
    "top_roots",
    "watch_limit_advice",
]

_OBSERVER_NAMES = frozenset({"ChangeKind", "FolderWatcher", "OnChange", "WatchMode"})


def __getattr__(name: str) -> Any:
    if name in _OBSERVER_NAMES:
        from immich_backupd.watch import observer

        return getattr(observer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
