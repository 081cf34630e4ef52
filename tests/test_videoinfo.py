"""Video durations from the mvhd box, on real files."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

from immich_backupd.media.videoinfo import duration_ms, parse_mvhd
from immich_standin.library import mp4_with_duration


def test_duration_with_moov_first_or_last(tmp_path: Path):
    for moov_last in (True, False):
        path = tmp_path / f"clip-{moov_last}.MP4"
        path.write_bytes(mp4_with_duration(2_345, b"\x00" * 5000, moov_last=moov_last))
        assert duration_ms(path) == 2_345


def test_version_1_mvhd():
    payload = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 1000, 61_000) + bytes(80)
    assert parse_mvhd(payload).duration_ms == 61_000


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
    assert parse_mvhd(bytes(10)) == (None, None)
    assert parse_mvhd(bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, 0, 5)) == (None, None)


def test_one_parse_gives_both_fields_each_by_its_own_length():
    created = 2_082_844_800 + 1_714_552_200  # 2024-05-01 08:30 UTC, in QuickTime seconds
    v0 = bytes([0, 0, 0, 0]) + struct.pack(">IIII", created, created, 600, 1_200)
    assert parse_mvhd(v0) == (2_000, datetime(2024, 5, 1, 8, 30, tzinfo=UTC))
    assert parse_mvhd(v0[:12]) == (None, datetime(2024, 5, 1, 8, 30, tzinfo=UTC))
    v1 = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", created, created, 1000, 61_000)
    assert parse_mvhd(v1) == (61_000, datetime(2024, 5, 1, 8, 30, tzinfo=UTC))
    unset = bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, 600, 1_200)
    assert parse_mvhd(unset) == (2_000, None)  # a clock never set: no date, a duration
