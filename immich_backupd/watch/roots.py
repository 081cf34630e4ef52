"""Which backend watches each include root: the native one (made on first use) or
polling, and the fall-back to polling, root by root, when inotify runs out of watches or
instances (with a warning that says what to raise).

A :class:`Roots` belongs to one :class:`~immich_backupd.watch.observer.FolderWatcher`
and is only called under that watcher's lock, except :meth:`Roots.exhausted_below`,
which the backends' threads call (it takes ``hook_lock``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from immich_backupd.watch import inotify
from immich_backupd.watch.backend import Backend, BackendFactory, WatchHooks
from immich_backupd.watch.limits import (
    inotify_limit,
    instance_limit_advice,
    watch_limit_advice,
)

log = logging.getLogger("immich_backupd.watch.observer")

ScandirPruned = Callable[[str | None], Iterator[os.DirEntry[str]]]


class WatchMode(StrEnum):
    """How a root is watched."""

    NATIVE = "native"  # inotify (Linux), FSEvents (macOS)
    POLLING = "polling"  # read every ``poll_interval`` seconds


def default_native(hooks: WatchHooks, *, report_opens: bool = False) -> Backend:
    """The native watching mechanism of this platform: inotify on Linux, else watchdog's."""
    if inotify.available():
        from immich_backupd.watch.inotify_tree import InotifyBackend

        return InotifyBackend(hooks, report_opens=report_opens)
    from immich_backupd.watch.watchdog_backend import native_backend  # pragma: no cover

    return native_backend(hooks, report_opens=report_opens)  # pragma: no cover


@dataclass(eq=False)
class Roots:
    """The watched roots, each on a backend. ``factory(hooks)`` builds the native
    backend (default :func:`default_native`); ``use_polling`` never uses one.
    ``scandir_pruned`` is what the polling backend lists a folder with."""

    hooks: WatchHooks
    use_polling: bool
    poll_interval: float
    report_opens: bool
    factory: BackendFactory | None
    scandir_pruned: ScandirPruned
    # ``exhausted`` is touched from the backends' threads: under ``hook_lock``.
    hook_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    native: Backend | None = field(default=None, init=False)
    native_unavailable: bool = field(default=False, init=False)
    polling: Backend | None = field(default=None, init=False)
    watches: dict[Path, tuple[Backend, object]] = field(default_factory=dict, init=False)
    modes: dict[Path, WatchMode] = field(default_factory=dict, init=False)
    fallen_back: set[Path] = field(default_factory=set, init=False)
    # root -> why a folder below it went unwatched
    exhausted: dict[str, OSError] = field(default_factory=dict, init=False)

    def stop(self) -> None:
        """Stop both backends and forget every root."""
        for backend in (self.native, self.polling):
            if backend is not None:
                backend.stop()
        self.native = self.polling = None
        self.native_unavailable = False
        self.watches.clear()
        self.modes.clear()
        self.fallen_back.clear()
        with self.hook_lock:
            self.exhausted.clear()

    def ensure_native(self) -> Backend | None:
        """The running native backend, started on first use; None when it cannot run
        (then never tried again until :meth:`stop` or ``native_unavailable`` is reset)."""
        if self.native is not None or self.native_unavailable:
            return self.native
        try:
            if self.factory is not None:
                backend = self.factory(self.hooks)
            else:
                backend = default_native(self.hooks, report_opens=self.report_opens)
            backend.start()
        except OSError as err:
            self.native_unavailable = True
            if err.errno == errno.EMFILE:
                log.warning(
                    "cannot create an inotify instance (%s); polling every %gs instead. %s",
                    err,
                    self.poll_interval,
                    instance_limit_advice(),
                )
            else:
                log.warning("cannot start the file watcher (%s); polling instead", err)
            return None
        self.native = backend
        return backend

    def _ensure_polling(self) -> Backend:
        if self.polling is None:
            from immich_backupd.watch.watchdog_backend import polling_backend

            backend = polling_backend(self.hooks, self.poll_interval, self.scandir_pruned)
            backend.start()
            self.polling = backend
        return self.polling

    def schedule(self, root: Path) -> None:
        """Watch ``root`` natively where that works, else by polling; a root that cannot
        be watched at all is logged (the periodic rescan covers it)."""
        native = None if self.use_polling else self.ensure_native()
        if native is None:
            self.schedule_polling(root)
            return
        key = str(root)
        with self.hook_lock:
            self.exhausted.pop(key, None)
        try:
            handle = native.schedule(key)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EMFILE):
                self.fall_back(root, err)
            else:
                log.warning("cannot watch %s (%s); the periodic rescan covers it", root, err)
            return
        self.watches[root] = (native, handle)
        self.modes[root] = WatchMode.NATIVE
        with self.hook_lock:
            failed = self.exhausted.pop(key, None)
        if failed is not None:
            self.fall_back(root, failed)

    def schedule_polling(self, root: Path) -> None:
        if not root.is_dir():
            log.warning("cannot watch %s (not a folder); the periodic rescan covers it", root)
            return
        try:
            polling = self._ensure_polling()
            handle = polling.schedule(str(root))
        except OSError as err:
            log.warning("cannot watch %s (%s); the periodic rescan covers it", root, err)
            return
        self.watches[root] = (polling, handle)
        self.modes[root] = WatchMode.POLLING

    def unschedule(self, root: Path) -> None:
        backend, handle = self.watches.pop(root)
        self.modes.pop(root, None)
        self.fallen_back.discard(root)
        with contextlib.suppress(KeyError):  # its emitter may have stopped by itself
            backend.unschedule(handle)

    def fall_back(self, root: Path, err: OSError) -> None:
        """Replace ``root``'s native watch by polling, and tell the user what to raise."""
        if root in self.watches:
            self.unschedule(root)
        advice = (
            instance_limit_advice()
            if err.errno == errno.EMFILE and "instance" in str(err)
            else watch_limit_advice(inotify_limit())
        )
        log.warning(
            "inotify ran out of watches for %s (%s); polling it every %gs instead, which "
            "is slower to notice changes and reads the whole tree each time. %s; then "
            "reload the daemon (SIGHUP) to use inotify again.",
            root,
            err.strerror or err,
            self.poll_interval,
            advice,
        )
        self.schedule_polling(root)
        if root in self.watches:
            self.fallen_back.add(root)

    def exhausted_below(self, root: str, err: OSError) -> bool:
        """Note (from a backend's thread) that a folder below ``root`` went unwatched;
        True the first time for that root (the caller then falls back, in time)."""
        with self.hook_lock:
            first = root not in self.exhausted
            self.exhausted[root] = err
        return first

    def fall_back_if_exhausted(self, key: str, running: bool) -> bool:
        """Fall back for ``key`` if a folder below it went unwatched since it was
        scheduled and it is still watched natively (and ``running``); True when it did."""
        with self.hook_lock:
            err = self.exhausted.pop(key, None)
        root = Path(key)
        if err is None or not running or self.modes.get(root) is not WatchMode.NATIVE:
            return False  # handled where the root was scheduled, or gone
        self.fall_back(root, err)
        return True
