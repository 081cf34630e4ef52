"""Watch the include folders and report changed candidate paths, from watchdog's threads.

One recursive watch per include root (Linux: inotify; nested roots ride on their outer
root's watch), and events are filtered before they cost anything downstream:

* in the kernel: only create, write, attribute, move, delete and close-after-write events
  are asked for, so readers (media servers, thumbnailers, our own hasher) cost nothing.
  "opened" is asked for only with ``report_opens`` (it fires for every read);
* no watch at all on ignored folders (hidden, ``@eaDir``, recycle bins, snapshots) or
  excluded ones, now or when created later (on Linux; elsewhere watchdog watches them
  and their events are dropped here);
* in the handler: ignored names (hidden, partial downloads), exclusions, files that are
  not media (when :class:`~immich_backupd.media.MediaTypes` are given) and folder events
  other than created, moved and deleted are dropped.

When inotify runs out of watches (``fs.inotify.max_user_watches``) or instances, the
affected root is polled instead and a warning says what to raise; after a queue overflow
``on_overflow`` asks the daemon for a full rescan. :meth:`FolderWatcher.reconfigure`
(SIGHUP) adds and removes roots without a restart, and retries inotify for polled roots.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

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
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserverVFS

from immich_backupd.media import MediaTypes, is_ignored_dir, is_ignored_name
from immich_backupd.rules import AlbumRules
from immich_backupd.watch.limits import (
    count_dirs,
    inotify_limit,
    inotify_queue_limit,
    instance_limit_advice,
    prune_dir,
    top_roots,
    watch_limit_advice,
)

try:  # Linux with the watchdog internals it needs; else watchdog's stock observer
    from immich_backupd.watch._inotify import PruningInotifyObserver
except Exception:  # pragma: no cover - other platforms / watchdog versions
    PruningInotifyObserver = None  # type: ignore[assignment,misc]

__all__ = [
    "ChangeKind",
    "FolderWatcher",
    "OnChange",
    "WatchMode",
    "count_dirs",
    "inotify_limit",
]

log = logging.getLogger(__name__)

ChangeKind = Literal["modified", "attrib", "created", "moved", "deleted", "opened", "closed"]
OnChange = Callable[[Path, str], None]
WatchMode = Literal["native", "polling"]
ObserverFactory = Callable[[], BaseObserver]

# watchdog event_type -> our kind, for file events. "attrib" is a change to back up
# (`cp -p`, rsync and shutil.copy2 set the mtime after the last write), but not a write:
# no close follows it, so it must not mark the file open for writing. Readers' close is
# not a change.
_FILE_KINDS: dict[str, ChangeKind] = {
    "created": "created",
    "modified": "modified",
    "attrib": "attrib",
    "deleted": "deleted",
    "closed": "closed",
    "opened": "opened",
    "moved": "moved",
}
# Folder events worth reporting: a new folder's files are reported one by one too, but a
# folder moved out of the tree shows only as the folder's deletion.
_DIR_KINDS: dict[str, ChangeKind] = {"created": "created", "deleted": "deleted", "moved": "moved"}

_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileClosedEvent,
]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        self._watcher._on_event(event)


class FolderWatcher:
    """Report changes below the include folders of ``rules`` to ``on_change(path, kind)``.

    ``kind`` is one of :data:`ChangeKind`: "created", "modified" (content), "attrib"
    (times or mode set without a write),
    "closed" (a writer closed it: it is likely complete), "deleted", "moved" (``path`` is
    the destination; the source is reported "deleted" first) and, with ``report_opens``,
    "opened" (by a reader or a writer: inotify cannot tell). A file moved in from outside
    the include folders is "created". Folder paths come with "created", "moved" and
    "deleted" only; the files of a new or moved-in folder are reported one by one too.

    ``on_change`` is called from watchdog's threads (the native and the polling observer
    each have one, so two calls may overlap): it must be thread-safe and quick. The
    daemon hops onto its loop with ``loop.call_soon_threadsafe``; calling :meth:`stop` or
    :meth:`reconfigure` from inside it would deadlock. An exception it raises is logged
    and never kills the watcher. ``on_overflow()`` is called likewise when events were
    lost (inotify queue overflow, a folder left unwatched at run time): the daemon should
    request a full rescan.

    ``media``, when given, drops events for files the server would not take. With
    ``use_polling`` every root is polled every ``poll_interval`` seconds (network shares,
    where inotify sees only local changes); polling is also the per-root fallback when
    inotify runs out. ``observer_factory`` builds the native observer (tests inject
    failures through it); by default the pruning inotify observer on Linux, else watchdog's.
    """

    def __init__(
        self,
        rules: AlbumRules,
        on_change: OnChange,
        *,
        media: MediaTypes | None = None,
        use_polling: bool = False,
        poll_interval: float = 5.0,
        on_overflow: Callable[[], None] | None = None,
        report_opens: bool = False,
        observer_factory: ObserverFactory | None = None,
    ) -> None:
        self._rules = rules
        self._media = media
        self._on_change = on_change
        self._on_overflow = on_overflow
        self._use_polling = use_polling
        self._poll_interval = poll_interval
        self._observer_factory = observer_factory
        self._native_filter = [*_EVENT_FILTER, FileOpenedEvent] if report_opens else _EVENT_FILTER
        self._handler = _Handler(self)
        self._lock = threading.RLock()  # start/stop/reconfigure/fallback
        self._hook_lock = threading.Lock()  # _exhausted, touched from watchdog threads
        self._running = False
        self._native: BaseObserver | None = None
        self._native_unavailable = False
        self._polling: BaseObserver | None = None
        self._watches: dict[Path, tuple[BaseObserver, ObservedWatch]] = {}
        self._modes: dict[Path, WatchMode] = {}
        self._fallen_back: set[Path] = set()
        self._exhausted: dict[str, OSError] = {}  # root -> why a folder below went unwatched

    def __repr__(self) -> str:
        modes = {str(k): v for k, v in self._modes.items()}
        return f"FolderWatcher(running={self._running}, roots={modes!r})"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start watching every include root. A root that cannot be watched (missing,
        unreadable) is logged and skipped; :meth:`reconfigure` retries it."""
        with self._lock:
            if self._running:
                return
            self._running = True
            for root in top_roots(self._rules.roots, self._rules):
                self._schedule(root)

    def stop(self) -> None:
        """Stop watching and join watchdog's threads. Idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            observers = [o for o in (self._native, self._polling) if o is not None]
            for obs in observers:
                obs.stop()
            for obs in observers:
                if obs.is_alive():
                    obs.join(timeout=5)
            self._native = self._polling = None
            self._native_unavailable = False
            self._watches.clear()
            self._modes.clear()
            self._fallen_back.clear()
            with self._hook_lock:
                self._exhausted.clear()

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reconfigure(self, rules: AlbumRules, *, media: MediaTypes | None = None) -> None:
        """Switch to new rules (SIGHUP) without a restart.

        Roots no longer included are unwatched, new ones watched, failed ones retried and
        polled fallbacks given inotify again (the user may have raised the limit). When
        the exclusions changed every root is re-watched, since they decide which folders
        hold a watch. ``media``, if given, replaces the media types. Rescanning what the
        new rules bring in is the caller's job.
        """
        with self._lock:
            old, self._rules = self._rules, rules
            if media is not None:
                self._media = media
            if not self._running:
                return
            wanted = top_roots(rules.roots, rules)
            redo = set(self._fallen_back)
            if tuple(rules.exclude) != tuple(old.exclude):
                redo |= set(self._watches)
            for root in list(self._watches):
                if root not in wanted or root in redo:
                    self._unschedule(root)
            for root in wanted:
                if root not in self._watches:
                    self._schedule(root)

    def watched_roots(self) -> dict[Path, WatchMode]:
        """Return each watched root and how: "native" (inotify) or "polling"."""
        with self._lock:
            return dict(self._modes)

    # --- scheduling (under self._lock) ---------------------------------------------------

    def _ensure_native(self) -> BaseObserver | None:
        if self._native is not None or self._native_unavailable:
            return self._native
        try:
            if self._observer_factory is not None:
                obs = self._observer_factory()
            elif PruningInotifyObserver is not None:
                obs = PruningInotifyObserver(_Hooks(self))
            else:  # pragma: no cover - other platforms
                from watchdog.observers import Observer

                obs = Observer()
            obs.start()
        except OSError as err:
            self._native_unavailable = True
            if err.errno == errno.EMFILE:
                log.warning(
                    "cannot create an inotify instance (%s); polling every %gs instead. %s",
                    err,
                    self._poll_interval,
                    instance_limit_advice(),
                )
            else:
                log.warning("cannot start the file watcher (%s); polling instead", err)
            return None
        self._native = obs
        return obs

    def _ensure_polling(self) -> BaseObserver:
        if self._polling is None:
            obs = PollingObserverVFS(
                os.lstat, self._scandir_pruned, polling_interval=self._poll_interval
            )
            obs.start()
            self._polling = obs
        return self._polling

    def _schedule(self, root: Path) -> None:
        native = None if self._use_polling else self._ensure_native()
        if native is None:
            self._schedule_polling(root)
            return
        key = str(root)
        with self._hook_lock:
            self._exhausted.pop(key, None)
        try:
            watch = native.schedule(
                self._handler, key, recursive=True, event_filter=self._native_filter
            )
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EMFILE):
                self._fall_back(root, err)
            else:
                log.warning("cannot watch %s (%s); the periodic rescan covers it", root, err)
            return
        self._watches[root] = (native, watch)
        self._modes[root] = "native"
        with self._hook_lock:
            failed = self._exhausted.pop(key, None)
        if failed is not None:
            self._fall_back(root, failed)

    def _schedule_polling(self, root: Path) -> None:
        try:
            watch = self._ensure_polling().schedule(
                self._handler, str(root), recursive=True, event_filter=_EVENT_FILTER
            )
        except OSError as err:
            log.warning("cannot watch %s (%s); the periodic rescan covers it", root, err)
            return
        self._watches[root] = (self._polling, watch)  # type: ignore[assignment]
        self._modes[root] = "polling"

    def _unschedule(self, root: Path) -> None:
        obs, watch = self._watches.pop(root)
        self._modes.pop(root, None)
        self._fallen_back.discard(root)
        with contextlib.suppress(KeyError):  # its emitter may have stopped by itself
            obs.unschedule(watch)

    def _fall_back(self, root: Path, err: OSError) -> None:
        """Replace ``root``'s inotify watch by polling, and tell the user what to raise."""
        if root in self._watches:
            self._unschedule(root)
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
            self._poll_interval,
            advice,
        )
        self._schedule_polling(root)
        if root in self._watches:
            self._fallen_back.add(root)

    def _fall_back_later(self, key: str) -> None:
        """Run in its own thread: a folder created at run time could not be watched."""
        with self._lock:
            with self._hook_lock:
                err = self._exhausted.pop(key, None)
            root = Path(key)
            if err is None or not self._running or self._modes.get(root) != "native":
                return  # handled where the root was scheduled, or gone
            self._fall_back(root, err)
        self._notify_overflow()

    # --- events (watchdog threads) -------------------------------------------------------

    def _prune(self, path: str) -> bool:
        return prune_dir(self._rules, path, os.path.basename(path))

    def _scandir_pruned(self, path: str | None) -> Iterator[os.DirEntry[str]]:
        """``os.scandir`` for the polling snapshot, minus what the handler would drop
        anyway, so polling never stats or descends into ignored or excluded entries."""
        rules, media = self._rules, self._media
        with os.scandir(path) as it:
            entries = list(it)
        kept = []
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if prune_dir(rules, entry.path, name):
                    continue
            else:
                unwanted = (
                    media.candidate(name) is None if media is not None else is_ignored_name(name)
                )
                if unwanted or rules.is_excluded_entry(entry.path, name, False):
                    continue
            kept.append(entry)
        return iter(kept)

    def _accept(self, path: str, is_dir: bool) -> bool:
        """Return True if an event for ``path`` is worth reporting (cheapest tests first)."""
        name = os.path.basename(path)
        if is_dir:
            if is_ignored_dir(name):
                return False
        elif self._media is not None:
            if self._media.candidate(name) is None:
                return False
        elif is_ignored_name(name):
            return False
        rules = self._rules
        root = rules.root_of(path)
        if root is None:
            return False
        root_s = str(root)
        if len(path) > len(root_s):
            prefix = root_s if root_s.endswith("/") else root_s + "/"
            if any(is_ignored_dir(p) for p in path[len(prefix) :].split("/")[:-1]):
                return False
        return not rules.is_excluded(path, is_dir=is_dir)

    def _emit(self, path: str, kind: ChangeKind) -> None:
        try:
            self._on_change(Path(path), kind)
        except Exception:
            log.exception("on_change(%s, %s) failed", path, kind)

    def _on_event(self, event: FileSystemEvent) -> None:
        is_dir = event.is_directory
        kind = (_DIR_KINDS if is_dir else _FILE_KINDS).get(event.event_type)
        if kind is None:
            return
        src = os.fsdecode(event.src_path)
        if kind == "moved":
            dest = os.fsdecode(event.dest_path)
            if src and self._accept(src, is_dir):
                self._emit(src, "deleted")
            if dest and self._accept(dest, is_dir):
                self._emit(dest, "moved")
        elif src and self._accept(src, is_dir):
            self._emit(src, kind)

    def _notify_overflow(self) -> None:
        if self._on_overflow is None:
            return
        try:
            self._on_overflow()
        except Exception:
            log.exception("on_overflow() failed")


class _Hooks:
    """The pruning inotify observer's view of a :class:`FolderWatcher` (see WatchHooks)."""

    def __init__(self, watcher: FolderWatcher) -> None:
        self._w = watcher

    def prune(self, path: str) -> bool:
        return self._w._prune(path)

    def watch_failed(self, root: str, path: str, err: OSError) -> None:
        w = self._w
        with w._hook_lock:
            first = root not in w._exhausted
            w._exhausted[root] = err
        if first:  # switch in another thread: we are inside watchdog's locks here
            threading.Thread(
                target=w._fall_back_later, args=(root,), name="watch-fallback", daemon=True
            ).start()

    def overflowed(self) -> None:
        log.warning(
            "inotify's event queue overflowed (fs.inotify.max_queued_events = %s): changes "
            "were lost, requesting a full rescan",
            inotify_queue_limit(),
        )
        self._w._notify_overflow()
