"""An iPhone ProRAW live photo against the stand-in (issue 18): ``IMG.DNG`` + ``IMG.MOV``
is a live photo of the DNG; with a HEIC of the same name as well, the HEIC is the still the
video is linked to (and the RAW+JPEG stack's cover), also when the video comes later."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .conftest import Setup, write_config


def write(path: Path) -> str:
    """Write a small file unique to its path; return its SHA-1 hex."""
    data = b"\0\0\0\x18ftyp" + str(path).encode() * 40
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def assets_by_checksum(server) -> dict:
    with server.state.lock:
        return {a.checksum_hex: a for a in server.state.assets.values()}


def once(setup: Setup) -> None:
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr


def test_proraw_live_photos_link_the_right_still(server, tmp_path: Path):
    lib = tmp_path / "lib"
    lib.mkdir()
    config = write_config(tmp_path, server, None, albums={"include": [str(lib)]},
                          album_sync=False)
    setup = Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                  state_dir=tmp_path / "state")
    dng_alone, dng_alone_mov = write(lib / "IMG_0001.DNG"), write(lib / "IMG_0001.MOV")
    dng, heic, mov = (write(lib / "IMG_0002.DNG"), write(lib / "IMG_0002.HEIC"),
                      write(lib / "IMG_0002.MOV"))
    two_stills = [write(lib / "IMG_0003.HEIC"), write(lib / "IMG_0003.JPG")]
    two_stills_mov = write(lib / "IMG_0003.MOV")
    late_dng, late_heic = write(lib / "IMG_0004.DNG"), write(lib / "IMG_0004.HEIC")
    once(setup)

    got = assets_by_checksum(server)
    assert got[dng_alone].live_photo_video_id == got[dng_alone_mov].id
    assert got[dng_alone_mov].visibility == "hidden"
    assert got[heic].live_photo_video_id == got[mov].id
    assert got[dng].live_photo_video_id is None
    assert got[mov].visibility == "hidden" and got[dng].visibility == "timeline"
    for still in two_stills:  # HEIC + JPG: which one cannot be told, so neither
        assert got[still].live_photo_video_id is None
    assert got[two_stills_mov].visibility == "timeline"
    with server.state.lock:  # the DNG stacked under its HEIC, the one that plays
        stacks = [[a.checksum_hex for a in server.state.stack_members(i)]
                  for i in server.state.stacks]
    assert [heic, dng] in stacks and [late_heic, late_dng] in stacks

    late_mov = write(lib / "IMG_0004.MOV")  # the video synced after its stills
    once(setup)
    got = assets_by_checksum(server)
    assert got[late_heic].live_photo_video_id == got[late_mov].id
    assert got[late_dng].live_photo_video_id is None
    assert got[late_mov].visibility == "hidden"
    counts = (server.state.counters.created, server.state.counters.updates)
    once(setup)  # nothing new: nothing sent again
    assert (server.state.counters.created, server.state.counters.updates) == counts
