"""The per-folder settings changed after a backup (issue 18): the state's bookkeeping of
the tag pairs this client set, takes off and wants again (a real SQLite file); which
pairs come off, when a removal is sent, and which files move to another album (pure,
with the time passed in)."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.media.kinds import MediaTypes
from immich_backupd.model import FileStatus
from immich_backupd.pipeline.followups import (
    REMOVAL_CHECK_AFTER,
    FileAlbum,
    Removal,
    moved_albums,
    removals_due,
    unwanted_tags,
)
from immich_backupd.scan.rules import AlbumNaming, AlbumRules, FolderNaming
from immich_backupd.state import FileRecord


def on_server(path: str, remote_id: str) -> FileRecord:
    return FileRecord(path=Path(path), size=1, mtime_ns=1, ino=1, blake3=b"b" * 32,
                      sha1=b"s" * 20, status=FileStatus.UPLOADED, remote_id=remote_id)


async def test_a_pair_taken_off_and_wanted_again_stays_this_clients(store):
    await store.put_many([on_server("/p/a.jpg", "A"), on_server("/p/b.jpg", "B")])
    await store.want_tags([("A", "Family"), ("B", "Family")])
    await store.tags_set([("A", "Family")], 100.0)
    await store.tags_confirmed([("B", "Family")])  # seen before it was set: not ours
    assert await store.tags_of_files() == [("A", "Family", Path("/p/a.jpg"))]
    await store.unwant_tags([("A", "Family")])
    assert await store.tag_removals() == [("A", "Family", None)]
    assert await store.open_tags() == [] and await store.has_tags()
    await store.tags_removed([("A", "Family")], 200.0)
    assert await store.tag_removals() == [("A", "Family", 200.0)]
    await store.want_tags([("A", "Family")])  # back in the config before it was done
    assert await store.tag_removals() == []
    assert await store.open_tags() == [("A", "Family", 100.0)]  # read back, not re-set
    await store.unwant_tags([("A", "Family")])
    await store.removals_done([("A", "Family")])
    await store.want_tags([("A", "Family")])  # after: a new pair, set again
    assert await store.open_tags() == [("A", "Family", None)]


async def test_tag_ids_are_kept(store):
    assert await store.tag_ids() == {}
    await store.save_tag_ids({"Family": "id-1", "Trips/Rome": "id-2"})
    await store.save_tag_ids({"Family": "id-3"})
    assert await store.tag_ids() == {"Family": "id-3", "Trips/Rome": "id-2"}


def test_a_pair_comes_off_only_when_none_of_its_files_asks_for_it():
    rules = AlbumRules(["/p/scans", "/p/plain"], [], [
        FolderNaming(Path("/p/scans"), AlbumNaming.FOLDER, "", ("Scans",), False)])
    rows = [("A", "Family", Path("/p/scans/x/a.jpg")),  # Family out of the config
            ("A", "Scans", Path("/p/scans/x/a.jpg")),  # still asked for
            ("B", "Family", Path("/p/plain/b.jpg")),  # its folder has no tags now
            ("B", "Family", Path("/p/scans/b.jpg")),
            ("C", "Scans", Path("/p/plain/c.jpg")),  # the same content in two folders:
            ("C", "Scans", Path("/p/scans/c.jpg")),  # one still asks for it
            ("D", "Family", Path("/gone/d.jpg"))]  # no longer backed up: left as it is
    assert unwanted_tags(rows, rules) == [("A", "Family"), ("B", "Family")]


def test_a_removal_is_sent_then_sent_again_only_as_the_check_once_jobs_have_run():
    rows = [Removal("a", "Family", None), Removal("b", "Family", 100.0),
            Removal("c", "Trips", 100.0 - REMOVAL_CHECK_AFTER)]
    assert removals_due(rows, now=110.0) == {"Family": ["a"], "Trips": ["c"]}
    assert removals_due(rows, now=100.0 + REMOVAL_CHECK_AFTER) == {"Family": ["a", "b"],
                                                              "Trips": ["c"]}


def test_files_move_to_the_album_they_belong_in_now():
    rules = AlbumRules(["/p/lib", "/p/none"], [], [
        FolderNaming(Path("/p/lib"), AlbumNaming.PATH),
        FolderNaming(Path("/p/none"), AlbumNaming.NONE)])
    media = MediaTypes(frozenset({".jpg", ".heic"}), frozenset({".mov"}), frozenset())
    files = [FileAlbum(1, b"a.jpg", Path("/p/lib/2019/Rome/a.jpg"), "Rome", 9, True),
             FileAlbum(1, b"f.jpg", Path("/p/lib/2019/Rome/f.jpg"), "Rome", 9, False),
             # A live photo: its video stays without an album; a long one is a video.
             FileAlbum(1, b"L.HEIC", Path("/p/lib/2019/Rome/L.HEIC"), "Rome", 9, True),
             FileAlbum(1, b"L.MOV", Path("/p/lib/2019/Rome/L.MOV"), None, 9, True),
             FileAlbum(2, b"v.jpg", Path("/p/lib/v.jpg"), "lib", 9, True),
             FileAlbum(2, b"v.mov", Path("/p/lib/v.mov"), None, 10**9, True),
             FileAlbum(3, b"c.jpg", Path("/p/none/x/c.jpg"), "x", 9, True),
             FileAlbum(4, b"d.jpg", Path("/gone/d.jpg"), "gone", 9, True)]  # not included
    assert moved_albums(files, rules, media) == [
        ("2019/Rome", 1, b"a.jpg"), ("2019/Rome", 1, b"L.HEIC"), ("lib", 2, b"v.mov"),
        (None, 3, b"c.jpg")]
    assert rules.album_settings == (("/p/lib", "path", ""), ("/p/none", "none", ""))
