"""Notice filesystems mounted over, or unmounted from, a watched folder.

A watch is on an inode: when a USB disk or a network share is mounted over a watched
folder (or late, at a folder the watcher could not watch yet), the old watch sees nothing
of the new filesystem, and without help only the periodic rescan would find its photos.
The kernel marks ``/proc/self/mountinfo`` readable (POLLPRI) whenever the mount table
changes; :class:`MountWatcher` waits for that in a thread, compares the mount points
before and after, and reports the ones that changed. Which watched roots that touches is
a pure decision (:func:`affected_roots`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
from collections.abc import Callable, Iterable
from pathlib import Path

from immich_backupd.watch.pollthread import PollThread

__all__ = ["MOUNTINFO", "MountWatcher", "affected_roots", "changed_mount_points",
           "mount_points"]

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mount_points(text: str) -> frozenset[tuple[str, str]]:
    """Return (mount id, mount point) for each line of a mountinfo text. The id tells a
    new mount at the same place from the old one. Malformed lines are skipped."""
    out: set[tuple[str, str]] = set()
    for line in text.splitlines():
        fields = line.split(" ", 5)
        if len(fields) >= 5:
            out.add((fields[0], _unescape(fields[4])))
    return frozenset(out)


def changed_mount_points(before: frozenset[tuple[str, str]],
                         after: frozenset[tuple[str, str]]) -> set[str]:
    """Return the mount points that were mounted or unmounted between two readings."""
    return {point for _, point in before ^ after}


def affected_roots(roots: Iterable[Path], changed: Iterable[str]) -> set[Path]:
    """Return the roots whose view of the filesystem a change at the mount points
    ``changed`` alters: a mount at the root, below it, or above it (over a parent)."""
    points = [Path(p) for p in changed]
    hit: set[Path] = set()
    for root in roots:
        for point in points:
            if point == root or root in point.parents or point in root.parents:
                hit.add(root)
                break
    return hit


class MountWatcher:
    """Call ``on_change(changed_mount_points)`` from a thread whenever the mount table
    changes, and ``on_tick()`` when ``tick`` seconds passed without a change (the owner
    looks for folders that appeared without a mount: a late ``mkdir``). Where
    ``/proc/self/mountinfo`` cannot be polled (not Linux), ``start`` returns False and
    nothing is watched."""

    def __init__(self, on_change: Callable[[set[str]], None],
                 path: str = MOUNTINFO, *, on_tick: Callable[[], None] | None = None,
                 tick: float = 5.0) -> None:
        self._on_change = on_change
        self._on_tick = on_tick
        self._tick_ms = int(tick * 1000) if on_tick is not None else None
        self._path = path
        self._thread: PollThread | None = None
        self._file: object = None

    def start(self) -> bool:
        if self._thread is not None:
            return True
        try:
            f = open(self._path, "rb", buffering=0)  # noqa: SIM115 - closed in stop()
        except OSError:
            return False
        self._file = f
        self._thread = PollThread(self._run, mount_points(self._read()), name="mount-watch")
        self._thread.start()
        return True

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.stop()
        with contextlib.suppress(OSError):
            self._file.close()  # type: ignore[attr-defined]

    def _read(self) -> str:
        f = self._file
        f.seek(0)  # type: ignore[attr-defined]
        chunks = []
        while chunk := f.read(65536):  # type: ignore[attr-defined]
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "surrogateescape")

    def _run(self, stop_fd: int, current: frozenset[tuple[str, str]]) -> None:
        poller = select.poll()
        poller.register(self._file.fileno(), select.POLLPRI | select.POLLERR)  # type: ignore[attr-defined]
        poller.register(stop_fd, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll(self._tick_ms)}
            if stop_fd in ready:
                return
            if not ready:
                assert self._on_tick is not None
                try:
                    self._on_tick()
                except Exception:
                    log.exception("on_tick() failed")
                continue
            try:
                after = mount_points(self._read())
            except OSError as err:  # pragma: no cover - /proc went away
                log.warning("cannot read %s: %s; mounts are no longer watched", self._path, err)
                return
            changed = changed_mount_points(current, after)
            current = after
            if changed:
                try:
                    self._on_change(changed)
                except Exception:
                    log.exception("on_change(%s) failed", changed)
