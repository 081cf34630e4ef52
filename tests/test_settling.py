"""The settle decision of every pass (pipeline/settling.py): pure, the time passed in."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.media.kinds import live_photo_pairs
from immich_backupd.pipeline.settling import HeldFolder, SettleQueue, settles_at
from immich_backupd.scan.changes import FileStat

NOW = 1_700_000_000.0
SETTLE = 30.0
S = 1_000_000_000  # ns a second


def ns(t: float) -> int:
    return int(t * S)


def stat(name: str, mtime: float, size: int = 100, ino: int = 7) -> FileStat:
    return FileStat(name, size, ns(mtime), ino, 1, ns(mtime), None, False)


def folder(kinds: dict[str, str]) -> HeldFolder:
    return HeldFolder(Path("/p/2024"), kinds, {}, {}, "2024", live_photo_pairs(kinds))


def test_an_old_file_is_settled():
    assert settles_at(ns(NOW - 3600), NOW, SETTLE) is None
    assert settles_at(ns(NOW - SETTLE), NOW, SETTLE) is None  # exactly the period


def test_a_file_written_within_the_period_is_held_until_it_is_that_old():
    assert settles_at(ns(NOW - 1), NOW, SETTLE) == NOW - 1 + SETTLE
    assert settles_at(ns(NOW), NOW, SETTLE) == NOW + SETTLE


def test_a_clock_a_little_ahead_holds_a_clock_far_ahead_does_not():
    # a file server a few seconds ahead: the file is being written now
    assert settles_at(ns(NOW + 5), NOW, SETTLE) == NOW + 5 + SETTLE
    # a camera a year ahead says nothing about writing now: never held for ever
    assert settles_at(ns(NOW + 365 * 86400), NOW, SETTLE) is None


def test_hold_recent_returns_the_same_list_when_nothing_is_recent():
    q = SettleQueue(SETTLE)
    files = [stat("a.jpg", NOW - 100), stat("b.jpg", NOW - 3600)]
    assert q.hold_recent(folder({"a.jpg": "image", "b.jpg": "image"}), files, NOW) is files
    assert len(q) == 0 and q.next_at() is None


def test_a_recent_file_is_held_and_released_once_settled():
    q = SettleQueue(SETTLE)
    kinds = {"old.jpg": "image", "new.jpg": "image"}
    files = [stat("new.jpg", NOW - 2, size=3_875_000), stat("old.jpg", NOW - 3600)]
    keep = q.hold_recent(folder(kinds), files, NOW)
    assert [f.name for f in keep] == ["old.jpg"]
    assert q.paths() == [Path("/p/2024/new.jpg")]
    assert q.next_at() == NOW - 2 + SETTLE
    assert q.due(NOW + 10) == []

    (held,) = q.due(NOW + 28)
    # written to meanwhile (it grew, its mtime moved): held again, from its new mtime
    grown = stat("new.jpg", NOW + 20, size=10_000_000)
    assert q.release(held, {"new.jpg": grown}, NOW + 28) == []
    assert q.next_at() == NOW + 20 + SETTLE

    (held,) = q.due(NOW + 50)
    assert q.release(held, {"new.jpg": grown}, NOW + 50) == [grown]
    assert len(q) == 0 and q.next_at() is None


def test_a_file_gone_while_held_is_dropped():
    q = SettleQueue(SETTLE)
    q.hold_recent(folder({"x.jpg": "image"}), [stat("x.jpg", NOW)], NOW)
    (held,) = q.due(NOW + SETTLE)
    assert q.release(held, {"x.jpg": None}, NOW + SETTLE) == []
    assert len(q) == 0


def test_a_live_photo_is_held_and_released_as_a_pair():
    q = SettleQueue(SETTLE)
    kinds = {"IMG_1.HEIC": "image", "IMG_1.MOV": "video", "other.jpg": "image"}
    still, video = stat("IMG_1.HEIC", NOW - 3600), stat("IMG_1.MOV", NOW - 1)
    other = stat("other.jpg", NOW - 3600)
    keep = q.hold_recent(folder(kinds), [still, video, other], NOW)
    assert keep == [other]  # the old still waits with its video
    assert sorted(p.name for p in q.paths()) == ["IMG_1.HEIC", "IMG_1.MOV"]

    # the video is written to again: the still stays with it
    (held,) = q.due(NOW + SETTLE)
    video2 = stat("IMG_1.MOV", NOW + 10, size=200)
    assert q.release(held, {"IMG_1.HEIC": still, "IMG_1.MOV": video2}, NOW + SETTLE) == []
    assert len(q) == 2

    (held,) = q.due(NOW + 10 + SETTLE)
    out = q.release(held, {"IMG_1.HEIC": still, "IMG_1.MOV": video2}, NOW + 10 + SETTLE)
    assert sorted(f.name for f in out) == ["IMG_1.HEIC", "IMG_1.MOV"]
    assert len(q) == 0
