"""The Apple burst id, read from real byte layouts built here: an iPhone JPEG (big-endian
Exif, maker note ``Apple iOS``) and HEIC (the Exif item of its ``meta`` box), laid out as
exiftool's Apple table reads them; only headers read, bad bytes never raising."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest

from immich_backupd.media.appleburst import burst_from_stream, may_have_burst, read_burst
from immich_backupd.media.capture_date import DateSource, date_from_stream
from immich_standin.samples import apple_maker_note, heic_with_exif, jpeg_with_exif, tiff_exif

BURST = "6C0F2A5E-3B1D-4F8A-9C7E-2D4B8A1F0E93"
RNG = random.Random(18)


def iphone_tiff(burst: str | None = BURST, *, note: bytes | None = None,
                little_endian: bool = False) -> bytes:
    """An iPhone's Exif: big-endian like theirs, a date, and the maker note."""
    return tiff_exif("2024:05:01 10:30:00", "+02:00", "123", little_endian=little_endian,
                     maker_note=apple_maker_note(burst) if note is None else note)


class CountingReader(io.BytesIO):
    """A stream that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, n: int | None = -1) -> bytes:
        got = super().read(n)
        self.read_bytes += len(got)
        return got


def test_the_burst_id_of_an_iphone_jpeg(tmp_path: Path):
    data = jpeg_with_exif(iphone_tiff(), RNG.randbytes(3000), icc_first=True)
    path = tmp_path / "IMG_0101.JPG"
    path.write_bytes(data)
    assert read_burst(path) == BURST
    assert read_burst(path, data) == BURST  # from the bytes kept in memory
    # The same walk still gives the capture date of that file.
    got = date_from_stream(io.BytesIO(data), path.name, 0)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.123+02:00"


@pytest.mark.parametrize("prefix", [True, False])
def test_the_burst_id_of_an_iphone_heic(tmp_path: Path, prefix: bool):
    data = heic_with_exif(iphone_tiff(), RNG.randbytes(5000), items_before=49, prefix=prefix)
    path = tmp_path / "IMG_0102.HEIC"
    path.write_bytes(data)
    assert read_burst(path) == BURST


def test_a_little_endian_maker_note_and_exif_are_read_too():
    note = apple_maker_note(BURST, little_endian=True)
    assert note[12:14] == b"II"
    data = jpeg_with_exif(iphone_tiff(note=note, little_endian=True), RNG.randbytes(100))
    assert burst_from_stream(io.BytesIO(data)) == BURST


def test_the_maker_note_layout_is_apples():
    """As exiftool's MakerNotes table finds it: the signature, version 1, the byte order,
    the directory at 14 and its offsets from the maker note's first byte."""
    note = apple_maker_note(BURST)
    assert note[:14] == b"Apple iOS\0\0\x01MM"
    count = struct.unpack(">H", note[14:16])[0]
    entries = [struct.unpack(">HHII", note[16 + 12 * i:28 + 12 * i]) for i in range(count)]
    _, kind, n, at = next(e for e in entries if e[0] == 0x000B)
    assert (kind, n) == (2, len(BURST) + 1)
    assert note[at:at + n - 1] == BURST.encode()


@pytest.mark.parametrize("data", [
    jpeg_with_exif(iphone_tiff(None), b"x" * 100),  # an iPhone photo taken alone
    jpeg_with_exif(tiff_exif("2024:05:01 10:30:00"), b"x" * 100),  # no maker note
    jpeg_with_exif(tiff_exif(maker_note=b"Nikon\0\x02\x10\0\0MM\0*\0\0\0\x08\0\0"), b"x"),
    jpeg_with_exif(None, b"x" * 100),  # no Exif at all
    heic_with_exif(tiff_exif("2024:05:01 10:30:00"), b"x" * 100),
    b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
    b"",
])
def test_no_burst_id(data: bytes):
    assert burst_from_stream(io.BytesIO(data)) is None


def test_the_content_identifier_is_not_taken_for_the_burst():
    """A Live Photo's pairing id (tag 0x0011) is in every iPhone photo; only 0x000b
    says burst."""
    data = jpeg_with_exif(iphone_tiff(None), b"x" * 100)
    assert b"0F3C8A52-1B7E-4C1D-9A3F-5E2B7D9C4A10" in data
    assert burst_from_stream(io.BytesIO(data)) is None


def test_broken_bytes_never_raise():
    good = jpeg_with_exif(iphone_tiff(), RNG.randbytes(2000))
    rng = random.Random(5)
    for cut in range(0, 400, 7):
        assert burst_from_stream(io.BytesIO(good[:cut])) in (None, BURST)
    for _ in range(200):
        bad = bytearray(good)
        for _ in range(8):
            bad[rng.randrange(2, 400)] = rng.randrange(256)
        got = burst_from_stream(io.BytesIO(bytes(bad)))
        assert got is None or isinstance(got, str)
    # A burst id that is no text (control bytes) is no id.
    assert burst_from_stream(io.BytesIO(jpeg_with_exif(iphone_tiff("a\x01b"), b"x"))) is None


def test_only_the_headers_are_read():
    image = RNG.randbytes(4 << 20)
    for data in (jpeg_with_exif(iphone_tiff(), image, icc_first=True),
                 heic_with_exif(iphone_tiff(), image, items_before=49)):
        fh = CountingReader(data)
        assert burst_from_stream(fh) == BURST
        assert fh.read_bytes < 8 * 1024, fh.read_bytes


def test_which_files_are_read():
    assert all(map(may_have_burst, ["IMG_1.JPG", "a.jpeg", "IMG_2.HEIC", "x.heif", "y.HIF"]))
    assert not any(map(may_have_burst, ["IMG_1.DNG", "IMG_1.MOV", "a.png", "IMG_1.CR2"]))


def test_an_unreadable_file_raises_for_the_caller(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        read_burst(tmp_path / "gone.jpg")
