"""A recursive folder watcher on the kernel's inotify (Linux), the native backend there.

One inotify instance, one watch per folder, one reader thread. Beyond what a plain
recursive watcher does, for a photo library:

* ignored and excluded folders (``WatchHooks.prune``) get no watch, at start and when
  created later: on a Synology share ``@eaDir`` and ``#snapshot`` alone could exhaust
  ``fs.inotify.max_user_watches``;
* a folder below a root that cannot be watched for lack of watches or instances is
  reported (``watch_failed``) instead of silently left unwatched;
* after a kernel queue overflow every tree is walked again for folders that lack a
  watch, and ``overflowed`` is called so the owner rescans what the lost events were
  about;
* a folder created (or moved in) is walked once its watch is in place and its contents
  are reported "created": files written before the watch existed are not missed. A folder
  moved inside the watched trees keeps its watches, and its files are reported as moved.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
from collections.abc import Iterator

from immich_backupd.watch.backend import EventKind, WatchHooks
from immich_backupd.watch.inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_DONT_FOLLOW,
    IN_IGNORED,
    IN_ISDIR,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    IN_OPEN,
    IN_Q_OVERFLOW,
    Inotify,
    RawEvent,
)
from immich_backupd.watch.pollthread import PollThread

__all__ = ["InotifyBackend"]

log = logging.getLogger(__name__)

_OUT_OF_WATCHES = (errno.ENOSPC, errno.EMFILE)
_MASK = (IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
         | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

Report = tuple[EventKind, str, bool]


class InotifyBackend:
    """Watch folder trees with inotify and tell ``hooks`` (see :class:`Backend`).

    Hooks are called from the reader thread; ``event`` never with the lock held,
    ``prune`` and ``watch_failed`` with it (they must not call back in).
    ``report_opens`` also asks for IN_OPEN ("opened": readers too, inotify cannot tell).
    """

    def __init__(self, hooks: WatchHooks, *, report_opens: bool = False) -> None:
        self._hooks = hooks
        self._mask = _MASK | (IN_OPEN if report_opens else 0)
        self._lock = threading.Lock()
        self._ino: Inotify | None = None
        self._thread: PollThread | None = None
        self._path_of: dict[int, str] = {}  # wd -> folder
        self._wd_of: dict[str, int] = {}  # folder -> wd
        self._root_of: dict[int, str] = {}  # wd -> the root it was added for
        self._roots: set[str] = set()
        self._moved_from: dict[int, str] = {}  # cookie -> folder moved away, not yet placed

    def __repr__(self) -> str:
        return f"InotifyBackend(roots={sorted(self._roots)!r}, watches={len(self._path_of)})"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Create the inotify instance and the reader thread. Raise OSError (EMFILE when
        ``fs.inotify.max_user_instances`` is used up)."""
        if self._thread is not None:
            return
        self._ino = Inotify()
        self._thread = PollThread(self._run, name="inotify")
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread and drop every watch. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.stop()
        with self._lock:
            if self._ino is not None:
                self._ino.close()
            self._ino = None
            self._path_of.clear()
            self._wd_of.clear()
            self._root_of.clear()
            self._roots.clear()

    # --- roots ---------------------------------------------------------------------------

    def schedule(self, root: str) -> str:
        """Watch ``root`` and every folder below it that is not pruned. Raise OSError when
        ``root`` itself cannot be watched; folders below that fail are skipped (and
        reported through ``watch_failed`` when watches ran out)."""
        with self._lock:
            if self._ino is None:
                raise OSError(errno.EBADF, "the watcher is not running")
            self._add(root, root)
            self._roots.add(root)
            self._add_tree(root, root, None)
        return root

    def unschedule(self, handle: object) -> None:
        """Remove every watch added for the root ``handle`` (as returned by schedule)."""
        root = str(handle)
        with self._lock:
            if root not in self._roots:
                raise KeyError(root)
            self._roots.discard(root)
            for wd in [wd for wd, r in self._root_of.items() if r == root]:
                self._remove(wd, rm=True)

    # --- watches (under the lock) --------------------------------------------------------

    def _add(self, path: str, root: str) -> int | None:
        assert self._ino is not None
        old = self._wd_of.get(path)
        try:
            wd = self._ino.add_watch(path, self._mask)
        except OSError as err:
            if path == root:
                raise
            if err.errno in _OUT_OF_WATCHES:
                self._hooks.watch_failed(root, path, err)
            return None  # vanished or unreadable: the rescan covers it
        if old is not None and old != wd:  # a new folder under a reused name
            self._forget(old)
        self._path_of[wd] = path
        self._wd_of[path] = wd
        self._root_of.setdefault(wd, root)
        return wd

    def _forget(self, wd: int) -> None:
        path = self._path_of.pop(wd, None)
        self._root_of.pop(wd, None)
        if path is not None and self._wd_of.get(path) == wd:
            del self._wd_of[path]

    def _remove(self, wd: int, *, rm: bool) -> None:
        if rm and self._ino is not None:
            with contextlib.suppress(OSError):
                self._ino.rm_watch(wd)
        self._forget(wd)

    def _remove_tree(self, top: str) -> None:
        prefix = top + "/"
        for wd, path in list(self._path_of.items()):
            if path == top or path.startswith(prefix):
                self._remove(wd, rm=True)

    def _add_tree(self, top: str, root: str, reports: list[Report] | None) -> None:
        """Watch the folders below ``top`` (``top``'s own watch is in place). With
        ``reports``, also report everything found as created: it may predate the watch."""
        for path, is_dir in self._walk(top):
            if is_dir:
                if self._hooks.prune(path):
                    continue
                self._add(path, root)
            if reports is not None:
                reports.append(("created", path, is_dir))

    def _walk(self, top: str) -> Iterator[tuple[str, bool]]:
        """Yield (path, is_dir) below ``top``, top-down, not into pruned folders nor
        through symlinks. A folder is yielded before its contents, so a caller may
        prune it by not watching it (checked again here)."""
        stack = [top]
        while stack:
            current = stack.pop()
            try:
                with os.scandir(current) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                yield entry.path, is_dir
                if is_dir and not self._hooks.prune(entry.path):
                    stack.append(entry.path)

    def _rename_tree(self, old: str, new: str) -> None:
        prefix = old + "/"
        for wd, path in list(self._path_of.items()):
            if path == old or path.startswith(prefix):
                moved = new + path[len(old):]
                if self._wd_of.get(path) == wd:
                    del self._wd_of[path]
                self._path_of[wd] = moved
                self._wd_of[moved] = wd

    # --- events --------------------------------------------------------------------------

    def _run(self, stop_fd: int) -> None:
        ino = self._ino
        assert ino is not None
        poller = select.poll()
        poller.register(ino.fileno(), select.POLLIN)
        poller.register(stop_fd, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if stop_fd in ready:
                return
            try:
                self._drain(ino)
            except Exception:  # never let one odd event kill the watcher
                log.exception("inotify: handling events failed")

    def _drain(self, ino: Inotify) -> None:
        while True:
            with self._lock:
                if self._ino is None:
                    return
                events = ino.read()
                if not events:
                    self._settle_moves()
                    return
                reports = self.handle(events)
            for kind, path, is_dir in reports:
                self._hooks.event(kind, path, is_dir)

    def handle(self, events: list[RawEvent]) -> list[Report]:
        """Apply ``events`` to the watch table and return what to report (call with the
        lock held; public for tests, which feed it events such as a queue overflow)."""
        reports: list[Report] = []
        for ev in events:
            if ev.mask & IN_Q_OVERFLOW:
                self._overflowed()
                continue
            if ev.mask & IN_IGNORED:
                self._forget(ev.wd)
                continue
            folder = self._path_of.get(ev.wd)
            if folder is None:
                continue
            if not ev.name:  # about the watched folder itself
                if ev.mask & IN_MOVE_SELF and folder in self._roots:
                    log.warning("the watched folder %s was moved away; the rescan covers it",
                                folder)
                    self._remove_tree(folder)
                continue
            path = folder + "/" + os.fsdecode(ev.name)
            root = self._root_of.get(ev.wd, folder)
            is_dir = bool(ev.mask & IN_ISDIR)
            if is_dir:
                self._dir_event(ev, path, root, reports)
            else:
                self._file_event(ev, path, reports)
        return reports

    def _file_event(self, ev: RawEvent, path: str, reports: list[Report]) -> None:
        mask = ev.mask
        if mask & IN_CREATE:
            reports.append(("created", path, False))
        if mask & IN_MOVED_FROM:
            reports.append(("deleted", path, False))
        if mask & IN_MOVED_TO:
            # Renamed into place, from a watched folder or from outside them all (a
            # download or a copy finished in a temporary folder): whole either way.
            reports.append(("moved", path, False))
        if mask & IN_MODIFY:
            reports.append(("modified", path, False))
        if mask & IN_ATTRIB:
            reports.append(("attrib", path, False))
        if mask & IN_OPEN:
            reports.append(("opened", path, False))
        if mask & IN_CLOSE_WRITE:
            reports.append(("closed", path, False))
        if mask & IN_DELETE:
            reports.append(("deleted", path, False))

    def _dir_event(self, ev: RawEvent, path: str, root: str, reports: list[Report]) -> None:
        mask = ev.mask
        if mask & IN_CREATE:
            self._new_dir(path, root, reports, "created")
        elif mask & IN_DELETE:
            reports.append(("deleted", path, True))
        elif mask & IN_MOVED_FROM:
            reports.append(("deleted", path, True))
            self._moved_from[ev.cookie] = path
        elif mask & IN_MOVED_TO:
            old = self._moved_from.pop(ev.cookie, None)
            if old is None:  # from outside every watched tree
                self._new_dir(path, root, reports, "created")
                return
            self._rename_tree(old, path)
            reports.append(("moved", path, True))
            for sub, sub_is_dir in self._walk(path):
                if sub_is_dir and sub not in self._wd_of and not self._hooks.prune(sub):
                    self._add(sub, root)
                reports.append(("deleted", old + sub[len(path):], sub_is_dir))
                reports.append(("moved", sub, sub_is_dir))

    def _new_dir(self, path: str, root: str, reports: list[Report], kind: EventKind) -> None:
        if self._hooks.prune(path):
            reports.append((kind, path, True))  # the owner filters; it gets no watch
            return
        reports.append((kind, path, True))
        if self._add(path, root) is not None:
            self._add_tree(path, root, reports)

    def _settle_moves(self) -> None:
        """The queue is drained: a folder moved away whose destination never came was
        moved out of every watched tree; its watches (which follow the inode) go."""
        for old in self._moved_from.values():
            self._remove_tree(old)
        self._moved_from.clear()

    def _overflowed(self) -> None:
        for root in sorted(self._roots):
            self._add_tree(root, root, None)
        self._moved_from.clear()
        self._hooks.overflowed()
