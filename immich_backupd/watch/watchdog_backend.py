"""A watchdog observer as a :class:`~immich_backupd.watch.backend.Backend`, through
watchdog's public API only (``BaseObserver.schedule/unschedule/start/stop/join``, a
``FileSystemEventHandler`` subclass, the event classes).

Used for polling (``PollingObserverVFS``: everywhere, and the fallback when native
watching fails or does not deliver events) and, where there is no inotify, for
watchdog's native observer (FSEvents on macOS).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

from immich_backupd.watch.backend import EventKind, WatchHooks

__all__ = ["WatchdogBackend", "native_backend", "polling_backend"]

_KINDS: dict[str, EventKind] = {
    "created": "created", "modified": "modified", "attrib": "attrib", "deleted": "deleted",
    "closed": "closed", "opened": "opened", "moved": "moved",
}
_DIR_KINDS = frozenset({"created", "deleted", "moved"})

EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, DirCreatedEvent, FileModifiedEvent, FileAttribEvent, FileMovedEvent,
    DirMovedEvent, FileDeletedEvent, DirDeletedEvent, FileClosedEvent,
]


class _Handler(FileSystemEventHandler):
    def __init__(self, hooks: WatchHooks) -> None:
        self._hooks = hooks

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = _KINDS.get(event.event_type)
        is_dir = event.is_directory
        if kind is None or (is_dir and kind not in _DIR_KINDS):
            return
        src = os.fsdecode(event.src_path)
        if kind == "moved":
            if src:
                self._hooks.event("deleted", src, is_dir)
            dest = os.fsdecode(event.dest_path)
            if dest:
                self._hooks.event("moved", dest, is_dir)
        elif src:
            self._hooks.event(kind, src, is_dir)


class WatchdogBackend:
    """Adapt ``observer`` (not yet started) to the Backend protocol, reporting to
    ``hooks.event``. watchdog observers neither prune nor report lost events."""

    def __init__(self, observer: BaseObserver, hooks: WatchHooks, *,
                 report_opens: bool = False) -> None:
        self._observer = observer
        self._handler = _Handler(hooks)
        self._filter = [*EVENT_FILTER, FileOpenedEvent] if report_opens else EVENT_FILTER

    def __repr__(self) -> str:
        return f"WatchdogBackend({type(self._observer).__name__})"

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=5)

    def schedule(self, root: str) -> object:
        return self._observer.schedule(self._handler, root, recursive=True,
                                       event_filter=self._filter)

    def unschedule(self, handle: object) -> None:
        self._observer.unschedule(handle)  # type: ignore[arg-type]


def polling_backend(hooks: WatchHooks, interval: float,
                    scandir: Callable[[str | None], Iterator[os.DirEntry[str]]]) -> WatchdogBackend:
    """Poll every ``interval`` seconds; ``scandir`` lists a folder (the owner's pruned
    listing, so polling never stats what it would drop anyway)."""
    return WatchdogBackend(PollingObserverVFS(os.lstat, scandir, polling_interval=interval),
                           hooks)


def native_backend(hooks: WatchHooks, *, report_opens: bool = False) -> WatchdogBackend:
    """watchdog's native observer for this platform (FSEvents on macOS)."""
    from watchdog.observers import Observer

    return WatchdogBackend(Observer(), hooks, report_opens=report_opens)
