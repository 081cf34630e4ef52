"""A recursive inotify observer that skips excluded folders and reports what it cannot watch.

watchdog's ``InotifyObserver`` falls short for a photo library in three ways, fixed here:

* it puts a watch on *every* folder below a root. On a Synology share each photo folder
  holds an ``@eaDir`` with one subfolder per photo, and ``#snapshot`` holds a copy of the
  whole tree, so the system folders alone can exhaust ``max_user_watches``. Here the
  ``prune`` hook keeps ignored and excluded folders unwatched, at start and for folders
  created later;
* it silently skips a subfolder whose watch fails for lack of watches (only the root's
  failure is raised), so part of the tree would go unwatched without a word. Here
  ENOSPC/EMFILE below the root go to ``watch_failed``;
* on a kernel queue overflow it rebuilds its watches and only logs. Here ``overflowed``
  is called too, so the daemon can rescan what the lost events were about.

This leans on watchdog 7's ``InotifyWatchGroup`` internals; importing this module raises
ImportError when they differ (or on a platform without inotify), and the watcher then
uses watchdog's stock observer.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any, Protocol

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
from watchdog.observers.inotify_c import InotifyEvent, InotifyFD

_FIELDS = InotifyWatchGroup.__dataclass_fields__
for _name in ("_add_all_callbacks", "_add_callback", "_inotify_fd", "_callback", "_id"):
    if not hasattr(InotifyWatchGroup, _name) and _name not in _FIELDS:
        raise ImportError(f"watchdog's InotifyWatchGroup has no {_name}: unsupported version")

_OUT_OF_WATCHES = (errno.ENOSPC, errno.EMFILE)


class WatchHooks(Protocol):
    """What the observer asks and tells its owner. Called from watchdog threads, with
    watchdog's locks held: implementations must be quick and must not call back into the
    observer (schedule/unschedule) synchronously."""

    def prune(self, path: str) -> bool:
        """Return True if the folder ``path`` (below a root) must not be watched."""
        ...

    def watch_failed(self, root: str, path: str, err: OSError) -> None:
        """A folder below ``root`` could not be watched: watches or instances ran out."""
        ...

    def overflowed(self) -> None:
        """The kernel dropped events: every watched tree may have missed changes."""
        ...


@dataclass
class _PruningWatchGroup(InotifyWatchGroup):
    hooks: WatchHooks | None = None

    def _add_all_callbacks(self, path: bytes) -> None:
        hooks = self.hooks
        if path != self.path and hooks is not None and hooks.prune(os.fsdecode(path)):
            return
        is_dir = os.path.isdir(path)
        self._add_callback(path)
        if not (is_dir and self.is_recursive):
            return
        for top, dirnames, _ in os.walk(path, followlinks=self.follow_symlink):
            keep = []
            for name in dirnames:
                full = os.path.join(top, name)
                if not self.follow_symlink and os.path.islink(full):
                    continue
                if hooks is not None and hooks.prune(os.fsdecode(full)):
                    continue
                keep.append(name)
                self._add_callback(full)
            dirnames[:] = keep

    def _add_callback(self, path: bytes) -> None:
        if path in self._active_callbacks_by_path:
            # Already watched: `mkdir -p a/b` reports b's creation after a's walk added it.
            return
        try:
            wd = self._inotify_fd.add_callback(path, self.event_mask, self._callback, self._id)
        except OSError as err:
            # As in watchdog: the root's failure reaches the caller, a descendant that
            # vanished or is unreadable is skipped; running out of watches is reported.
            if path == self.path:
                raise
            if err.errno in _OUT_OF_WATCHES and self.hooks is not None:
                self.hooks.watch_failed(os.fsdecode(self.path), os.fsdecode(path), err)
            return
        self._active_callbacks_by_path[path] = wd
        self._active_callbacks_by_watch[wd] = path


class _PruningEmitter(InotifyEmitter):
    def __init__(self, *args: Any, hooks: WatchHooks, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hooks = hooks

    def on_thread_start(self) -> None:
        self._inotify = _PruningWatchGroup(
            self._inotify_fd,
            os.fsencode(self.watch.path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
            hooks=self._hooks,
        )

    def queue_events(self, timeout: float, *, full_events: bool = False) -> None:
        if not self.should_keep_running():  # unscheduled: skip watchdog's "inactive" error
            return
        super().queue_events(timeout, full_events=full_events)


class _OverflowReportingFD(InotifyFD):
    def __init__(self, hooks: WatchHooks) -> None:
        super().__init__()
        self._hooks = hooks

    def handle_event(self, event: InotifyEvent) -> None:
        super().handle_event(event)  # first lets the watch groups rebuild their watches
        if event.is_queue_overflow:
            self._hooks.overflowed()


class PruningInotifyObserver(BaseObserver):
    """An inotify observer (one inotify instance for all its watches) with :class:`WatchHooks`.

    Raise OSError (EMFILE) when the user's inotify instances are used up.
    """

    def __init__(self, hooks: WatchHooks, *, timeout: float = DEFAULT_OBSERVER_TIMEOUT) -> None:
        self._inotify_fd = _OverflowReportingFD(hooks)
        self._inotify_fd.start()
        super().__init__(_PruningEmitter, timeout=timeout, inotify_fd=self._inotify_fd, hooks=hooks)

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self._inotify_fd.stop()
        self._inotify_fd.join()

    def inject_event(self, event: InotifyEvent) -> None:
        """Handle ``event`` as if the kernel sent it (tests: a queue overflow on demand)."""
        self._inotify_fd.handle_event(event)
