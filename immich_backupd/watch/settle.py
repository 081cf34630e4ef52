"""Hold back files that are still being written, until they settle.

A photo copied over SMB or a video still being exported looks like any other new file;
uploading it then backs up a torso, and Immich would keep that torso as the asset. A file
is *settled* when no writer holds it open and its size and mtime have not moved for a
quiet period.

Pure: times are arguments, so the rule is tested with a fake clock. The one I/O helper,
:func:`read_signature`, is a ``stat``. What inotify can and cannot tell us:

* ``IN_OPEN`` fires for readers too (our own hasher, thumbnailers, media servers), so an
  "opened" event does not mean "open for writing". A write (``IN_MODIFY``, watchdog's
  "modified") does: someone holds the file open for writing until the matching
  ``IN_CLOSE_WRITE`` (watchdog's "closed"), which the kernel sends even when the writer
  is killed. :meth:`SettleTracker.on_event` applies exactly that reading.
* A write whose close we never see (``truncate`` by path, a close lost in a queue
  overflow) would hold a file back forever, so an "open" file that has not changed for
  ``open_timeout`` counts as closed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_QUIET = 1.0
"""Seconds a file's size and mtime must stay put: longer than a copy's pause between
writes, short enough not to be noticed after the debounce delay."""

DEFAULT_OPEN_TIMEOUT = 600.0
"""Seconds after which a file seen written but never closed, and unchanged since, is
treated as closed (its close event was lost)."""


@dataclass(slots=True)
class _Entry:
    size: int | None = None  # None until the first observe()
    mtime_ns: int | None = None
    changed_at: float | None = None  # last change of signature or last activity event
    open_for_write: bool = False
    completed: bool = False  # a writer's close, or a move in, came after the last write


class SettleTracker:
    """Per path: the last (size, mtime_ns) seen, when it last changed, whether it is open.

    The daemon feeds it the watcher's events (:meth:`on_event`) and a ``stat`` of each
    path when a batch comes due (:meth:`observe`), asks :meth:`is_settled`, and calls
    :meth:`forget` once the path is handled. A path is tracked until forgotten: the
    daemon also forgets, after each pass, the paths whose events the pass made moot
    (:meth:`forget_before`), so memory is bounded by the daemon's batches. Not
    thread-safe (it lives on the event loop).
    """

    __slots__ = ("_entries", "open_timeout")

    def __init__(self, *, open_timeout: float | None = DEFAULT_OPEN_TIMEOUT) -> None:
        self._entries: dict[Path, _Entry] = {}
        self.open_timeout = open_timeout

    def __repr__(self) -> str:
        open_count = sum(e.open_for_write for e in self._entries.values())
        return f"SettleTracker(tracked={len(self._entries)}, open={open_count})"

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def _entry(self, path: Path) -> _Entry:
        entry = self._entries.get(path)
        if entry is None:
            entry = self._entries[path] = _Entry()
        return entry

    @staticmethod
    def _touch(entry: _Entry, now: float | None) -> None:
        if now is not None and (entry.changed_at is None or now > entry.changed_at):
            entry.changed_at = now

    # --- inputs --------------------------------------------------------------------------

    def observe(self, path: Path, size: int, mtime_ns: int, now: float) -> bool:
        """Record a ``stat`` of ``path`` taken at ``now``; return True if it changed.

        The first observation of a path the tracker already heard events about keeps the
        time of the last event as "last change", so a file written once and quiet since
        is settled at its first ``stat``; without any event it counts as changed ``now``.
        """
        entry = self._entry(path)
        if entry.size is None:
            entry.size, entry.mtime_ns = size, mtime_ns
            if entry.changed_at is None:
                entry.changed_at = now
            return True
        if (size, mtime_ns) == (entry.size, entry.mtime_ns):
            return False
        entry.size, entry.mtime_ns = size, mtime_ns
        self._touch(entry, now)
        return True

    def opened_for_write(self, path: Path, now: float | None = None) -> None:
        """Record that a writer holds ``path`` open (``now``, if given, is activity)."""
        entry = self._entry(path)
        entry.open_for_write = True
        entry.completed = False
        self._touch(entry, now)

    def closed(self, path: Path, now: float | None = None) -> None:
        """Record that the writer closed ``path``; the quiet period counts from ``now``."""
        entry = self._entry(path)
        entry.open_for_write = False
        entry.completed = True
        self._touch(entry, now)

    def on_event(self, path: Path, kind: str, now: float) -> None:
        """Apply one watcher event (``FolderWatcher`` kinds) at time ``now``.

        "modified" marks the file open for writing (a write implies a writer), "closed"
        closes it, "deleted" forgets it; "created", "moved", "attrib" (times set after
        the last write, with no close to follow) and "opened" (may be a reader) are
        activity only.
        """
        if kind == "modified":
            self.opened_for_write(path, now)
        elif kind == "closed":
            self.closed(path, now)
        elif kind == "deleted":
            self.forget(path)
        else:
            entry = self._entry(path)
            if kind == "moved":
                entry.completed = True  # renamed into place: written elsewhere, whole
            elif kind == "created":
                entry.completed = False
            self._touch(entry, now)

    def forget(self, path: Path) -> None:
        """Stop tracking ``path`` (handled, deleted, or no longer a candidate)."""
        self._entries.pop(path, None)

    def forget_before(self, before: float, now: float, keep: Callable[[Path], bool]) -> int:
        """Forget every path whose last event or change came before ``before`` and that
        no writer holds open at ``now``, unless ``keep(path)``; return how many.

        For the daemon, after a pass that began at ``before`` and listed these paths'
        folders: it asked about every new or changed file (:meth:`verdict`), which
        forgot it or held it (``keep`` names the held ones). What is left came from
        events that changed nothing a pass backs up (a chmod, a file opened for
        writing and closed unchanged, a sidecar) and would be kept for ever. Should
        such a file change later without an event (a writer on another machine), the
        next pass judges it by its mtime, as any file no event spoke of."""
        gone = [p for p, e in self._entries.items()
                if e.changed_at is not None and e.changed_at < before
                and not self._open(e, now) and not keep(p)]
        for p in gone:
            del self._entries[p]
        return len(gone)

    # --- decisions -----------------------------------------------------------------------

    def _open(self, entry: _Entry, now: float) -> bool:
        if not entry.open_for_write:
            return False
        timeout = self.open_timeout
        if timeout is None or entry.changed_at is None:
            return True
        return now - entry.changed_at < timeout

    def completed(self, path: Path) -> bool:
        """Return True when the events show the file finished: a writer closed it (or it
        was moved into place) after its last write. A file only seen created (a hard
        link, a writer on another machine whose writes make no local events) is not."""
        entry = self._entries.get(path)
        return entry is not None and entry.completed

    def is_settled(self, path: Path, now: float, quiet: float = DEFAULT_QUIET) -> bool:
        """Return True when ``path`` may be uploaded: observed at least once, not open for
        writing, and its size/mtime unchanged (and no event) for at least ``quiet``."""
        entry = self._entries.get(path)
        if entry is None or entry.size is None or entry.changed_at is None:
            return False
        if self._open(entry, now):
            return False
        return now - entry.changed_at >= quiet

    def verdict(self, path: Path, size: int, mtime_ns: int,
                now: float) -> Literal["hold", "settled", "unknown"]:
        """Judge a file about to be backed up by its events, seen now at ``size`` and
        ``mtime_ns``: still being written ("hold"), or written, closed (or moved in) and
        quiet ("settled": it need not wait for a settle time; it is forgotten). A file no
        event spoke of, or one only seen created (settled, then forgotten), is "unknown":
        only a close or a move in vouches for the whole file, else its mtime decides."""
        if path not in self:
            return "unknown"
        self.observe(path, size, mtime_ns, now)
        if not self.is_settled(path, now):
            return "hold"
        completed = self.completed(path)
        self.forget(path)
        return "settled" if completed else "unknown"

    def settles_at(self, path: Path, quiet: float = DEFAULT_QUIET) -> float | None:
        """Return the earliest time ``path`` can be settled if nothing else happens.

        None when it was never observed (``stat`` it first). For a file open for writing,
        the time the open is considered stale (or None without ``open_timeout``): its
        close event will come sooner in practice. The daemon re-checks at that time.
        """
        entry = self._entries.get(path)
        if entry is None or entry.size is None or entry.changed_at is None:
            return None
        if entry.open_for_write:
            if self.open_timeout is None:
                return None
            return entry.changed_at + max(self.open_timeout, quiet)
        return entry.changed_at + quiet


def read_signature(path: Path) -> tuple[int, int] | None:
    """Return ``(size, mtime_ns)`` of ``path``, or None if it is gone (a dangling link too).

    Other errors (e.g. PermissionError) propagate: the caller reports them.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size, st.st_mtime_ns
