"""Capture dates from real small files built here: EXIF in JPEG, TIFF and HEIC, the mvhd of
MP4/MOV, dates in file names, and the file time; always aware, the zone passed in."""

from __future__ import annotations

import io
import os
import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from immich_backupd.media.capture_date import (
    DateSource,
    capture_date,
    date_from_stream,
    name_date,
    parse_exif_datetime,
    parse_offset,
)
from immich_backupd.media.exif import parse_iloc_extent
from immich_standin.samples import (
    apple_meta,
    heic_with_exif,
    jpeg_with_exif,
    mp4_with_creation,
    tiff_exif,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MTIME = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
MTIME_NS = int(MTIME.timestamp()) * 1_000_000_000
RNG = random.Random(7)


def filler(n: int = 5000) -> bytes:
    return RNG.randbytes(n)


def test_jpeg_exif_with_offset_and_subseconds(tmp_path: Path):
    path = tmp_path / "DSC_0001.JPG"
    path.write_bytes(jpeg_with_exif(tiff_exif("2024:05:01 10:30:00", "+05:30", "25"), filler()))
    got = capture_date(path, MTIME_NS, tz=BERLIN)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.250+05:30"


def test_jpeg_exif_without_offset_is_wall_time_in_the_zone(tmp_path: Path):
    """Berlin keeps summer time in May and not in January: the zone's rules for that date."""
    summer = jpeg_with_exif(tiff_exif("2024:05:01 10:30:00"), filler())
    winter = jpeg_with_exif(tiff_exif("2024:01:15 08:00:00", little_endian=False), filler())
    assert date_from_stream(io.BytesIO(summer), "a.jpg", MTIME_NS, BERLIN).iso() \
        == "2024-05-01T10:30:00.000+02:00"
    assert date_from_stream(io.BytesIO(winter), "b.jpg", MTIME_NS, BERLIN).iso() \
        == "2024-01-15T08:00:00.000+01:00"
    assert date_from_stream(io.BytesIO(winter), "b.jpg", MTIME_NS, NEW_YORK).iso() \
        == "2024-01-15T08:00:00.000-05:00"


def test_jpeg_exif_after_another_segment_and_digitized_fallback(tmp_path: Path):
    data = jpeg_with_exif(tiff_exif(None, digitized="2021:12:24 18:00:00"), filler(),
                          icc_first=True)
    got = date_from_stream(io.BytesIO(data), "x.jpg", MTIME_NS, UTC)
    assert got.source is DateSource.METADATA
    assert got.when == datetime(2021, 12, 24, 18, tzinfo=UTC)


def test_unset_exif_date_falls_through_to_the_name_then_the_file_time():
    unset = jpeg_with_exif(tiff_exif("0000:00:00 00:00:00"), filler())
    by_name = date_from_stream(io.BytesIO(unset), "IMG_20240501_103000.jpg", MTIME_NS, BERLIN)
    assert by_name.source is DateSource.NAME
    assert by_name.iso() == "2024-05-01T10:30:00.000+02:00"
    plain = date_from_stream(io.BytesIO(jpeg_with_exif(None, filler())), "holiday.jpg",
                             MTIME_NS, BERLIN)
    assert plain.source is DateSource.FILE_TIME
    assert plain.when == MTIME and plain.iso().endswith("+01:00")


def test_tiff_based_raw(tmp_path: Path):
    path = tmp_path / "IMG_0001.CR2"
    path.write_bytes(tiff_exif("2022:08:09 07:06:05", "-04:00", little_endian=False) + filler())
    got = capture_date(path, MTIME_NS, tz=BERLIN)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2022-08-09T07:06:05.000-04:00"


@pytest.mark.parametrize("prefix", [True, False])
def test_heic_exif_item(tmp_path: Path, prefix: bool):
    path = tmp_path / "IMG_0002.HEIC"
    path.write_bytes(heic_with_exif(tiff_exif("2024:05:01 10:30:00", "+02:00"), filler(),
                                    items_before=70, prefix=prefix))
    got = capture_date(path, MTIME_NS, tz=NEW_YORK)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"


@pytest.mark.parametrize("moov_last", [True, False])
@pytest.mark.parametrize("version", [0, 1])
def test_video_mvhd_creation_time_in_the_local_zone(tmp_path: Path, moov_last: bool,
                                                      version: int):
    path = tmp_path / "clip.MOV"
    taken = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    path.write_bytes(mp4_with_creation(taken, filler(), moov_last=moov_last, brand=b"qt  ",
                                       version=version))
    got = capture_date(path, MTIME_NS, tz=BERLIN)
    assert got.source is DateSource.METADATA
    assert got.when == taken
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"


@pytest.mark.parametrize("full_box", [False, True])
def test_iphone_video_creationdate_with_its_offset_wins_over_mvhd(tmp_path: Path,
                                                                    full_box: bool):
    path = tmp_path / "IMG_0005.MOV"
    taken = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    meta = apple_meta("2024-05-01T04:30:00-0400", full_box=full_box)
    path.write_bytes(mp4_with_creation(taken, filler(), brand=b"qt  ", apple=meta))
    got = capture_date(path, MTIME_NS, tz=BERLIN)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T04:30:00.000-04:00" and got.when == taken


def test_a_bad_apple_creationdate_falls_back_to_mvhd(tmp_path: Path):
    path = tmp_path / "IMG_0006.MOV"
    taken = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    for bad in ("yesterday", "2024-05-01T04:30:00"):  # no offset: not trusted
        path.write_bytes(mp4_with_creation(taken, filler(), apple=apple_meta(bad)))
        assert capture_date(path, MTIME_NS, tz=BERLIN).iso() == "2024-05-01T10:30:00.000+02:00"


def test_video_without_creation_time_uses_its_name(tmp_path: Path):
    path = tmp_path / "VID_20240501_103000.mp4"
    path.write_bytes(mp4_with_creation(None, filler()))
    got = capture_date(path, MTIME_NS, tz=BERLIN)
    assert got.source is DateSource.NAME
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"


@pytest.mark.parametrize(("name", "expected"), [
    ("IMG_20240501_103000.jpg", "2024-05-01T10:30:00.000+02:00"),
    ("VID_20240501_103000.mp4", "2024-05-01T10:30:00.000+02:00"),
    ("PXL_20240501_103000123.jpg", "2024-05-01T10:30:00.123+02:00"),
    ("PXL_20240501_103000123.MP.jpg", "2024-05-01T10:30:00.123+02:00"),
    ("PXL_20240501_103000123.RAW-01.COVER.jpg", "2024-05-01T10:30:00.123+02:00"),
    ("Screenshot_2024-05-01-10-30-00.png", "2024-05-01T10:30:00.000+02:00"),
    ("Screenshot_20240501-103000_Chrome.jpg", "2024-05-01T10:30:00.000+02:00"),
    ("Screenshot 2024-05-01 at 10.30.00.png", "2024-05-01T10:30:00.000+02:00"),
    ("Screen Shot 2024-05-01 at 1.30.00 PM.png", "2024-05-01T13:30:00.000+02:00"),
    ("Screenshot 2024-05-01 at 12.05.00\u202fAM.png", "2024-05-01T00:05:00.000+02:00"),
    ("20240501_103000.jpg", "2024-05-01T10:30:00.000+02:00"),
    ("2024-05-01 10.30.00.jpg", "2024-05-01T10:30:00.000+02:00"),
    ("signal-2024-05-01-103000.jpg", "2024-05-01T10:30:00.000+02:00"),
    ("IMG_20240501_103000_BURST001_COVER.jpg", "2024-05-01T10:30:00.000+02:00"),
    ("IMG-20240501-WA0001.jpg", "2024-05-01T00:00:00.000+02:00"),
    ("1987-06-05 Wedding.jpg", "1987-06-05T00:00:00.000+02:00"),
    ("IMG_20240101_000000.jpg", "2024-01-01T00:00:00.000+01:00"),
])
def test_dates_in_names(name: str, expected: str):
    got = name_date(name, BERLIN)
    assert got is not None and got.isoformat(timespec="milliseconds") == expected


@pytest.mark.parametrize("name", [
    "IMG_1234.JPG", "DSC01234.jpg", "P1020304.JPG", "holiday.jpg", "IMG_20231301_103000.jpg",
    "IMG_20230231_103000.jpg", "12024050199.jpg", "2024.jpg", "20240501", "x_2024-05-01x",
])
def test_names_without_a_date(name: str):
    if name == "20240501":  # no extension: the whole name is read
        assert name_date(name, BERLIN) is not None
    elif name == "x_2024-05-01x":
        assert name_date(name, BERLIN) is not None  # letters around a date are fine
    else:
        assert name_date(name, BERLIN) is None, name


def test_day_only_name_takes_the_file_time_on_that_day():
    same_day = datetime(2024, 5, 1, 16, 45, tzinfo=UTC)
    got = name_date("IMG-20240501-WA0001.jpg", BERLIN, same_day)
    assert got == same_day and got.utcoffset() == timedelta(hours=2)
    other_day = datetime(2024, 6, 9, 12, tzinfo=UTC)
    assert name_date("IMG-20240501-WA0001.jpg", BERLIN, other_day) \
        == datetime(2024, 5, 1, tzinfo=BERLIN)


def test_plain_file_uses_the_file_time_in_the_local_zone(tmp_path: Path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + filler())
    got = capture_date(path, MTIME_NS)  # no zone passed: this machine's
    assert got.source is DateSource.FILE_TIME
    assert got.when == MTIME and got.when.utcoffset() is not None
    assert got.when.utcoffset() == MTIME.astimezone().utcoffset()


def test_bytes_in_memory_are_read_instead_of_the_file(tmp_path: Path):
    path = tmp_path / "gone.jpg"  # never written: nothing is opened
    data = jpeg_with_exif(tiff_exif("2024:05:01 10:30:00", "+00:00"), filler())
    got = capture_date(path, MTIME_NS, data=data, tz=BERLIN)
    assert got.iso() == "2024-05-01T10:30:00.000+00:00"


def test_unreadable_or_garbage_files_fall_through(tmp_path: Path):
    missing = capture_date(tmp_path / "IMG_20240501_103000.jpg", MTIME_NS, tz=BERLIN)
    assert missing.source is DateSource.NAME
    for name, data in [
        ("a.jpg", b"\xff\xd8\xff\xe1\x00\x02"),  # Exif segment cut short
        ("b.jpg", b"\xff\xd8" + b"\xff\xe1\xff\xff" + b"Exif\0\0II*\0\xff\xff\xff\xff"),
        ("c.heic", heic_with_exif(tiff_exif(), filler())[:200]),
        ("d.mp4", mp4_with_creation(datetime(2024, 1, 1, tzinfo=UTC), b"")[:-105]),
        ("e.tif", b"II*\0" + b"\xff" * 20),
        ("f.mov", b"\0\0\0\x01ftyp" + b"\xff" * 8),
        ("g.jpg", b""),
    ]:
        got = capture_date(tmp_path / name, MTIME_NS, data=data, tz=BERLIN)
        assert got.source is DateSource.FILE_TIME, name
        path = tmp_path / name
        path.write_bytes(data)
        assert capture_date(path, MTIME_NS, tz=BERLIN).source is DateSource.FILE_TIME, name


def test_exif_value_parsers():
    assert parse_offset("+02:00") == timezone(timedelta(hours=2))
    assert parse_offset("-0330") == timezone(-timedelta(hours=3, minutes=30))
    assert parse_offset("   ") is None and parse_offset("+25:00") is None
    assert parse_exif_datetime("2024:05:01 10:30:00", "5") == datetime(2024, 5, 1, 10, 30, 0,
                                                                       500_000)
    assert parse_exif_datetime("    :  :     :  :  ") is None
    assert parse_exif_datetime("2024:02:30 10:30:00") is None
    assert parse_exif_datetime("1880:01:01 00:00:00") is None


class CountingRaw(io.RawIOBase):
    """A file whose reads are counted, to show that only headers are read."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("rb", buffering=0)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        return self.fh.seek(pos, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = self.fh.readinto(b)
        self.read_bytes += n or 0
        return n or 0

    def close(self) -> None:
        self.fh.close()
        super().close()


@pytest.mark.parametrize("kind", ["jpeg", "mov", "heic"])
def test_only_headers_are_read_of_a_big_file(tmp_path: Path, kind: str):
    """A 3 MB file costs one or two 64 KiB blocks, whichever end its header is at."""
    big = filler(3_000_000)
    tiff = tiff_exif("2024:05:01 10:30:00", "+02:00")
    data = {"jpeg": lambda: jpeg_with_exif(tiff, big),
            "mov": lambda: mp4_with_creation(datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
                                             big, moov_last=True),
            "heic": lambda: heic_with_exif(tiff, big)}[kind]()
    path = tmp_path / f"big.{kind}"
    path.write_bytes(data)
    raw = CountingRaw(path)
    with io.BufferedReader(raw, buffer_size=64 * 1024) as fh:
        got = date_from_stream(fh, path.name, MTIME_NS, BERLIN)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"
    assert raw.read_bytes <= 3 * 64 * 1024, raw.read_bytes


def test_iloc_versions_and_field_sizes():
    # version 0: offset 4, length 4, base 0; two items, the Exif one second
    v0 = bytes([0, 0, 0, 0, 0x44, 0x00]) + struct.pack(">H", 2) \
        + struct.pack(">HHHII", 1, 0, 1, 100, 50) + struct.pack(">HHHII", 7, 0, 1, 900, 60)
    assert parse_iloc_extent(v0, 7) == (900, 60)
    # version 2: 32-bit ids, offset 8, length 4, base 8, index 4; base + offset
    v2 = bytes([2, 0, 0, 0, 0x84, 0x84]) + struct.pack(">I", 1) \
        + struct.pack(">IHHQH", 9, 0, 0, 1000, 1) + struct.pack(">IQI", 0, 24, 70)
    assert parse_iloc_extent(v2, 9) == (1024, 70)
    # construction method 1 (in the idat box): not read
    v1_idat = bytes([1, 0, 0, 0, 0x44, 0x00]) + struct.pack(">H", 1) \
        + struct.pack(">HHHHII", 5, 1, 0, 1, 0, 10)
    assert parse_iloc_extent(v1_idat, 5) is None
    assert parse_iloc_extent(v0, 8) is None and parse_iloc_extent(v0[:15], 7) is None


def test_iloc_field_sizes_of_zero_and_an_index():
    """Fields iloc may leave out (size 0) read as 0; an extent index comes first."""
    with_index = bytes([1, 0, 0, 0, 0x40, 0x04]) + struct.pack(">H", 1) \
        + struct.pack(">HHHH", 5, 0, 0, 1) + struct.pack(">II", 3, 77)
    assert parse_iloc_extent(with_index, 5) == (77, 0)  # no length field
    based = bytes([1, 0, 0, 0, 0x04, 0x44]) + struct.pack(">H", 1) \
        + struct.pack(">HHHIH", 5, 0, 0, 1000, 1) + struct.pack(">II", 3, 77)
    assert parse_iloc_extent(based, 5) == (1000, 77)  # no offset field: the base
    assert parse_iloc_extent(bytes([1, 0, 0, 0, 0x24, 0x00, 0, 1]), 5) is None  # size 2
