"""Frames backed up before their Apple burst id was read (an earlier release, bursts
off): the stacking of their folder reads each once, on a real state and real files,
and never a cloud placeholder or a file it cannot read."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.pipeline.stacking import _burst_ids
from immich_backupd.state import DUPLICATE, FAILED, UPLOADED, FileRecord, StateStore
from immich_standin.samples import apple_maker_note, jpeg_with_exif, tiff_exif

BURST = "6C0F2A5E-3B1D-4F8A-9C7E-2D4B8A1F0E93"


async def test_unread_frames_are_read_once_and_placeholders_never(tmp_path: Path,
                                                                  store: StateStore):
    lib = tmp_path / "lib"
    lib.mkdir()
    frame = jpeg_with_exif(tiff_exif(maker_note=apple_maker_note(BURST)), b"x" * 500)
    files = {
        "IMG_0101.JPG": frame,  # an unread frame on the server
        "IMG_0102.JPG": jpeg_with_exif(tiff_exif(), b"y" * 500),  # a photo taken alone
        "IMG_0103.JPG": b" ",  # a cloud stub (one byte): reading it would download it
        "IMG_0104.JPG": frame,  # failed: not on the server, not read
        "IMG_0105.CR2": frame,  # not a JPEG/HEIC
        "IMG_0106.JPG": b"read before",  # its id is known: not read again
    }
    for name, body in files.items():
        (lib / name).write_bytes(body)
    status = {"IMG_0104.JPG": FAILED, "IMG_0106.JPG": DUPLICATE}
    known = {"IMG_0106.JPG": BURST}
    await store.put_many([
        FileRecord(path=lib / name, size=1, mtime_ns=1, ino=i, status=status.get(name, UPLOADED),
                   remote_id=None if name == "IMG_0104.JPG" else f"r{i}",
                   burst=known.get(name))
        for i, name in enumerate([*files, "IMG_0107.JPG"])])  # 0107: gone from the disk
    assert await _burst_ids(store, lib) == {"IMG_0101.JPG": BURST, "IMG_0106.JPG": BURST}
    assert await store.bursts_in(lib) == {
        "IMG_0101.JPG": BURST, "IMG_0102.JPG": "", "IMG_0103.JPG": None,
        "IMG_0105.CR2": None, "IMG_0106.JPG": BURST, "IMG_0107.JPG": None}
    # Read once: a file whose answer is kept ("" too) is not opened again (had it been,
    # it would now say burst; its change is the next pass's hash to see).
    (lib / "IMG_0102.JPG").write_bytes(frame)
    assert await _burst_ids(store, lib) == {"IMG_0101.JPG": BURST, "IMG_0106.JPG": BURST}
