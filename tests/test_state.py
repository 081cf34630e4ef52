"""The state database on a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from immich_backupd.model import PassOutcome
from immich_backupd.state import (
    DB_NAME,
    DUPLICATE,
    FAILED,
    SCHEMA_VERSION,
    UNSUPPORTED,
    UPLOADED,
    FileRecord,
    PassStats,
    StateReader,
    StateStore,
    WorkerReads,
    file_row,
    migration_scripts,
)
from tests.old_states import old_state


def rec(path: Path, status: str, **kw) -> FileRecord:
    kw.setdefault("size", 10)
    kw.setdefault("mtime_ns", 5)
    kw.setdefault("ino", 1)
    return FileRecord(path=path, status=status, **kw)


async def test_schema_wal_and_reopen(tmp_path: Path):
    store = await StateStore.open(tmp_path)
    device = await store.device_id()
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    store = await StateStore.open(tmp_path)
    assert await store.device_id() == device  # stable per install
    await store.close()


def test_newer_schema_is_refused():
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        migration_scripts(SCHEMA_VERSION + 1)
    assert migration_scripts(SCHEMA_VERSION) == []


async def test_records_by_folder_content_and_inode(tmp_path: Path):
    store = await StateStore.open(tmp_path / "s")
    d = tmp_path / "photos"
    weird = Path(os.fsdecode(b"/photos/caf\xe9.jpg"))  # not valid UTF-8
    await store.put_many([
        rec(d / "a.jpg", UPLOADED, blake3=b"b1", sha1=b"s1", remote_id="r1", album="photos"),
        rec(d / "b.jpg", FAILED, blake3=b"b2", ino=7, size=3, mtime_ns=9),
        rec(d / "sub" / "c.jpg", UPLOADED),
        rec(weird, DUPLICATE, remote_id="r3"),
    ])
    reads = WorkerReads(store.path)
    in_dir = reads.dir_records(str(d), ["a.jpg", "b.jpg", "none.jpg"])
    assert set(in_dir) == {"a.jpg", "b.jpg"}  # only those asked for that have a record
    assert in_dir["a.jpg"].remote_id == "r1" and in_dir["a.jpg"].path == d / "a.jpg"
    assert set(reads.dir_records(str(d), ["b.jpg"])) == {"b.jpg"}
    # only what is on the server counts as done while unchanged; the others by name
    assert reads.dir_known(str(d)) == ({"a.jpg": (10, 5, 1)}, ["b.jpg"])
    assert reads.dir_known(str(d / "none")) == ({}, [])
    cafe = os.fsdecode(b"caf\xe9.jpg")
    assert reads.dir_known(os.fsdecode(b"/photos")) == ({cafe: (10, 5, 1)}, [])
    assert set(reads.dir_records(os.fsdecode(b"/photos"), [cafe])) == {cafe}
    assert (await store.get(weird)).remote_id == "r3"
    # failed content (b2) is not on the server
    assert reads.remotes_for_contents([b"b1", b"b2"]) == {b"b1": "r1"}
    assert reads.find_by_inodes([(7, 3, 9)])[(7, 3, 9)].path == d / "b.jpg"
    reads.close()
    pending = await store.pending_album_adds()
    assert [r.path for r in pending] == [d / "a.jpg"]
    await store.mark_album_done([d / "a.jpg"])
    assert await store.pending_album_adds() == []
    await store.forget(d / "b.jpg")
    assert await store.get(d / "b.jpg") is None
    await store.close()


async def test_passes_and_reader_while_open(tmp_path: Path):
    store = await StateStore.open(tmp_path)
    pid = await store.start_pass()
    d = tmp_path / "p"
    await store.put_many([
        rec(d / "a.jpg", UPLOADED, album="p", remote_id="r"),
        rec(d / "b.jpg", FAILED, error="network", attempts=2, next_attempt_at=1e12),
        rec(d / "c.txt", UNSUPPORTED, error="Unsupported file type c.txt"),
    ])
    reader = StateReader(tmp_path)  # a second connection while the store is open
    assert reader.counts() == {UPLOADED: 1, FAILED: 1, UNSUPPORTED: 1}
    assert reader.last_pass()["outcome"] == "running"
    await store.finish_pass(pid, PassStats(seen=3, uploaded=1, failed=1), PassOutcome.PARTIAL)
    assert reader.last_pass()["outcome"] == "partial"
    assert reader.last_pass()["seen"] == 3
    assert reader.meta("last_backup_at") is not None
    assert reader.album_counts() == {"p": 1}
    assert [r.path.name for r in reader.failed()] == ["b.jpg", "c.txt"]
    assert reader.retry([d / "b.jpg"]) == [d / "b.jpg"]
    again = await store.get(d / "b.jpg")
    assert again.next_attempt_at is None and again.attempts == 0
    assert sorted(p.name for p in reader.retry(None)) == ["b.jpg", "c.txt"]
    assert reader.retry([tmp_path / "elsewhere"]) == []
    reader.close()
    await store.close()


def test_reader_without_database(tmp_path: Path):
    reader = StateReader(tmp_path)
    assert reader.counts() == {} and reader.failed() == [] and reader.retry(None) == []


async def test_batched_lookups(tmp_path: Path):
    store = await StateStore.open(tmp_path)
    try:
        d = tmp_path / "p"

        def b3(i: int) -> bytes:
            return i.to_bytes(2, "big")

        await store.put_many([
            rec(d / f"{i}.jpg", UPLOADED if i % 2 else FAILED, ino=100 + i, size=i,
                mtime_ns=i, blake3=b3(i), remote_id=f"r{i}") for i in range(1, 1200)
        ])
        keys = [(100 + i, i, i) for i in range(1, 1200)] + [(5, 5, 5), (101, 99, 1)]
        reads = WorkerReads(store.path)
        found = await asyncio.to_thread(reads.find_by_inodes, keys)
        assert len(found) == 1199 and found[(150, 50, 50)].path == d / "50.jpg"
        remotes = await asyncio.to_thread(reads.remotes_for_contents,
                                          [b3(i) for i in range(1, 1200)])
        reads.close()
        # only contents on the server (odd i: uploaded) count
        assert remotes[b3(3)] == "r3" and b3(2) not in remotes and len(remotes) == 600
    finally:
        await store.close()


async def test_migration_2_moves_folders_to_their_own_table(tmp_path: Path):
    """A state written by schema 1 (folder paths in every row) keeps every record, its
    lookups and its counts after the move to a ``dirs`` table."""
    from immich_backupd.state import split_path

    path = tmp_path / DB_NAME
    conn = old_state(path, 1)
    photos = tmp_path / "photos"
    weird = Path(os.fsdecode(os.fsencode(photos) + b"/caf\xe9/x.jpg"))
    old = [(photos / "a.jpg", UPLOADED, b"b1", "r1", 3), (photos / "b.jpg", FAILED, b"b2", None, 4),
           (weird, DUPLICATE, b"b3", "r3", 5)]
    for p, status, b3, rid, ino in old:
        d, n = split_path(p)
        conn.execute("INSERT INTO files(dir, name, size, mtime_ns, ino, blake3, status, "
                     "remote_id, updated_at) VALUES (?,?,10,5,?,?,?,?,0)",
                     (d, n, ino, b3, status, rid))
    conn.close()

    store = await StateStore.open(tmp_path)
    assert (await store.get(photos / "a.jpg")).remote_id == "r1"
    assert (await store.get(weird)).status == DUPLICATE
    reads = WorkerReads(store.path)
    assert reads.dir_known(str(photos)) == ({"a.jpg": (10, 5, 3)}, ["b.jpg"])
    assert reads.remotes_for_contents([b"b1", b"b2", b"b3"]) == {b"b1": "r1", b"b3": "r3"}
    assert reads.find_by_inodes([(4, 10, 5)])[(4, 10, 5)].path == photos / "b.jpg"
    reads.close()
    # new records in a known folder and in a new one
    await store.put_many([rec(photos / "c.jpg", UPLOADED), rec(tmp_path / "new" / "d.jpg",
                                                                   UPLOADED)])
    await store.forget_many([photos / "b.jpg"])
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM dirs").fetchone()[0] == 3
    conn.close()
    reader = StateReader(tmp_path)
    assert reader.counts() == {UPLOADED: 3, DUPLICATE: 1}
    assert {(p, s) for p, s, _ in reader.counts_by_folder()} == {
        (photos, UPLOADED), (weird.parent, DUPLICATE), (tmp_path / "new", UPLOADED)}
    reader.close()


async def test_content_lookup_compares_the_whole_blake3(tmp_path: Path):
    """The content index holds 8 bytes of each BLAKE3: a content that shares them with
    one on the server is not taken for it."""
    store = await StateStore.open(tmp_path)
    on_server = bytes(8) + b"\x01" * 24
    same_prefix = bytes(8) + b"\x02" * 24
    await store.put_many([rec(tmp_path / "a.jpg", UPLOADED, blake3=on_server, sha1=b"s",
                              remote_id="r1")])
    reads = WorkerReads(store.path)
    assert reads.remotes_for_contents([same_prefix]) == {}
    assert reads.remotes_for_contents([same_prefix, on_server]) == {on_server: "r1"}
    reads.close()
    await store.close()


async def test_put_many_in_several_statements(tmp_path: Path):
    """A batch larger than one INSERT carries goes in several, in one transaction; a path
    given twice keeps its last record, as one row after another would."""
    store = await StateStore.open(tmp_path)
    store._per_statement = 3
    records = [rec(tmp_path / f"d{i % 2}" / f"{i}.jpg", UPLOADED, size=i) for i in range(10)]
    records.append(rec(tmp_path / "d0" / "0.jpg", FAILED, size=99))
    await store.put_many(records)
    reads = WorkerReads(store.path)
    wanted = [f"{i}.jpg" for i in range(10)]
    assert {n: r.size for n, r in reads.dir_records(str(tmp_path / "d1"), wanted).items()
            } == {f"{i}.jpg": i for i in range(1, 10, 2)}
    reads.close()
    again = await store.get(tmp_path / "d0" / "0.jpg")
    assert (again.status, again.size) == (FAILED, 99)
    await store.close()


def test_an_older_schema_in_use_is_not_migrated_under_its_user(tmp_path: Path):
    """status/failed/retry upgrade an old state only when no (older) immich-backupd holds
    it: one still running would go on writing rows of the old schema."""
    from immich_backupd.errors import StateError
    from immich_backupd.state.lock import DAEMON_LOCK_NAME, RunLock

    conn = old_state(tmp_path / DB_NAME, 1)
    conn.close()
    with RunLock(tmp_path, DAEMON_LOCK_NAME, "daemon"), \
            pytest.raises(StateError, match=r"older release.*restart"):
        StateReader(tmp_path, migration_wait=0.3)
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # untouched
    conn.close()
    reader = StateReader(tmp_path)  # nobody holds it now: upgraded
    assert reader.counts() == {}
    reader.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_database_being_created_by_a_running_pass_is_waited_for(tmp_path: Path):
    """`status` right after `once` started: the file exists at schema 0 while `once`
    (this release, holding the lock) creates it. That is a wait, not "an older release"
    (a CI run saw exit 74 there)."""
    import threading

    from immich_backupd.state import migrate
    from immich_backupd.state.lock import LOCK_NAME, RunLock

    creator = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None,
                              check_same_thread=False)
    creator.execute("PRAGMA journal_mode=WAL")
    with RunLock(tmp_path, LOCK_NAME, "once"):
        timer = threading.Timer(0.3, migrate, (creator,))
        timer.start()
        try:
            reader = StateReader(tmp_path, migration_wait=5)
            assert reader.counts() == {}
            reader.close()
        finally:
            timer.join()
    creator.close()


async def test_album_marks_and_forgets_go_by_folder_in_chunks(tmp_path: Path):
    """mark_album_done and forget_many write a statement per folder and chunk of names,
    not a row each: every name is still hit, in every folder, across chunk edges, and
    nothing else is (a name that is also in another folder, a name never recorded)."""
    store = await StateStore.open(tmp_path)
    store._names_per_statement = 3
    folders = [tmp_path / "a", tmp_path / "b", tmp_path / os.fsdecode(b"caf\xe9")]
    records = [rec(f / f"{i}.jpg", UPLOADED, remote_id=f"r{i}", album="album")
               for f in folders for i in range(7)]
    await store.put_many(records)
    marked = [f / f"{i}.jpg" for f in folders[:2] for i in range(7)] + [
        folders[2] / "0.jpg", folders[2] / "missing.jpg"]
    await store.mark_album_done(marked)
    assert {r.path for r in await store.pending_album_adds()} == {
        folders[2] / f"{i}.jpg" for i in range(1, 7)}
    gone = [folders[0] / f"{i}.jpg" for i in range(5)] + [folders[1] / "6.jpg"]
    await store.forget_many(gone)
    for r in records:
        assert (await store.get(r.path) is None) == (r.path in gone), r.path
    await store.close()


def test_two_connections_migrating_at_once_do_each_step_once(tmp_path: Path):
    """Two processes that open an old state at once: the second reads the version inside
    its write transaction, after the first committed, and skips the step the first did
    (reading it before would run migration 2 again and fail on its ``CREATE TABLE``)."""
    import threading

    from immich_backupd.state import MIGRATIONS, migrate, split_path
    from immich_backupd.state.schema import statements

    path = tmp_path / DB_NAME
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("PRAGMA journal_mode=WAL")
    first.executescript(f"BEGIN;{MIGRATIONS[0]}PRAGMA user_version=1;COMMIT;")
    d, n = split_path(tmp_path / "photos" / "a.jpg")
    first.execute("INSERT INTO files(dir, name, size, mtime_ns, ino, status, updated_at) "
                  "VALUES (?,?,10,5,1,?,0)", (d, n, UPLOADED))
    # The first holds the write lock in the middle of migration 2 ...
    first.execute("BEGIN IMMEDIATE")
    for statement in statements(MIGRATIONS[1]):
        first.execute(statement)
    first.execute("PRAGMA user_version=2")

    second = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    waiting = threading.Event()
    second.set_trace_callback(lambda sql: "BEGIN IMMEDIATE" in sql and waiting.set())
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(second)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    # ... while the second, which saw version 1, waits for it to take its own.
    thread = threading.Thread(target=run)
    thread.start()
    assert waiting.wait(10)
    first.execute("COMMIT")
    thread.join(30)
    assert not thread.is_alive() and errors == []
    assert second.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert second.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    assert second.execute("SELECT count(*) FROM dirs").fetchone()[0] == 1
    assert second.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    first.close()
    second.close()


def stacks_in(state_dir: Path, folder: Path) -> dict[str, tuple[str, str, frozenset[str]]]:
    """Group key -> (stack id, primary id, asset ids) of the stacks the state file keeps
    for ``folder`` (read from the file: the pass only asks for them all)."""
    conn = sqlite3.connect(state_dir / DB_NAME)
    try:
        rows = conn.execute(
            "SELECT s.key, s.stack_id, s.primary_id, s.asset_ids FROM stacks s "
            "JOIN dirs d ON d.id = s.dir WHERE d.path = ?", (os.fsencode(folder),))
        return {key: (sid, primary, frozenset(ids.split(","))) for key, sid, primary, ids in rows}
    finally:
        conn.close()


async def test_stacks_are_remembered_per_folder_and_replaced_by_key(tmp_path: Path):
    store = await StateStore.open(tmp_path / "s")
    try:
        a, b = tmp_path / "lib" / "a", tmp_path / "lib" / "b"
        await store.put_many([
            rec(a / "IMG_1.JPG", UPLOADED, remote_id="j1"),
            rec(a / "IMG_1.CR2", UPLOADED, remote_id="r1"),
            rec(a / "failed.jpg", FAILED), rec(b / "IMG_1.CR2", UPLOADED, remote_id="r2"),
            rec(b / "IMG_1.JPG", DUPLICATE, remote_id="j2")])
        assert await store.on_server_in(a) == {"IMG_1.JPG": "j1", "IMG_1.CR2": "r1"}
        assert stacks_in(tmp_path / "s", a) == {}
        await store.save_stack(a, "raw:img_1", "s1", "j1", ["j1", "r1"])
        await store.save_stack(a, "raw:img_1", "s2", "j1", ["j1", "r1", "r3"])
        assert stacks_in(tmp_path / "s", a) == {
            "raw:img_1": ("s2", "j1", frozenset({"j1", "r1", "r3"}))}
        assert stacks_in(tmp_path / "s", b) == {}
        assert await store.known_stacks() == [("s2", "j1", frozenset({"j1", "r1", "r3"}))]
        # The folder renamed, a file added: the new stack replaces the one kept under
        # the old folder, which goes (the server deleted it).
        await store.save_stack(b, "raw:img_1", "s3", "j1", ["j1", "r1", "r3", "r4"],
                               replaces="s2")
        assert stacks_in(tmp_path / "s", a) == {}
        assert await store.known_stacks() == [("s3", "j1", frozenset({"j1", "r1", "r3", "r4"}))]
        assert await store.adopted_in(a) == set()  # sent by this client: none adopted
        assert await store.adopted_in(b) == {"IMG_1.JPG"}  # the server had it before
        found = [(folder, names) async for folder, names in store.names_on_server()]
        assert sorted(found) == [(a, {"IMG_1.JPG": None, "IMG_1.CR2": None}),
                                 (b, {"IMG_1.CR2": None, "IMG_1.JPG": None})]
    finally:
        await store.close()


async def test_on_server_under_a_folder_leaves_out_its_namesakes(tmp_path: Path):
    store = await StateStore.open(tmp_path / "s")
    try:
        lib = tmp_path / "lib"
        await store.put_many([
            rec(lib / "a.jpg", UPLOADED, remote_id="1"),
            rec(lib / "x" / "y" / "b.jpg", UPLOADED, remote_id="2"),
            rec(lib / "x" / "c.jpg", FAILED),
            rec(tmp_path / "lib2" / "d.jpg", UPLOADED, remote_id="3"),
            rec(tmp_path / "lib-old" / "e.jpg", UPLOADED, remote_id="4")])
        got = sorted(await store.on_server_under(lib))
        assert got == [(lib / "a.jpg", "1"), (lib / "x" / "y" / "b.jpg", "2")]
    finally:
        await store.close()


async def test_migration_7_keeps_the_records_and_the_apple_burst_ids(tmp_path: Path):
    """A state of schema 6 (an earlier release): its records migrate with no burst id
    read (None); ids are written with a record, kept when it is rewritten with them,
    and filled in for a folder's files that had none."""
    from immich_backupd.state import split_path

    path = tmp_path / DB_NAME
    conn = old_state(path, 6)
    photos = tmp_path / "photos"
    d, n = split_path(photos / "IMG_0101.HEIC")
    conn.execute("INSERT INTO dirs(path) VALUES (?)", (d,))
    conn.execute("INSERT INTO files(dir, name, size, mtime_ns, ino, blake3, sha1, status, "
                 "remote_id, updated_at) VALUES (1, ?, 10, 5, 3, ?, ?, ?, 'r1', 0)",
                 (n, b"b1", b"s1", UPLOADED))
    conn.close()

    store = await StateStore.open(tmp_path)
    old = await store.get(photos / "IMG_0101.HEIC")
    assert old is not None and old.remote_id == "r1" and old.burst is None
    await store.put_many([rec(photos / "IMG_0102.HEIC", UPLOADED, remote_id="r2", burst="B"),
                          rec(photos / "IMG_0103.HEIC", DUPLICATE, remote_id="r3", burst=""),
                          rec(photos / "IMG_0104.HEIC", FAILED, burst="B", ino=9, blake3=b"b4")])
    assert await store.bursts_in(photos) == {
        "IMG_0101.HEIC": None, "IMG_0102.HEIC": "B", "IMG_0103.HEIC": ""}  # on the server
    await store.set_bursts(photos, {"IMG_0101.HEIC": "B"})
    assert (await store.bursts_in(photos))["IMG_0101.HEIC"] == "B"
    reads = WorkerReads(store.path)
    assert reads.dir_records(str(photos), ["IMG_0104.HEIC"])["IMG_0104.HEIC"].burst == "B"
    assert reads.find_by_inodes([(9, 10, 5)])[(9, 10, 5)].burst == "B"  # a moved file keeps it
    reads.close()
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


