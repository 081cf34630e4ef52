"""The one-time read of the burst ids of photos backed up before (pipeline/burstread.py),
on a real state and real files: each unread JPEG/HEIC on the server read once, in every
folder, a chunk at a time across passes; a changed file, a cloud stub, a gone file, a
RAW and a file not on the server never; once done, nothing is looked at again until a
pass with bursts off records photos unread."""

from __future__ import annotations

import os
from pathlib import Path

from immich_backupd.media.appleburst import BURST_EXTENSIONS
from immich_backupd.pipeline.burstread import CatchUp, catch_up_bursts, forget_catch_up
from immich_backupd.state import FAILED, UPLOADED, FileRecord, StateStore, WorkerReads
from immich_backupd.state.bursts import CATCHUP_KEY, DONE
from immich_standin.samples import apple_maker_note, heic_with_exif, jpeg_with_exif, tiff_exif

BURST = "6C0F2A5E-3B1D-4F8A-9C7E-2D4B8A1F0E93"
FRAME = jpeg_with_exif(tiff_exif(maker_note=apple_maker_note(BURST)), b"x" * 500)
ALONE = jpeg_with_exif(tiff_exif(), b"y" * 500)
HEIC_FRAME = heic_with_exif(tiff_exif(maker_note=apple_maker_note(BURST)), b"z" * 500)


async def _library(tmp: Path, store: StateStore) -> dict[str, Path]:
    """Files on disk with records as a pass with bursts off leaves them."""
    files = {
        "a/IMG_0001.JPG": FRAME, "a/IMG_0002.HEIC": HEIC_FRAME, "a/IMG_0003.JPG": ALONE,
        "b/IMG_0011.jpeg": FRAME, "b/IMG_0012.JPG": FRAME,
        "b/IMG_0013.JPG": FRAME,  # changed since its record: the scan's to hash again
        "b/IMG_0014.JPG": b" ",  # a cloud stub: reading it would download it
        "b/IMG_0015.CR2": FRAME,  # not a JPEG/HEIC
        "b/IMG_0016.JPG": FRAME,  # failed: not on the server
        "c/IMG_0021.JPG": FRAME,  # gone from the disk below
    }
    paths = {}
    for rel, body in files.items():
        path = paths[rel] = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    records = []
    for i, (rel, path) in enumerate(paths.items()):
        st = os.stat(path)
        records.append(FileRecord(
            path=path, size=st.st_size + (rel == "b/IMG_0013.JPG"), mtime_ns=st.st_mtime_ns,
            ino=st.st_ino, status=FAILED if rel == "b/IMG_0016.JPG" else UPLOADED,
            remote_id=None if rel == "b/IMG_0016.JPG" else f"r{i}"))
    await store.put_many(records)
    paths["c/IMG_0021.JPG"].unlink()
    return paths


async def _bursts(store: StateStore, paths: dict[str, Path]) -> dict[str, str | None]:
    out = {}
    for rel, path in paths.items():
        record = await store.get(path)
        assert record is not None
        out[rel] = record.burst
    return out


async def test_each_unread_photo_is_read_once_across_passes(tmp_path: Path,
                                                            store: StateStore):
    paths = await _library(tmp_path / "lib", store)
    reads = WorkerReads(store.path)  # a dry run's count of what is left to look at
    # On the server, JPEG/HEIC, never read: all but the RAW and the failed one.
    left = [reads.unread_burst_count(BURST_EXTENSIONS)]
    assert left == [8]
    passes: list[CatchUp] = []
    while not (passes and passes[-1].done):  # a chunk of 2 rows a pass (no time left)
        passes.append(await catch_up_bursts(store, stopping=lambda: False,
                                            budget=0, chunk=2))
        left.append(reads.unread_burst_count(BURST_EXTENSIONS))
        assert len(passes) < 10
    reads.close()
    assert left == [8, 6, 4, 2, 0, 0]
    assert sum(p.read for p in passes) == 5  # every readable one, none twice
    assert sum(p.in_burst for p in passes) == 4
    assert set().union(*(p.folders for p in passes)) == {tmp_path / "lib/a", tmp_path / "lib/b"}
    assert await _bursts(store, paths) == {
        "a/IMG_0001.JPG": BURST, "a/IMG_0002.HEIC": BURST, "a/IMG_0003.JPG": "",
        "b/IMG_0011.jpeg": BURST, "b/IMG_0012.JPG": BURST, "b/IMG_0013.JPG": None,
        "b/IMG_0014.JPG": None, "b/IMG_0015.CR2": None, "b/IMG_0016.JPG": None,
        "c/IMG_0021.JPG": None}
    assert await store.get_meta(CATCHUP_KEY) == DONE
    # Done: a photo recorded unread now (it cannot be, with bursts on) is not looked for.
    late = tmp_path / "lib/a/IMG_0004.JPG"
    late.write_bytes(FRAME)
    st = os.stat(late)
    await store.put(FileRecord(path=late, size=st.st_size, mtime_ns=st.st_mtime_ns,
                               ino=st.st_ino, status=UPLOADED, remote_id="r-late"))
    again = await catch_up_bursts(store, stopping=lambda: False)
    assert (again.read, again.done) == (0, True)
    # A pass with bursts off records photos unread: the next pass with them on looks again.
    await forget_catch_up(store)
    assert await store.get_meta(CATCHUP_KEY) == ""
    back = await catch_up_bursts(store, stopping=lambda: False)
    assert (back.read, back.in_burst, back.folders, back.done) == (
        1, 1, {tmp_path / "lib/a"}, True)


async def test_a_stopped_pass_reads_nothing_and_a_pass_with_time_left_reads_all(
        tmp_path: Path, store: StateStore):
    await _library(tmp_path / "lib", store)
    stopped = await catch_up_bursts(store, stopping=lambda: True)
    assert (stopped.read, stopped.done) == (0, False)
    assert await store.get_meta(CATCHUP_KEY) is None
    whole = await catch_up_bursts(store, stopping=lambda: False, chunk=2)
    assert (whole.read, whole.in_burst, whole.done) == (5, 4, True)


async def test_bursts_off_from_the_start_writes_nothing(tmp_path: Path, store: StateStore):
    await _library(tmp_path / "lib", store)
    await forget_catch_up(store)
    assert await store.get_meta(CATCHUP_KEY) is None
