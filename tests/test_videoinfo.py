"""Video durations from the mvhd box, on real files."""

from __future__ import annotations

import struct
from pathlib import Path

from immich_backupd.videoinfo import duration_ms, parse_mvhd
from immich_standin.library import mp4_with_duration


def test_duration_with_moov_first_or_last(tmp_path: Path):
    for moov_last in (True, False):
        path = tmp_path / f"clip-{moov_last}.MP4"
        path.write_bytes(mp4_with_duration(2_345, b"\x00" * 5000, moov_last=moov_last))
        assert duration_ms(path) == 2_345


def test_version_1_mvhd():
    payload = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 1000, 61_000) + bytes(80)
    assert parse_mvhd(payload) == 61_000


def test_unknown_or_garbage_gives_none(tmp_path: Path):
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"\xff" * 64)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(mp4_with_duration(1000, b""))
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(mp4_with_duration(1000, b"x" * 100)[:-110])  # inside mvhd
    assert duration_ms(junk) is None
    assert duration_ms(empty) is None
    assert duration_ms(photo) is None  # only ISO-BMFF extensions are parsed
    assert duration_ms(truncated) is None
    assert duration_ms(tmp_path / "missing.mp4") is None
    assert parse_mvhd(bytes(10)) is None
    assert parse_mvhd(bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, 0, 5)) is None
