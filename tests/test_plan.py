"""The per-file decisions of a pass, called directly (no I/O)."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.media.kinds import live_photo_pairs
from immich_backupd.pipeline.plan import (
    RETRY_LATER_FIRST,
    RETRY_LATER_MAX,
    RETRY_REFUSED,
    Action,
    decide,
    failed_passes,
    iso_time,
    plan_dir,
    retry_due,
)
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import DUPLICATE, FAILED, TRASHED, UNSUPPORTED, UPLOADED, FileRecord

NOW = 1_700_000_000.0


def st(name: str, size: int = 10, mtime_ns: int = 5, ino: int = 1, placeholder: bool = False):
    return FileStat(name, size, mtime_ns, ino, 1, mtime_ns, None, placeholder)


def rec(name: str, status: str, size: int = 10, mtime_ns: int = 5, ino: int = 1, **kw):
    return FileRecord(path=Path("/p") / name, size=size, mtime_ns=mtime_ns, ino=ino,
                      status=status, **kw)


def test_new_file_is_hashed():
    assert decide(st("a.jpg"), None, NOW) is Action.HASH


def test_unchanged_backed_up_file_is_not_opened():
    for status in (UPLOADED, DUPLICATE):
        assert decide(st("a.jpg"), rec("a.jpg", status), NOW) is Action.DONE


def test_any_stat_change_means_rehash():
    record = rec("a.jpg", UPLOADED)
    assert decide(st("a.jpg", size=11), record, NOW) is Action.HASH
    assert decide(st("a.jpg", mtime_ns=6), record, NOW) is Action.HASH
    assert decide(st("a.jpg", ino=2), record, NOW) is Action.HASH


def test_known_bad_files_are_skipped_until_they_change():
    assert decide(st("a.jpg"), rec("a.jpg", TRASHED), NOW) is Action.SKIP
    assert decide(st("a.jpg"), rec("a.jpg", UNSUPPORTED), NOW) is Action.SKIP
    assert decide(st("a.jpg", size=99), rec("a.jpg", UNSUPPORTED), NOW) is Action.HASH


def test_failed_file_waits_for_its_time_and_reuses_its_hash():
    waiting = rec("a.jpg", FAILED, next_attempt_at=NOW + 60, sha1=b"s", blake3=b"b")
    due = rec("a.jpg", FAILED, next_attempt_at=NOW - 1, sha1=b"s", blake3=b"b")
    unhashed = rec("a.jpg", FAILED, next_attempt_at=None)
    assert decide(st("a.jpg"), waiting, NOW) is Action.WAIT
    assert decide(st("a.jpg"), due, NOW) is Action.RETRY
    assert decide(st("a.jpg"), unhashed, NOW) is Action.HASH


def _plan(files, records=None, placeholders=True):
    names = [f.name for f in files]
    kinds = {n: "video" if n.lower().endswith((".mov", ".mp4")) else "image" for n in names}
    return plan_dir(Path("/p"), files, kinds, {}, records or {}, "p", NOW,
                    pairs=live_photo_pairs(kinds), ignore_placeholders=placeholders)


def test_live_pair_goes_as_one_unit_video_first():
    plan = _plan([st("IMG_1.HEIC"), st("IMG_1.MOV", ino=2), st("other.jpg", ino=3)])
    units = {tuple(c.path.name for c in u.members): u for u in plan.units}
    assert ("IMG_1.MOV", "IMG_1.HEIC") in units
    pair = units[("IMG_1.MOV", "IMG_1.HEIC")]
    assert pair.is_live_pair
    assert pair.members[0].album is None  # the hidden video stays out of albums
    assert pair.members[1].album == "p"
    assert ("other.jpg",) in units


def test_a_long_video_with_a_photos_stem_is_not_a_live_photo():
    plan = _plan([st("holiday.jpg"), st("holiday.mp4", ino=2, size=400_000_000)])
    assert all(not u.is_live_pair for u in plan.units)
    assert sorted(c.album for u in plan.units for c in u.members) == ["p", "p"]


def test_new_still_links_to_an_already_uploaded_video():
    records = {"IMG_1.MOV": rec("IMG_1.MOV", UPLOADED, ino=2, remote_id="vid-id")}
    plan = _plan([st("IMG_1.HEIC"), st("IMG_1.MOV", ino=2)], records)
    assert len(plan.units) == 1
    unit = plan.units[0]
    assert [c.path.name for c in unit.members] == ["IMG_1.HEIC"]
    assert unit.live_video_id == "vid-id"
    assert plan.done == 1


def test_new_video_of_a_backed_up_still_is_linked_to_it():
    """The reverse: the video came later; it goes alone, hidden, to be linked to the
    still's asset; a still not on the server (failed) is linked when it goes up."""
    records = {"IMG_1.HEIC": rec("IMG_1.HEIC", UPLOADED, remote_id="still-id")}
    plan = _plan([st("IMG_1.HEIC"), st("IMG_1.MOV", ino=2)], records)
    [unit] = plan.units
    assert [(c.path.name, c.album) for c in unit.members] == [("IMG_1.MOV", None)]
    assert (unit.is_live_pair, unit.link_to, unit.live_video_id) == (True, "still-id", None)
    failed = {"IMG_1.HEIC": rec("IMG_1.HEIC", FAILED, next_attempt_at=NOW + 60)}
    [unit] = _plan([st("IMG_1.HEIC"), st("IMG_1.MOV", ino=2)], failed).units
    assert unit.link_to is None
    assert _plan([st("IMG_1.HEIC"), st("IMG_1.MOV", ino=2)], {}).units[0].link_to is None


def test_placeholders_are_skipped_only_when_configured():
    assert _plan([st("a.jpg", placeholder=True)]).units == []
    assert _plan([st("a.jpg", placeholder=True)]).placeholders == 1
    assert len(_plan([st("a.jpg", placeholder=True)], placeholders=False).units) == 1


def test_iso_time_has_an_offset():
    text = iso_time(1_700_000_000_123_000_000)
    assert text.endswith(("Z", "+00:00")) or text[-6] in "+-"
    assert ".123" in text


def test_retry_due_grows_and_is_capped():
    delays = [retry_due(n, 0) for n in range(1, 20)]
    assert delays[0] == RETRY_LATER_FIRST
    assert delays == sorted(delays)
    assert max(delays) == RETRY_LATER_MAX
    assert retry_due(1, 0, retryable=False) == RETRY_REFUSED


def test_failed_passes_are_read_back_from_the_wait():
    """The record keeps the tries; the passes that failed come back from the wait."""
    t = 1_700_000_000.5
    for n in range(1, 9):
        assert failed_passes(retry_due(n, t), t) == n
    capped = failed_passes(retry_due(30, t), t)
    assert retry_due(capped + 1, t) == t + RETRY_LATER_MAX
    assert failed_passes(None, t) == 0  # `retry` cleared it
    assert failed_passes(retry_due(1, t, retryable=False), t) >= 1
