"""Decisions of a pass, as plain functions: what to do with each scanned file; and what
the stages hand each other: :class:`Candidate` (a file), :class:`Unit` (what is uploaded
together) and :data:`END`, the end of their queues.

Pure (no I/O, no asyncio): the stages ask, these answer. Tests call them directly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

from ..model import FileOutcome
from ..scan.changes import FileStat, needs_hash
from ..state import DELETED, FAILED, ON_SERVER, PENDING, TRASHED, UNSUPPORTED, FileRecord

# A live photo's motion part is a clip of about 3 s: a few MB even in 4K. A larger video
# that happens to share a stem with a photo (holiday.jpg + holiday.mp4) is a real video,
# and must not be hidden behind the photo.
LIVE_VIDEO_MAX_BYTES = 25_000_000


class Action(Enum):
    DONE = "done"  # unchanged and already on the server: nothing to do, nothing opened
    HASH = "hash"  # new or changed: hash it, then check and upload
    RETRY = "retry"  # unchanged but failed before, and due: reuse its hash, check, upload
    WAIT = "wait"  # failed before, not due yet
    SKIP = "skip"  # unchanged and left out: trashed or deleted in Immich, unsupported type


# What a pass hashes or checks again. A tuple: ``in`` compares identity first, where a
# set would call Enum.__hash__ (Python code) for every file.
_WORK = (Action.HASH, Action.RETRY)


def decide(stat: FileStat, record: FileRecord | None, now: float) -> Action:
    """Given a file's stat and its record (if any), say what this pass does with it."""
    if record is None or needs_hash(stat, record):
        return Action.HASH
    if record.status in ON_SERVER:
        return Action.DONE
    if record.status in (TRASHED, DELETED, UNSUPPORTED):
        return Action.SKIP
    if record.status == PENDING:  # known not to be on this server: upload, reuse its hash
        return Action.RETRY if record.sha1 and record.blake3 else Action.HASH
    if record.status == FAILED:
        if record.next_attempt_at is not None and record.next_attempt_at > now:
            return Action.WAIT
        return Action.RETRY if record.sha1 and record.blake3 else Action.HASH
    return Action.HASH


@dataclass(slots=True)
class Candidate:
    """A file this pass works on. The digests come from hashing or from its record."""

    path: Path
    stat: FileStat
    kind: str  # image | video
    album: str | None  # None for the hidden video of a live photo: the still shows it
    sidecar: Path | None = None
    # (size, mtime_ns) of the sidecar sent with its upload (see sidecars.py).
    sidecar_sent: tuple[int, int] | None = None
    hidden: bool = False  # the video of a live photo: its still is the photo shown
    record: FileRecord | None = None
    sha1: bytes | None = None
    blake3: bytes | None = None
    remote_id: str | None = None  # set when known to be on the server
    moved_from: Path | None = None  # its record's old path, when it was moved on this disk
    dir_key: bytes = b""  # its folder as the state keys it (os.fsencode), shared per folder
    # ``str(path)``, made from the folder's string and the name by the planner: a Path's
    # string is joined from its parts on first use, a microsecond a file.
    path_str: str = ""
    # What became of it, once known (the record stage sets it): a model.FileStatus, or
    # model.VANISHED for a file deleted before it was read; None while it is in the works.
    outcome: FileOutcome | None = None
    # The bytes the hasher read, kept for the upload (small files, within a budget).
    data: bytes | None = field(default=None, repr=False)
    tries: int = 0  # requests this pass sent to upload it (retries included)
    # Its Apple burst id (appleburst.py): read with its hash when bursts are stacked, else
    # its record's when its content is the record's; None: not read, "": none.
    burst: str | None = None
    # A still whose live photo's video is already backed up, in an album: the video's
    # (folder, name) as the state keys it. The still's upload links the video, which is
    # then hidden, so it leaves the album (``StateStore.put_rows``, albums.py).
    video_in_album: tuple[bytes, bytes] | None = None

    def __post_init__(self) -> None:
        if not self.path_str:
            self.path_str = str(self.path)

    @property
    def needs_digest(self) -> bool:
        return self.sha1 is None or self.blake3 is None


@dataclass(slots=True)
class Unit:
    """What is uploaded together: one file, or a live photo (video first, then still).

    ``live_video_id`` is the server id of the pair's video when the video itself needs
    no work in this pass (already backed up), so the still can still be linked to it.
    ``link_to`` is the reverse: the server id of the pair's still when only the video
    needs work (it came after the still was backed up): once the video is on the
    server, the still is linked to it (``PUT /assets/{id}``, see livelink.py).
    """

    members: list[Candidate]
    live_video_id: str | None = None
    is_live_pair: bool = False
    link_to: str | None = None


#: The end marker of the queues between the stages (the units, or groups of them, go
#: through them): each stage puts one per consumer of its queue when it ends normally.
END = object()


def unfinished_units(units: list[Unit]) -> list[Unit]:
    """The units with a member still without an outcome (most have one member: no
    generator is made for those, this runs for every file of a library)."""
    return [u for u in units
            if (u.members[0].outcome is None if len(u.members) == 1
                else any(c.outcome is None for c in u.members))]


@dataclass(slots=True)
class DirPlan:
    units: list[Unit] = field(default_factory=list)
    done: int = 0
    skipped: int = 0
    waiting: int = 0
    placeholders: int = 0


