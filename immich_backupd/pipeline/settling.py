"""Files still being written wait until they settle; a pass never reads a torso.

A photo copied over SMB or a camera import looks like any other new file while it is
written. The rule, for every pass (``once``, the daemon's full rescans and its
event-triggered passes alike):

* a new or changed file whose modification time is at least ``settle_time`` old at the
  scan is *settled*: nothing has written to it for that long. The hasher then checks
  that its size, mtime and inode are still the scan's (``digest.hash_file``), and the
  upload checks them again before its last byte (``immich.multipart``): a write after
  the scan makes it wait again, never go up torn;
* a file modified within ``settle_time`` is *held* until its mtime is that old. A pass
  may wait for it (``once``, up to a bound), stat it again, and back it up then; a
  file written to meanwhile is held again.

Only the scan's own stat is used: unchanged files (most of a rescan) are never looked
at, and old photos imported for the first time never wait. A modification time further
in the future than ``settle_time`` (a camera with a wrong clock) says nothing about
writing now, and does not hold a file; one a little in the future (a file server whose
clock is ahead) holds it until ``settle_time`` after it.

:func:`settles_at` is the decision (pure, time passed in); :class:`SettleQueue` keeps
the held files of a pass with what planning them needs; :func:`restat` is its I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..scan.changes import FileStat
from ..state import FileRecord

log = logging.getLogger("immich_backupd.pipeline")

SETTLE_WAIT_FACTOR = 4
"""``once`` waits up to this many settle periods for held files, then reports them."""


def settles_at(mtime_ns: int, now: float, settle_time: float) -> float | None:
    """When a file last modified at ``mtime_ns`` is settled, seen at wall time ``now``.

    None when it is settled now (its mtime is at least ``settle_time`` old, or further
    in the future than ``settle_time``: a wrong clock); else the wall time at which it
    will be, if nothing writes to it before.
    """
    mtime = mtime_ns / 1e9
    if mtime <= now - settle_time or mtime > now + settle_time:
        return None
    return mtime + settle_time


def recent_after_ns(now: float, settle_time: float) -> int:
    """The mtime (ns) above which a file may be unsettled at ``now``: one comparison per
    new file finds the few :func:`settles_at` must look at."""
    return int((now - settle_time) * 1e9)


@dataclass(slots=True)
class HeldFolder:
    """The held files of one folder, with what :func:`plan.plan_dir` needs for them."""

    path: Path
    kinds: Mapping[str, str]
    sidecars: Mapping[str, str]
    records: Mapping[str, FileRecord]
    album: str | None  # None: the include folder has `album: none`
    pairs: Mapping[str, str]  # its live photos, still -> video (``DirListing.pairs``)
    files: dict[str, FileStat] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)  # name -> wall time it settles


class SettleQueue:
    """The files a pass holds back until they settle, by folder.

    Live photos stay together: when one half is held, so is the other, and they are
    released together (so the still is linked to its video). Not thread-safe: it lives
    on the pass's event loop.
    """

    __slots__ = ("_folders", "settle_time")

    def __init__(self, settle_time: float) -> None:
        self.settle_time = settle_time
        self._folders: dict[Path, HeldFolder] = {}

    def __len__(self) -> int:
        return sum(len(f.files) for f in self._folders.values())

    def paths(self) -> list[Path]:
        """Every held file."""
        return [f.path / name for f in self._folders.values() for name in f.files]

    def next_at(self) -> float | None:
        """The earliest wall time a held file may settle; None when none is held."""
        times = [t for f in self._folders.values() for t in f.until.values()]
        return min(times) if times else None

    def hold_recent(self, folder: HeldFolder, files: list[FileStat], now: float
                    ) -> list[FileStat]:
        """Hold the files of ``folder`` (its scan's ``files``, seen at ``now``) that may
        still be being written; return the others, to plan now. One comparison a file
        when none is recent (the common case)."""
        recent_after = recent_after_ns(now, self.settle_time)
        if all(st.mtime_ns <= recent_after for st in files):
            return files
        held: dict[str, float] = {}
        for st in files:
            if st.mtime_ns > recent_after:
                at = settles_at(st.mtime_ns, now, self.settle_time)
                if at is not None:
                    held[st.name] = at
        return self.hold(folder, held, files) if held else files

    def hold(
        self,
        folder: HeldFolder,
        held: Mapping[str, float],
        files: list[FileStat],
    ) -> list[FileStat]:
        """Hold the files of ``files`` named in ``held`` (name -> when it settles), and
        the live-photo partners of those; return the others, to plan now."""
        names = set(held)
        for still, video in folder.pairs.items():
            if still in names or video in names:
                names.update((still, video))
        entry = self._folders.get(folder.path)
        if entry is None:
            entry = self._folders[folder.path] = folder
        latest = max(held.values(), default=0.0)  # a partner waits with its other half
        keep: list[FileStat] = []
        for st in files:
            if st.name in names:
                entry.files[st.name] = st
                entry.until[st.name] = held.get(st.name, latest)
            else:
                keep.append(st)
        return keep

    def due(self, now: float) -> list[HeldFolder]:
        """The folders with a held file that may have settled by ``now``."""
        return [f for f in self._folders.values() if any(t <= now for t in f.until.values())]

    def release(
        self, folder: HeldFolder, stats: Mapping[str, FileStat | None], now: float
    ) -> list[FileStat]:
        """Judge a due folder's held files again by their new ``stats`` (None: gone);
        return the settled ones, to plan now, and hold the rest (a live photo whose
        other half is still held stays held with it)."""
        settled: set[str] = set()
        for name in list(folder.files):
            st = stats.get(name)
            if st is None:
                del folder.files[name]
                del folder.until[name]
                continue
            folder.files[name] = st
            at = settles_at(st.mtime_ns, now, self.settle_time)
            if at is None:
                settled.add(name)
            else:
                folder.until[name] = at
        for still, video in folder.pairs.items():
            if (still in settled) != (video in settled) and (
                    still in folder.files and video in folder.files):
                settled.discard(still)
                settled.discard(video)
                later = max(folder.until[still], folder.until[video], now)
                folder.until[still] = folder.until[video] = later
        out = [folder.files.pop(name) for name in sorted(settled)]
        for st in out:
            del folder.until[st.name]
        if not folder.files:
            self._folders.pop(folder.path, None)
        return out


def restat(folder: Path, names: list[str], *, follow_symlinks: bool) -> dict[str, FileStat | None]:
    """Stat held files again (in a thread: the folder may be on a network share)."""
    out: dict[str, FileStat | None] = {}
    for name in names:
        try:
            st = os.stat(folder / name, follow_symlinks=follow_symlinks)
        except OSError:
            out[name] = None  # gone (or unreadable: the next pass says why)
        else:
            out[name] = FileStat.from_stat_result(name, st)
    return out


async def wait_for_settled(
    queue: SettleQueue,
    *,
    clock: Callable[[], float],
    until: float,
    stop: asyncio.Event,
    follow_symlinks: bool,
    on_settled: Callable[[HeldFolder, list[FileStat]], Awaitable[None]],
) -> None:
    """Wait for the held files that may settle by wall time ``until`` (``clock``), stat
    them again when due, and hand the settled ones to ``on_settled``; return when none
    can settle in time any more, or ``stop`` is set. What is left stays in ``queue``."""
    said = -1
    while not stop.is_set() and (at := queue.next_at()) is not None and at <= until:
        if len(queue) != said:
            said = len(queue)
            log.info("waiting for %d file%s still being written", said,
                     "s" if said != 1 else "")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, at - clock())):
                await stop.wait()
        for held in queue.due(clock()):
            stats = await asyncio.to_thread(restat, held.path, list(held.files),
                                            follow_symlinks=follow_symlinks)
            files = queue.release(held, stats, clock())
            if files:
                await on_settled(held, files)