async def test_a_hidden_video_leaves_its_album_with_its_stills_record(tmp_path: Path):
    """put_rows(hidden_videos=...): the video is in no album from then on, and a removal
    is queued only where this client had put it in the album (album_done)."""
    store = await StateStore.open(tmp_path)
    added, pending = tmp_path / "a" / "IMG_1.MOV", tmp_path / "a" / "IMG_2.MOV"
    await store.put_many([rec(added, UPLOADED, remote_id="v1", album="a", album_done=True),
                          rec(pending, UPLOADED, remote_id="v2", album="a")])
    still = rec(tmp_path / "a" / "IMG_1.HEIC", UPLOADED, remote_id="s1", album="a")
    row = file_row(os.fsencode(tmp_path / "a"), b"IMG_1.HEIC", 10, 5, 1, None, None,
                   UPLOADED, "s1", "a", False, None)
    await store.put_rows([row], hidden_videos=[(os.fsencode(tmp_path / "a"), b"IMG_1.MOV"),
                                               (os.fsencode(tmp_path / "a"), b"IMG_2.MOV")])
    assert (await store.get(still.path)).remote_id == "s1"  # type: ignore[union-attr]
    for path in (added, pending):
        record = await store.get(path)
        assert record is not None and record.album is None and not record.album_done
    assert await store.album_removals() == [("v1", "a")]
    assert await store.pending_album_adds() == [await store.get(still.path)]
    await store.albums_left([("v1", "a")])
    assert await store.album_removals() == []
    await store.close()