def plan_dir(
    directory: Path,
    files: list[FileStat],
    kinds: Mapping[str, str],
    sidecars: Mapping[str, str],
    records: Mapping[str, FileRecord],
    album: str | None,
    now: float,
    *,
    pairs: Mapping[str, str],
    ignore_placeholders: bool = True,
) -> DirPlan:
    """Group one folder's candidates into units, live photos paired, video first.

    ``pairs``: the folder's live photos, still -> video (``DirListing.pairs``, found
    once by the walk from all its media, ``media.kinds.live_photo_pairs``); a pair is planned
    together when both halves are in ``files`` (the walk lists a live photo whole) and
    its video is short enough to be a motion part.

    Called for every folder with new or changed files, on the event loop: a library
    adopted is 100,000 candidates, so the common case (no records, no live photos) takes
    no per-file step it does not need."""
    plan = DirPlan()
    actions: dict[str, Action] = {}
    by_name: dict[str, FileStat] = {}
    for st in files:
        if st.is_placeholder and ignore_placeholders:
            plan.placeholders += 1
            continue
        name = st.name
        record = records.get(name) if records else None
        if record is None:
            action = Action.HASH  # what decide() says of a file without a record
        else:
            action = decide(st, record, now)
            if action is Action.DONE:
                plan.done += 1
            elif action is Action.SKIP:
                plan.skipped += 1
            elif action is Action.WAIT:
                plan.waiting += 1
        actions[name] = action
        by_name[name] = st

    dir_key = os.fsencode(directory)
    dir_str = str(directory)
    prefix = dir_str if dir_str.endswith(os.sep) else dir_str + os.sep
    # joinpath, not ``/`` (which wraps it in a try): about 1.4 µs a candidate on
    # CPython 3.11, only files with work get one, each then hashed and uploaded.
    child = directory.joinpath

    def candidate(st: FileStat, *, hidden: bool = False) -> Candidate:
        name = st.name
        record = records.get(name) if records else None
        cand = Candidate(
            path=child(name),
            stat=st,
            kind=kinds[name],
            album=None if hidden else album,
            sidecar=directory / sidecars[name] if sidecars and name in sidecars else None,
            hidden=hidden,
            record=record,
            dir_key=dir_key,
            path_str=prefix + name,
        )
        if record is not None and actions[name] is Action.RETRY:
            cand.sha1, cand.blake3, cand.burst = record.sha1, record.blake3, record.burst
        return cand

    here: dict[str, str] = {}  # the pairs planned together
    if pairs and len(by_name) > 1:
        here = {still: video for still, video in pairs.items()
                if still in by_name and video in by_name
                and by_name[video].size <= LIVE_VIDEO_MAX_BYTES}
    if not here:
        plan.units = [Unit([candidate(st)]) for name, st in by_name.items()
                      if actions[name] in _WORK]
        return plan
    paired_videos = set(here.values())
    for st in by_name.values():
        name = st.name
        if name in paired_videos:
            continue  # handled with its still
        work = actions[name] in _WORK
        video_name = here.get(name)
        if video_name is None:
            if work:
                plan.units.append(Unit([candidate(st)]))
            continue
        video_st = by_name[video_name]
        video_work = actions[video_name] in _WORK
        video_record = records.get(video_name)
        if video_work:
            members = [candidate(video_st, hidden=True)] + ([candidate(st)] if work else [])
            still_record = records.get(name) if not work else None
            link_to = (still_record.remote_id if still_record is not None
                       and still_record.status in ON_SERVER else None)
            plan.units.append(Unit(members, is_live_pair=True, link_to=link_to))
        elif work:
            live_id = (
                video_record.remote_id
                if video_record is not None and video_record.status in ON_SERVER
                else None
            )
            still = candidate(st)
            if live_id is not None and video_record is not None \
                    and video_record.album is not None:
                still.video_in_album = (dir_key, os.fsencode(video_name))
            plan.units.append(Unit([still], live_video_id=live_id, is_live_pair=True))
    return plan


def iso_time(ns: int) -> str:
    """ISO-8601 with the local offset (the server rejects naive timestamps)."""
    return datetime.fromtimestamp(ns / 1e9).astimezone().isoformat(timespec="milliseconds")


def created_ns(stat: FileStat) -> int:
    """The file time a capture date falls back to: the modification time, or the birth
    time where the OS keeps one and it is earlier (a file edited after it was made). A
    copy's birth time is when it was copied, so the earlier of the two is the closer."""
    if stat.birthtime_ns is None:
        return stat.mtime_ns
    return min(stat.birthtime_ns, stat.mtime_ns)


# Across passes, a failed file waits longer each time: within a pass it was already
# retried with backoff (retry.max_attempts), so what is left is an outage or a problem
# with this file. One minute first, so the daemon's next trigger does not hammer it;
# at most six hours, so it is retried several times a day. ``retry`` skips the wait.
RETRY_LATER_FIRST = 60.0
RETRY_LATER_MAX = 6 * 3600.0
# A file the server refused (a 400 that is not about quota or type) waits a day.
RETRY_REFUSED = 24 * 3600.0


def retry_due(attempts: int, now: float, *, retryable: bool = True) -> float:
    """When a file that failed ``attempts`` passes in a row is tried again."""
    if not retryable:
        return now + RETRY_REFUSED
    return now + min(RETRY_LATER_MAX, RETRY_LATER_FIRST * 2 ** max(0, attempts - 1))


def failed_passes(next_attempt_at: float | None, recorded_at: float) -> int:
    """How many passes in a row a failed file has failed, read back from the wait its
    record set (``retry_due`` doubles it each pass): the record counts the tries (what
    ``failed`` shows), not the passes. 0 when no wait is set (``retry`` cleared it)."""
    if next_attempt_at is None or next_attempt_at <= recorded_at:
        return 0
    ratio = (next_attempt_at - recorded_at) / RETRY_LATER_FIRST
    return 1 + max(0, round(math.log2(ratio))) if ratio > 0 else 1
