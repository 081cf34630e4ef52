"""The one-time read of the Apple burst ids of photos backed up before they were read.

With ``backup.stacks.bursts`` on, the hash stage reads each new JPEG/HEIC's burst id
(hash.py). Photos backed up while it was off, or by an earlier release, have none in
the state (``files.burst`` NULL): switching bursts on for an existing library would
stack nothing, since an unchanged file is never hashed again. So, after the uploads of
a pass and before its stacks, :func:`catch_up_bursts` reads their headers once
(``appleburst.read_burst``: the Exif's place and three small directories, never the
image), in every folder, whether or not the pass backed up anything in it, and hands
the folders where it found a burst to the stacking.

Bounded: the rows come from the state a chunk at a time in key order (one scan of the
table over the whole catch-up), are read in a thread (never on the event loop), and a
pass reads for at most :data:`BUDGET` seconds and stops when the pass is stopped; the
next pass goes on where it stopped (the cursor in the state, see state/bursts.py).
Once every row was looked at, the state says so, and a later pass makes one meta
read for it, no query of the files. A pass with bursts off starts it over for the
next pass with bursts on (it records photos unread): :func:`forget_catch_up`, at its
start.

Not read, and left NULL: a cloud placeholder (reading it would download it), a file
whose stat no longer matches its record (changed: the scan hashes it again, which reads
its id), and one that cannot be read now. Each is read when its folder is next stacked
(stacking.py), like a frame whose read failed at hashing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..media.appleburst import BURST_EXTENSIONS, read_burst
from ..media.placeholders import suspect
from ..scan.changes import differs, is_placeholder
from ..state import StateStore, join_path
from ..state.bursts import CATCHUP_KEY, DONE, cursor_of, cursor_text

log = logging.getLogger("immich_backupd.stacks")

BUDGET = 60.0  # seconds of reading a pass, at most (then the next pass goes on)
CHUNK = 256  # rows a query, read in one hop to a thread

Row = tuple[int, bytes, bytes, int, int, int]  # folder id, folder, name, size, mtime, ino
Read = tuple[str, int, bytes, int, int, int]  # burst, folder id, name, size, mtime, ino


@dataclass(slots=True)
class CatchUp:
    """What one pass's catch-up did: headers ``read``, of which ``in_burst`` carry a
    burst id, in ``folders`` (to be stacked); ``done``: nothing is left to look at."""

    read: int = 0
    in_burst: int = 0
    folders: set[Path] = field(default_factory=set)
    done: bool = False


async def forget_catch_up(store: StateStore) -> None:
    """At the start of a pass with bursts off: the photos it records are not read, so
    a catch-up done or begun starts over in the next pass with bursts on. Before the
    pass records anything, so that a pass ended early (quota, offline, killed) cannot
    leave photos unread behind a catch-up marked done."""
    if await store.get_meta(CATCHUP_KEY):
        await store.set_meta(CATCHUP_KEY, "")


async def catch_up_bursts(store: StateStore, *, stopping: Callable[[], bool],
                          monotonic: Callable[[], float] = time.monotonic,
                          budget: float = BUDGET, chunk: int = CHUNK) -> CatchUp:
    """With bursts on, after the uploads: read the burst ids never read of the photos
    on the server (see the module's docstring)."""
    mark = await store.get_meta(CATCHUP_KEY)
    result = CatchUp(done=mark == DONE)
    if result.done:
        return result
    after = start = cursor_of(mark)
    until = monotonic() + budget
    while not stopping():
        rows = await store.unread_bursts(after, chunk, BURST_EXTENSIONS)
        if not rows:
            result.done = True
            break
        found = await asyncio.to_thread(read_rows, rows)
        await store.set_read_bursts(found)
        folders = {dir_id: folder for dir_id, folder, *_ in rows}
        result.read += len(found)
        for burst, dir_id, *_ in found:
            if burst:
                result.in_burst += 1
                result.folders.add(Path(os.fsdecode(folders[dir_id])))
        after = rows[-1][0], rows[-1][2]
        if monotonic() >= until:
            break
    if result.done:
        await store.set_meta(CATCHUP_KEY, DONE)
    elif after != start and after is not None:
        await store.set_meta(CATCHUP_KEY, cursor_text(after))
    if result.read:
        folders = len(result.folders)
        log.info("read the burst ids of %d photo%s backed up before: %d frame%s of an "
                 "iPhone burst in %d folder%s%s", result.read, "s" if result.read != 1 else "",
                 result.in_burst, "s" if result.in_burst != 1 else "", folders,
                 "s" if folders != 1 else "", "" if result.done else "; the rest in the next pass")
    return result


def read_rows(rows: Sequence[Row]) -> list[Read]:
    """In a thread: the burst id ("" for none) of each row's file that can be read now,
    with the row's key and stat; a placeholder, a file changed since its record (or
    gone) and an unreadable one are left out."""
    out = []
    for dir_id, folder, name, size, mtime_ns, ino in rows:
        burst = burst_if_local(join_path(folder, name), (size, mtime_ns, ino))
        if burst is not None:
            out.append((burst, dir_id, name, size, mtime_ns, ino))
    return out


def burst_if_local(path: Path, known: tuple[int, int, int] | None = None) -> str | None:
    """In a thread: the burst id of ``path`` ("" for none), or None when it is not read
    now: a cloud placeholder (reading it would download it), a file that cannot be read,
    or, given ``known`` (its record's size, mtime_ns and inode), one changed since."""
    try:
        st = os.stat(path)
        if known is not None and differs(st.st_size, st.st_mtime_ns, st.st_ino, *known):
            return None
        if is_placeholder(st) or suspect(st.st_size, getattr(st, "st_blocks", 1)):
            return None
        return read_burst(path) or ""
    except OSError:
        return None
