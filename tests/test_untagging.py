"""Taking off the tags the config no longer asks for (issue 18): the state's bookkeeping
of the pairs this client set, takes off and wants again, in a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.model import FileStatus
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
