"""The hash stage (pipeline/hash.py): real files, a real hasher, the record stage on a
real SQLite state. No server process."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import blake3
import pytest

from immich_backupd.hashing.hasher import Hasher
from immich_backupd.model import VANISHED
from immich_backupd.pipeline.hash import HashStage, KeptBytes
from immich_backupd.pipeline.plan import END, Candidate, Unit
from immich_backupd.pipeline.record import Recorder
from immich_backupd.report.progress import Progress, Reporter
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import (
    DUPLICATE,
    UNSUPPORTED,
    UPLOADED,
    FileRecord,
    StateStore,
    WorkerReads,
)


def cand(tmp_path: Path, name: str, body: bytes) -> Candidate:
    path = tmp_path / "lib" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return Candidate(path=path, stat=FileStat.from_stat_result(name, os.stat(path)),
                     kind="image", album=None)


@pytest.fixture
async def parts(tmp_path: Path):
    store = await StateStore.open(tmp_path / "state")
    reads = WorkerReads(store.path)
    hasher = Hasher(1)
    stop = asyncio.Event()
    kept = KeptBytes(stop.is_set, total=1 << 20)
    rec = Recorder(store, Progress(), Reporter(), give_back=kept.give_back)
    stage = HashStage(hasher, reads, rec, kept, stopping=stop.is_set)
    yield stage, store, stage.held
    hasher.close()
    reads.close()
    await store.close()


async def test_new_files_are_hashed_kept_and_passed_on(tmp_path, parts):
    stage, _, _ = parts
    a, b = cand(tmp_path, "a.jpg", b"A" * 1000), cand(tmp_path, "b.jpg", b"B" * 10)
    check_q: asyncio.Queue[object] = asyncio.Queue()
    await stage.digest_and_pass([Unit([a]), Unit([b])], check_q)
    assert a.sha1 == hashlib.sha1(b"A" * 1000).digest()
    assert a.data == b"A" * 1000  # read once: kept for the upload
    (left,) = [check_q.get_nowait()]
    assert [u.members[0] for u in left] == [a, b]
    assert stage.rec.progress.hashed == 2


async def test_empty_and_known_content_are_settled_without_the_server(tmp_path, parts):
    stage, store, _ = parts
    body = b"photo bytes"
    old = cand(tmp_path, "old.jpg", body)
    await store.put(FileRecord(path=old.path, size=old.stat.size, mtime_ns=old.stat.mtime_ns,
                               ino=old.stat.ino, status=UPLOADED, remote_id="asset-9",
                               sha1=hashlib.sha1(body).digest(),
                               blake3=blake3.blake3(body).digest()))
    copy = cand(tmp_path, "copy.jpg", body)
    empty = cand(tmp_path, "empty.jpg", b"")
    check_q: asyncio.Queue[object] = asyncio.Queue()
    await stage.digest_and_pass([Unit([copy]), Unit([empty])], check_q)
    assert check_q.empty()  # nothing left to ask the server about
    assert (copy.outcome, copy.data) == (DUPLICATE, None)  # its kept bytes went back
    assert (await store.get(copy.path)).remote_id == "asset-9"
    assert (await store.get(empty.path)).status == UNSUPPORTED


async def test_a_moved_file_takes_its_digests_from_its_record(tmp_path, parts):
    stage, store, _ = parts
    c = cand(tmp_path, "moved.jpg", b"moved photo")
    gone = tmp_path / "lib" / "before" / "moved.jpg"
    marker_sha1, marker_b3 = b"r" * 20, b"R" * 32  # not the content's: proves no read
    await store.put(FileRecord(path=gone, size=c.stat.size, mtime_ns=c.stat.mtime_ns,
                               ino=c.stat.ino, status=UPLOADED, remote_id="asset-1",
                               sha1=marker_sha1, blake3=marker_b3))
    check_q: asyncio.Queue[object] = asyncio.Queue()
    await stage.digest_and_pass([Unit([c])], check_q)
    assert (c.sha1, c.blake3, c.moved_from) == (marker_sha1, marker_b3, gone)
    assert c.outcome == DUPLICATE and await store.get(gone) is None  # moved, not copied


async def test_a_file_gone_since_the_scan_is_dropped(tmp_path, parts):
    stage, _, _ = parts
    c = cand(tmp_path, "gone.jpg", b"x" * 100)
    c.path.unlink()
    check_q: asyncio.Queue[object] = asyncio.Queue()
    await stage.digest_and_pass([Unit([c])], check_q)
    assert c.outcome is VANISHED and check_q.empty()


async def test_the_workers_run_until_the_end_marker(tmp_path, parts):
    stage, _, _ = parts
    hash_q: asyncio.Queue[object] = asyncio.Queue()
    check_q: asyncio.Queue[object] = asyncio.Queue()
    c = cand(tmp_path, "w.jpg", b"w")
    hash_q.put_nowait([Unit([c])])
    hash_q.put_nowait(END)
    await stage.run(hash_q, check_q)
    assert c.blake3 is not None and check_q.qsize() == 1


async def test_kept_bytes_wait_for_room_and_a_stop_ends_the_wait():
    stop = asyncio.Event()
    kept = KeptBytes(stop.is_set, total=100)
    assert await kept.reserve(80) == 80
    assert await kept.reserve(101) == 0  # never fits: read twice instead
    waiting = asyncio.create_task(kept.reserve(50))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    kept.give_back(80)
    assert await asyncio.wait_for(waiting, 1) == 50
    blocked = asyncio.create_task(kept.reserve(60))
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(blocked, 1) == 0


async def test_apple_burst_ids_are_read_with_the_hash_only_when_bursts_are_stacked(
        tmp_path, parts):
    """With bursts on, each JPEG/HEIC hashed gets its burst id in the same hop: from the
    kept bytes, or from the headers of one too large to keep; a duplicate's record keeps
    it. Other files, and every file with bursts off, are not looked at (None)."""
    import random

    from immich_standin.samples import (
        apple_maker_note,
        heic_with_exif,
        jpeg_with_exif,
        tiff_exif,
    )

    stage, store, _ = parts
    burst = "6C0F2A5E-3B1D-4F8A-9C7E-2D4B8A1F0E93"
    tiff = tiff_exif(little_endian=False, maker_note=apple_maker_note(burst))
    rng = random.Random(1)
    small = cand(tmp_path, "IMG_0101.JPG", jpeg_with_exif(tiff, rng.randbytes(2000)))
    large = cand(tmp_path, "IMG_0102.HEIC", heic_with_exif(tiff, rng.randbytes(2 << 20)))
    alone = cand(tmp_path, "IMG_0103.HEIC", heic_with_exif(tiff_exif(), rng.randbytes(100)))
    raw = cand(tmp_path, "IMG_0103.DNG", tiff + rng.randbytes(100))
    body = jpeg_with_exif(tiff, b"known")
    await store.put(FileRecord(path=tmp_path / "old.jpg", size=1, mtime_ns=1, ino=1,
                               status=UPLOADED, remote_id="asset-9",
                               sha1=hashlib.sha1(body).digest(),
                               blake3=blake3.blake3(body).digest()))
    copy = cand(tmp_path, "IMG_0104.JPG", body)
    stage.bursts = True
    await stage.digest_group([Unit([small])])  # within the budget: kept
    await stage.digest_group([Unit([c]) for c in (large, alone, raw, copy)])
    assert small.data is not None and large.data is None  # one from memory, one from disk
    assert [c.burst for c in (small, large, alone, raw, copy)] == [burst, burst, "", None, burst]
    assert (await store.get(copy.path)).burst == burst  # recorded with its outcome
    stage.bursts = False
    again = cand(tmp_path / "off", "IMG_0101.JPG", jpeg_with_exif(tiff, b"other"))
    await stage.digest_group([Unit([again])])
    assert again.sha1 is not None and again.burst is None
