"""Watch the include folders and report changed candidate paths, from the watchers' threads.

One recursive watch per include root (nested roots ride on their outer root's watch),
through a :class:`~immich_backupd.watch.backend.Backend`: on Linux our own inotify
watcher (:mod:`immich_backupd.watch.inotify_tree`, the kernel's API, no third-party
internals), elsewhere watchdog's native observer, and watchdog's polling observer as the
fallback. Events are filtered before they cost anything downstream:

* in the kernel: only create, write, attribute, move, delete and close-after-write events
  are asked for, so readers (media servers, thumbnailers, our own hasher) cost nothing.
  "opened" is asked for only with ``report_opens`` (it fires for every read);
* no watch at all on ignored folders (hidden, ``@eaDir``, recycle bins, snapshots) or
  excluded ones, now or when created later (on Linux; elsewhere the native observer
  watches them and their events are dropped here);
* here: ignored names (hidden, partial downloads), exclusions, files that are not media
  (when :class:`~immich_backupd.media.kinds.MediaTypes` are given) and folder events other than
  created, moved and deleted are dropped.

The watcher proves itself: :meth:`FolderWatcher.probe` writes a file into a private
folder watched by the same mechanism and waits for its event; when none comes, every root
is polled instead and :attr:`FolderWatcher.blind` says so. When inotify runs out of
watches (``fs.inotify.max_user_watches``) or instances, the affected root is polled and a
warning says what to raise; after a queue overflow ``on_overflow`` asks the daemon for a
full rescan. A filesystem mounted over (or unmounted from) a watched folder is noticed
(``/proc/self/mountinfo``): that root is watched again and ``on_rescan`` asks for its
rescan. :meth:`FolderWatcher.reconfigure` (SIGHUP) adds and removes roots without a
restart, and retries native watching for polled roots. Which backend watches each root,
and the fall-back to polling, are :mod:`immich_backupd.watch.roots`'.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from immich_backupd.media.kinds import MediaTypes
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.watch.backend import BackendFactory, EventKind
from immich_backupd.watch.filtering import accept, scandir_pruned
from immich_backupd.watch.limits import (
    count_dirs,
    inotify_limit,
    inotify_queue_limit,
    prune_dir,
    top_roots,
)
from immich_backupd.watch.mountwatch import MountWatcher, affected_roots
from immich_backupd.watch.roots import Roots, WatchMode, default_native

__all__ = [
    "PROBE_TIMEOUT",
    "ChangeKind",
    "FolderWatcher",
    "OnChange",
    "WatchMode",
    "count_dirs",
    "default_native",
    "inotify_limit",
]

log = logging.getLogger(__name__)

ChangeKind = Literal["modified", "attrib", "created", "moved", "deleted", "opened", "closed"]
OnChange = Callable[[Path, str], None]
PROBE_TIMEOUT = 5.0
"""Seconds the probe waits for its event. inotify delivers in microseconds; a loaded
machine's thread scheduling in milliseconds. Five seconds only ever pass when no event
comes at all."""


_DIR_KINDS = frozenset({"created", "deleted", "moved"})
_probe_names = itertools.count()


class FolderWatcher:
    """Report changes below the include folders of ``rules`` to ``on_change(path, kind)``.

    ``kind`` is one of :data:`ChangeKind`: "created", "modified" (content), "attrib"
    (times or mode set without a write),
    "closed" (a writer closed it: it is likely complete), "deleted", "moved" (``path`` is
    the destination; the source is reported "deleted" first) and, with ``report_opens``,
    "opened" (by a reader or a writer: inotify cannot tell). A file renamed in from outside
    the include folders is "moved" too (with no "deleted" before it): it is whole. Folder
    paths come with "created", "moved" and "deleted" only; the files of a new or moved-in
    folder are reported one by one too.

    ``on_change`` is called from the watchers' threads (the native one, the polling one
    and the mount watcher each have one, so two calls may overlap): it must be
    thread-safe and quick. The daemon hops onto its loop with
    ``loop.call_soon_threadsafe``; calling :meth:`stop` or :meth:`reconfigure` from inside
    it would deadlock. An exception it raises is logged and never kills the watcher.
    ``on_overflow()`` is called likewise when events were lost (inotify queue overflow, a
    folder left unwatched at run time): the daemon should request a full rescan.
    ``on_rescan(root)`` is called when a filesystem was mounted or unmounted at, below or
    above ``root``: its tree should be rescanned.

    ``media``, when given, drops events for files the server would not take. With
    ``use_polling`` every root is polled every ``poll_interval`` seconds (network shares,
    where inotify sees only local changes); polling is also the per-root fallback when
    native watching runs out or does not deliver events. ``observer_factory(hooks)``
    builds the native backend (tests inject failing or blind ones); by default
    :func:`default_native`. ``watch_mounts`` follows the mount table (Linux).
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
        on_rescan: Callable[[Path], None] | None = None,
        report_opens: bool = False,
        observer_factory: BackendFactory | None = None,
        watch_mounts: bool = True,
    ) -> None:
        self._rules = rules
        self._media = media
        self._on_change = on_change
        self._on_overflow = on_overflow
        self._on_rescan = on_rescan
        self._use_polling = use_polling
        self.poll_interval = poll_interval
        self._lock = threading.RLock()  # start/stop/reconfigure/fallback
        self._probe_lock = threading.Lock()  # _probe, touched from the backends' threads
        self._running = False
        self._blind = False
        self._roots = Roots(_Hooks(self), use_polling=use_polling, poll_interval=poll_interval,
                            report_opens=report_opens, factory=observer_factory,
                            scandir_pruned=self._scandir_pruned)
        self._probe: tuple[str, threading.Event] | None = None
        self._mounts = (MountWatcher(self._mounts_changed, on_tick=self._look_for_missing,
                                     tick=poll_interval) if watch_mounts else None)

    def __repr__(self) -> str:
        modes = {str(k): str(v) for k, v in self._roots.modes.items()}
        return f"FolderWatcher(running={self._running}, blind={self._blind}, roots={modes!r})"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start watching every include root. A root that cannot be watched (missing,
        unreadable) is logged and skipped; :meth:`reconfigure` and a mount there retry it."""
        with self._lock:
            if self._running:
                return
            self._running = True
            for root in top_roots(self._rules.roots, self._rules):
                self._roots.schedule(root)
            if self._mounts is not None:
                self._mounts.start()

    def stop(self) -> None:
        """Stop watching and join the watchers' threads. Idempotent."""
        if self._mounts is not None:
            self._mounts.stop()  # outside the lock: its callback takes it
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._roots.stop()

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reconfigure(self, rules: AlbumRules, *, media: MediaTypes | None = None) -> None:
        """Switch to new rules (SIGHUP) without a restart.

        Roots no longer included are unwatched, new ones watched, failed ones retried and
        polled fallbacks given native watching again (the user may have raised the limit;
        a watcher found blind is tried again too: call :meth:`probe` after this). When
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
            roots = self._roots
            redo = set(roots.fallen_back)
            if self._blind:
                self._blind = roots.native_unavailable = False
                redo |= {r for r, m in roots.modes.items() if m is WatchMode.POLLING}
            if tuple(rules.exclude) != tuple(old.exclude):
                redo |= set(roots.watches)
            wanted = top_roots(rules.roots, rules)
            for root in list(roots.watches):
                if root not in wanted or root in redo:
                    roots.unschedule(root)
            for root in wanted:
                if root not in roots.watches:
                    roots.schedule(root)

    def watched_roots(self) -> dict[Path, WatchMode]:
        """Return each watched root and how: "native" or "polling"."""
        with self._lock:
            return dict(self._roots.modes)

    @property
    def blind(self) -> bool:
        """True when the last :meth:`probe` saw no event: every root is polled."""
        return self._blind

    # --- proving that events arrive ------------------------------------------------------

    def probe(self, folder: Path, timeout: float = PROBE_TIMEOUT) -> bool:
        """Prove that the native mechanism delivers events, and fall back if it does not.

        ``folder`` (created private if missing; never a user's folder: the daemon uses
        one inside its state folder) is watched by the same backend as the roots, a file
        is written and closed there, and its report awaited for up to ``timeout``
        seconds. Without it, a warning is logged, every root is polled from now on and
        :attr:`blind` is True; return False. Return True when the event came, and when
        no native watching is in use (nothing to prove).
        """
        with self._lock:
            if not self._running or self._use_polling:
                return True
            native = self._roots.ensure_native()
            if native is None:
                return True
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            prefix = os.path.join(str(folder), "")
            seen = threading.Event()
            with self._probe_lock:
                self._probe = (prefix, seen)
            try:
                handle: object | None = native.schedule(str(folder))
            except OSError as err:
                log.warning("cannot watch the probe folder %s (%s)", folder, err)
                handle = None
        target = folder / f"probe-{os.getpid()}-{next(_probe_names)}"
        ok = False
        try:
            if handle is not None:
                with target.open("wb") as f:
                    f.write(b"probe")
                ok = seen.wait(timeout)
        finally:
            with self._probe_lock:
                self._probe = None
            with contextlib.suppress(OSError):
                target.unlink()
            with self._lock, contextlib.suppress(KeyError, OSError):
                if handle is not None and self._roots.native is native:
                    native.unschedule(handle)
        if not ok:
            self._go_blind(timeout)
        return ok

    def _go_blind(self, timeout: float) -> None:
        with self._lock:
            if not self._running:
                return
            log.warning(
                "file watching does not work here: no event arrived within %g s of a write "
                "to the probe folder; polling every %g s instead",
                timeout,
                self.poll_interval,
            )
            self._blind = True
            roots = self._roots
            roots.native_unavailable = True
            for root, mode in list(roots.modes.items()):
                if mode is WatchMode.NATIVE:
                    roots.unschedule(root)
                    roots.schedule_polling(root)
            if roots.native is not None:
                roots.native.stop()
                roots.native = None

    # --- mounts --------------------------------------------------------------------------

    def _mounts_changed(self, changed: set[str]) -> None:
        """Called from the mount watcher's thread: re-watch and rescan what moved."""
        with self._lock:
            if not self._running:
                return
            wanted = top_roots(self._rules.roots, self._rules)
            hit = affected_roots(wanted, changed)
            if not hit:
                return
            for root in sorted(hit):
                log.info("a filesystem was mounted or unmounted at %s: watching %s again "
                         "and rescanning it", ", ".join(sorted(changed)), root)
                if root in self._roots.watches:
                    self._roots.unschedule(root)
                self._roots.schedule(root)
        self._rescan(sorted(hit))

    def _look_for_missing(self) -> None:
        """Called every ``poll_interval`` from the mount watcher's thread: an include
        folder that was missing (a late ``mkdir``, a disk that appeared without a mount
        change we could see) is watched and rescanned as soon as it is there."""
        with self._lock:
            if not self._running:
                return
            missing = [r for r in top_roots(self._rules.roots, self._rules)
                       if r not in self._roots.watches]
            appeared = []
            for root in missing:
                if root.is_dir():
                    self._roots.schedule(root)
                    if root in self._roots.watches:
                        appeared.append(root)
                        log.info("include folder %s is there now: watching and scanning it",
                                 root)
        self._rescan(appeared)

    def _rescan(self, roots: list[Path]) -> None:
        if self._on_rescan is None:
            return
        for root in roots:
            try:
                self._on_rescan(root)
            except Exception:
                log.exception("on_rescan(%s) failed", root)

    # --- falling back (a folder created at run time could not be watched) ---------------

    def _fall_back_later(self, key: str) -> None:
        """Run in its own thread: a folder created at run time could not be watched."""
        with self._lock:
            if not self._roots.fall_back_if_exhausted(key, self._running):
                return  # handled where the root was scheduled, or gone
        self._notify_overflow()

    # --- events (the backends' threads) --------------------------------------------------

    def _prune(self, path: str) -> bool:
        return prune_dir(self._rules, path, os.path.basename(path))

    def _scandir_pruned(self, path: str | None) -> Iterator[os.DirEntry[str]]:
        return scandir_pruned(self._rules, self._media, path)

    def _on_event(self, kind: EventKind, path: str, is_dir: bool) -> None:
        probe = self._probe
        if probe is not None and path.startswith(probe[0]):
            probe[1].set()
            return
        if is_dir and kind not in _DIR_KINDS:
            return
        if not accept(self._rules, self._media, path, is_dir):
            return
        try:
            self._on_change(Path(path), kind)
        except Exception:
            log.exception("on_change(%s, %s) failed", path, kind)

    def _notify_overflow(self) -> None:
        if self._on_overflow is None:
            return
        try:
            self._on_overflow()
        except Exception:
            log.exception("on_overflow() failed")


class _Hooks:
    """The backends' view of a :class:`FolderWatcher` (see WatchHooks)."""

    def __init__(self, watcher: FolderWatcher) -> None:
        self._w = watcher

    def event(self, kind: EventKind, path: str, is_dir: bool) -> None:
        self._w._on_event(kind, path, is_dir)

    def prune(self, path: str) -> bool:
        return self._w._prune(path)

    def watch_failed(self, root: str, path: str, err: OSError) -> None:
        w = self._w
        # Switch in another thread: we are inside the backend's lock here.
        if w._roots.exhausted_below(root, err):
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
