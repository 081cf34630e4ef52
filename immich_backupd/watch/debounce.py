"""Debounce file-system events into backup batches: when to start a pass, and for what.

Pure: every call takes the (monotonic) time as an argument, so the timing rules are tested
with a fake clock and Hypothesis instead of sleeping. Follows Syncthing's watchaggregator:

* a batch is due ``trigger_delay`` after the *last* change, so a copy of 500 photos becomes
  one pass, not 500;
* but never later than ``max_delay`` after the *first* pending change, so a folder that
  never stops changing (a camera dump over a slow link, a sync client) is still backed up;
* too many changes in one folder collapse into "rescan this folder", and too many overall
  into "rescan everything", so memory stays flat whatever storm the file system throws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_PATHS = 10_000
"""Above this many pending paths a full rescan is cheaper than tracking each one."""

DEFAULT_MAX_PER_DIR = 1_000
"""Above this many pending paths in one folder, that folder is rescanned instead."""


@dataclass(frozen=True, slots=True)
class Batch:
    """What a triggered pass must look at.

    ``paths`` are single files or folders to re-examine. ``dirs_to_rescan`` are folders to
    walk again, recursively (too many changes landed in them to list one by one); no path
    in ``paths`` lies below one of them. ``full_rescan`` means walk every include folder:
    then ``paths`` and ``dirs_to_rescan`` are empty, because the rescan covers them.
    """

    paths: frozenset[Path] = field(default_factory=frozenset)
    full_rescan: bool = False
    dirs_to_rescan: frozenset[Path] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return self.full_rescan or bool(self.paths) or bool(self.dirs_to_rescan)


class Debouncer:
    """Collect changed paths and say when the next backup pass is due.

    ``trigger_delay`` and ``max_delay`` are in the clock's unit (seconds); ``max_delay``
    must be at least ``trigger_delay``. Raise ValueError otherwise, or for a non-positive
    ``max_paths`` / ``max_per_dir``.

    Not thread-safe: the daemon feeds it from its event loop only (the watcher's thread
    hops onto the loop first).
    """

    __slots__ = (
        "_dirs",
        "_first",
        "_full",
        "_last",
        "_max_paths",
        "_max_per_dir",
        "_paths",
        "_per_dir",
        "last_taken",
        "max_delay",
        "trigger_delay",
    )

    def __init__(
        self,
        trigger_delay: float,
        max_delay: float,
        *,
        max_paths: int = DEFAULT_MAX_PATHS,
        max_per_dir: int = DEFAULT_MAX_PER_DIR,
    ) -> None:
        if trigger_delay < 0:
            raise ValueError(f"trigger_delay must not be negative: {trigger_delay!r}")
        if max_delay < trigger_delay:
            raise ValueError(
                f"max_delay ({max_delay!r}) must be at least trigger_delay ({trigger_delay!r})"
            )
        if max_paths < 1 or max_per_dir < 1:
            raise ValueError("max_paths and max_per_dir must be at least 1")
        self.trigger_delay = trigger_delay
        self.max_delay = max_delay
        self._max_paths = max_paths
        self._max_per_dir = max_per_dir
        self._paths: set[Path] = set()
        self._per_dir: dict[Path, set[Path]] = {}  # parent -> its pending paths
        self._dirs: set[Path] = set()  # collapsed folders (recursive rescans)
        self._full = False
        self._first: float | None = None  # time of the first pending change
        self._last: float | None = None  # time of the latest change
        self.last_taken: float | None = None
        """When :meth:`take` last ran (for status output); None before the first batch."""

    def __repr__(self) -> str:
        return (
            f"Debouncer(pending={len(self._paths)}, dirs={len(self._dirs)}, "
            f"full_rescan={self._full}, deadline={self.next_deadline()!r})"
        )

    @property
    def pending(self) -> int:
        """How many single paths wait (collapsed folders and a full rescan not counted)."""
        return len(self._paths)

    def pending_paths(self) -> frozenset[Path]:
        """The single paths that wait (collapsed folders and a full rescan not listed)."""
        return frozenset(self._paths)

    def _arm(self, now: float) -> None:
        if self._first is None:
            self._first = now
        if self._last is None or now > self._last:
            self._last = now  # an event hopping late from another thread never moves it back

    def add(self, path: Path, now: float) -> None:
        """Record that ``path`` changed at time ``now``."""
        self._arm(now)
        if self._full or self._under_collapsed(path):
            return
        if path in self._paths:
            return
        self._paths.add(path)
        parent = path.parent
        siblings = self._per_dir.setdefault(parent, set())
        siblings.add(path)
        if len(siblings) > self._max_per_dir:
            self._paths.difference_update(siblings)
            del self._per_dir[parent]
            self._dirs.add(parent)
        if len(self._paths) + len(self._dirs) > self._max_paths:
            self._go_full()

    def request_full_rescan(self, now: float) -> None:
        """Make the next batch a full rescan (e.g. the kernel dropped events), due as usual.

        ``now`` arms the timer like a change does, so the rescan happens even if no other
        event follows, but it is not started while changes are still pouring in.
        """
        self._arm(now)
        self._go_full()

    def _go_full(self) -> None:
        self._full = True
        self._paths.clear()
        self._per_dir.clear()
        self._dirs.clear()

    def _under_collapsed(self, path: Path) -> bool:
        dirs = self._dirs
        return bool(dirs) and (path in dirs or any(p in dirs for p in path.parents))

    def next_deadline(self) -> float | None:
        """Return when the pending changes are due: ``min(last + trigger_delay,
        first + max_delay)``, or None when nothing is pending."""
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.trigger_delay, self._first + self.max_delay)

    def due(self, now: float) -> bool:
        """Return True when a pass should start now."""
        deadline = self.next_deadline()
        return deadline is not None and now >= deadline

    def take(self, now: float) -> Batch:
        """Return everything pending as a :class:`Batch` and start afresh.

        Takes whether or not the batch is due (a shutdown or a manual trigger flushes early);
        an empty Batch (falsy) when nothing was pending.
        """
        self.last_taken = now
        if self._full:
            batch = Batch(full_rescan=True)
        else:
            dirs = frozenset(d for d in self._dirs if not any(p in self._dirs for p in d.parents))
            paths = self._paths
            if dirs:
                paths = {p for p in paths if not any(a in dirs for a in p.parents)}
            batch = Batch(frozenset(paths), False, dirs)
        self._paths = set()
        self._per_dir = {}
        self._dirs = set()
        self._full = False
        self._first = self._last = None
        return batch
