"""What a watching mechanism is to :class:`~immich_backupd.watch.observer.FolderWatcher`.

A *backend* watches folder trees and reports what happens in them to :class:`WatchHooks`.
Two kinds exist: on Linux our own recursive inotify watcher
(:mod:`immich_backupd.watch.inotify_tree`), and an adapter over a watchdog observer
(:mod:`immich_backupd.watch.watchdog_backend`: its polling observer everywhere, its
FSEvents observer on macOS), used through watchdog's public API only. Tests inject
backends that fail to schedule, or that deliver nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

__all__ = ["Backend", "BackendFactory", "EventKind", "WatchHooks"]

EventKind = Literal["created", "modified", "attrib", "closed", "opened", "deleted", "moved"]
"""What a backend reports. A move is two reports: "deleted" for the source, then "moved"
for the destination (also when the source was outside every watched tree: a file renamed
into place is whole)."""


class WatchHooks(Protocol):
    """What a backend asks and tells its owner. Called from the backend's thread, possibly
    with the backend's lock held: implementations must be quick and must not call back
    into the backend (schedule/unschedule) synchronously."""

    def event(self, kind: EventKind, path: str, is_dir: bool) -> None:
        """Something happened to ``path`` (a file, or a folder when ``is_dir``)."""
        ...

    def prune(self, path: str) -> bool:
        """Return True if the folder ``path`` (below a root) must not be watched."""
        ...

    def watch_failed(self, root: str, path: str, err: OSError) -> None:
        """A folder below ``root`` could not be watched: watches or instances ran out."""
        ...

    def overflowed(self) -> None:
        """Events were lost: every watched tree may have missed changes."""
        ...


class Backend(Protocol):
    """A watching mechanism for whole folder trees.

    ``start`` raises OSError when the mechanism cannot run (EMFILE: no inotify instance
    left). ``schedule(root)`` watches ``root`` recursively and returns a handle for
    ``unschedule``; it raises OSError when ``root`` cannot be watched (missing,
    unreadable, ENOSPC/EMFILE: out of watches). ``stop`` stops and joins its threads.
    """

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def schedule(self, root: str) -> object: ...

    def unschedule(self, handle: object) -> None: ...


BackendFactory = Callable[[WatchHooks], Backend]
"""Builds a backend reporting to the given hooks (not yet started)."""
