"""Capture dates of the formats whose EXIF lies in another container (PNG, WebP, CR3, RAF),
PNG's text dates, and the TIFF-based RAWs and AVIF read like TIFF and HEIC: small real
files built here, read through ``capture_date`` as the upload reads them."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from immich_backupd.media.capture_containers import MAX_TEXT_BYTES, text_date, xmp_date
from immich_backupd.media.capture_date import DateSource, capture_date, date_from_stream
from immich_standin.samples import (
    PNG_SIG,
    cr3_with_exif,
    exif_ifd_tiff,
    heic_with_exif,
    jpeg_with_exif,
    png_with,
    raf_with_jpeg,
    tiff_exif,
    webp_with_exif,
    xmp_packet,
)
from tests.test_capture_date import CountingRaw

BERLIN = ZoneInfo("Europe/Berlin")
MTIME_NS = int(datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) * 1_000_000_000
RNG = random.Random(18)


def filler(n: int = 5000) -> bytes:
    return RNG.randbytes(n)


def date_of(tmp_path: Path, name: str, data: bytes):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(data)
    return capture_date(path, MTIME_NS, tz=BERLIN)


# --- PNG -------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [False, True])
def test_png_exif_chunk(tmp_path: Path, prefix: bool):
    tiff = tiff_exif("2024:05:01 10:30:00", "-03:00")
    got = date_of(tmp_path, "a.png", png_with(filler(), exif=(b"Exif\0\0" if prefix else b"")
                                                  + tiff))
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.000-03:00"


def test_png_exif_wins_over_text_and_text_without_offset_is_local(tmp_path: Path):
    both = png_with(filler(), exif=tiff_exif("2024:05:01 10:30:00", "+01:00"),
                    texts=(("Creation Time", "2020-01-01T00:00:00"),))
    assert date_of(tmp_path, "b.png", both).iso() == "2024-05-01T10:30:00.000+01:00"
    text = png_with(filler(), texts=(("Creation Time", "2024-05-01T10:30:00"),))
    got = date_of(tmp_path, "c.png", text)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"  # wall time in Berlin


@pytest.mark.parametrize(("written", "expected"), [
    ("Wed, 01 May 2024 10:30:00 +0530", "2024-05-01T10:30:00.000+05:30"),  # RFC 1123
    ("2024:05:01 10:30:00", "2024-05-01T10:30:00.000+02:00"),  # the EXIF form
    ("2024-05-01T08:30:00Z", "2024-05-01T08:30:00.000+00:00"),
])
def test_png_creation_time_forms(tmp_path: Path, written: str, expected: str):
    data = png_with(filler(), texts=(("Comment", "hello"), ("Creation Time", written)))
    assert date_of(tmp_path, "d.png", data).iso() == expected


@pytest.mark.parametrize("compressed", [False, True])
def test_png_xmp_date_wins_over_creation_time(tmp_path: Path, compressed: bool):
    xmp = xmp_packet(photoshop_DateCreated="2019-07-14T18:05:00.5+02:00")
    data = png_with(filler(), texts=(("Creation Time", "2001-01-01T00:00:00"),),
                    itxt_xmp=xmp, compressed_xmp=compressed)
    got = date_of(tmp_path, "e.png", data)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2019-07-14T18:05:00.500+02:00"


def test_png_metadata_after_the_image_data_is_not_read(tmp_path: Path):
    late = png_with(filler(), exif=tiff_exif("2024:05:01 10:30:00"), exif_after_idat=True)
    assert date_of(tmp_path, "f.png", late).source is DateSource.FILE_TIME
    huge = png_with(filler(), texts=(("Creation Time", "2024-05-01T10:30:00"),
                                     ("Comment", "x" * (MAX_TEXT_BYTES + 1))))
    assert date_of(tmp_path, "g.png", huge).iso() == "2024-05-01T10:30:00.000+02:00"
    too_big = png_with(filler(), texts=(("Creation Time", "2024-05-01T10:30:00"
                                         + " " * MAX_TEXT_BYTES),))
    assert date_of(tmp_path, "h.png", too_big).source is DateSource.FILE_TIME


# --- WebP ------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [False, True])
def test_webp_exif_after_the_image_data(tmp_path: Path, prefix: bool):
    data = webp_with_exif(tiff_exif("2024:05:01 10:30:00", "+09:00", "5", little_endian=False),
                          filler(20001), prefix=prefix)  # odd size: the chunk is padded
    got = date_of(tmp_path, "IMG_0001.webp", data)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.500+09:00"


def test_webp_without_exif_uses_its_name(tmp_path: Path):
    got = date_of(tmp_path, "IMG_20240501_103000.webp", webp_with_exif(None, filler()))
    assert got.source is DateSource.NAME


# --- CR3 and RAF -----------------------------------------------------------------------

def test_cr3_reads_cmt2_not_cmt1_or_mvhd(tmp_path: Path):
    data = cr3_with_exif(exif_ifd_tiff("2024:05:01 10:30:00", "+02:00"), filler())
    got = date_of(tmp_path, "IMG_0001.CR3", data)
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"
    local = cr3_with_exif(exif_ifd_tiff("2024:01:15 08:00:00"), filler())
    assert date_of(tmp_path, "IMG_0002.CR3", local).iso() == "2024-01-15T08:00:00.000+01:00"


def test_cr3_without_a_date_falls_to_the_file_time(tmp_path: Path):
    data = cr3_with_exif(exif_ifd_tiff("0000:00:00 00:00:00"), filler())
    assert date_of(tmp_path, "IMG_0003.CR3", data).source is DateSource.FILE_TIME


def test_raf_reads_its_jpeg_preview(tmp_path: Path):
    jpeg = jpeg_with_exif(tiff_exif("2024:05:01 10:30:00", "+02:00"), filler(), icc_first=True)
    got = date_of(tmp_path, "DSCF0001.RAF", raf_with_jpeg(jpeg, filler()))
    assert got.source is DateSource.METADATA
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"


def test_raf_with_its_jpeg_out_of_the_file_falls_through(tmp_path: Path):
    data = bytearray(raf_with_jpeg(jpeg_with_exif(tiff_exif(), filler()), b""))
    data[88:92] = (10**6).to_bytes(4, "big")  # a length past the end
    assert date_of(tmp_path, "DSCF0002.RAF", bytes(data)).source is DateSource.FILE_TIME


# --- the formats that were read before: TIFF-based RAWs, AVIF ---------------------------

@pytest.mark.parametrize(("name", "magic", "little"), [
    ("IMG_0001.DNG", b"II*\0", True),
    ("DSC_0001.NEF", b"MM\0*", False),
    ("DSC00001.ARW", b"II*\0", True),
    ("P1010001.ORF", b"IIRO", True),  # Olympus: its own magic on a TIFF layout
    ("P1000001.RW2", b"IIU\0", True),  # Panasonic likewise
])
def test_tiff_based_raws(tmp_path: Path, name: str, magic: bytes, little: bool):
    tiff = tiff_exif("2022:08:09 07:06:05", "-04:00", little_endian=little)
    got = date_of(tmp_path, name, magic + tiff[4:] + filler())
    assert got.source is DateSource.METADATA, name
    assert got.iso() == "2022-08-09T07:06:05.000-04:00"


def test_avif_reads_like_heic(tmp_path: Path):
    data = heic_with_exif(tiff_exif("2024:05:01 10:30:00", "+02:00"), filler(), brand=b"avif")
    assert date_of(tmp_path, "a.avif", data).iso() == "2024-05-01T10:30:00.000+02:00"


# --- bytes read ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["png", "webp", "cr3", "raf"])
def test_only_headers_are_read_of_a_big_file(tmp_path: Path, kind: str):
    """3 MB of image data cost at most three 64 KiB blocks, wherever the EXIF is."""
    big = filler(3_000_000)
    tiff = tiff_exif("2024:05:01 10:30:00", "+02:00")
    data = {"png": lambda: png_with(big, exif=tiff),
            "webp": lambda: webp_with_exif(tiff, big),
            "cr3": lambda: cr3_with_exif(exif_ifd_tiff("2024:05:01 10:30:00", "+02:00"), big),
            "raf": lambda: raf_with_jpeg(jpeg_with_exif(tiff, filler()), big)}[kind]()
    path = tmp_path / f"big.{kind}"
    path.write_bytes(data)
    raw = CountingRaw(path)
    with io.BufferedReader(raw, buffer_size=64 * 1024) as fh:
        got = date_from_stream(fh, path.name, MTIME_NS, BERLIN)
    assert got.iso() == "2024-05-01T10:30:00.000+02:00"
    assert raw.read_bytes <= 3 * 64 * 1024, raw.read_bytes


def test_broken_containers_fall_through(tmp_path: Path):
    tiff = tiff_exif("2024:05:01 10:30:00")
    for name, data in [
        ("a.png", PNG_SIG),
        ("b.png", PNG_SIG + b"\xff\xff\xff\xffeXIf"),
        ("c.png", png_with(b"", exif=b"II*\0\xff\xff\xff\xff")),
        ("d.webp", webp_with_exif(tiff, filler())[:60]),
        ("e.webp", b"RIFF\0\0\0\0WEBPVP8X"),
        ("f.cr3", cr3_with_exif(exif_ifd_tiff("2024:05:01 10:30:00"), b"")[:90]),
        ("g.raf", b"FUJIFILMCCD-RAW 0201"),
        ("h.png", png_with(b"", texts=(("Creation Time", "next tuesday"),))),
    ]:
        got = capture_date(tmp_path / name, MTIME_NS, data=data, tz=BERLIN)
        assert got.source is DateSource.FILE_TIME, name


# --- text dates ------------------------------------------------------------------------

def test_text_and_xmp_dates():
    plus2 = timezone(timedelta(hours=2))
    assert text_date("2024-05-01T10:30:00+02:00") == datetime(2024, 5, 1, 10, 30, tzinfo=plus2)
    assert text_date("2024-05-01T10:30+0200") == datetime(2024, 5, 1, 10, 30, tzinfo=plus2)
    assert text_date("2024-05-01") == datetime(2024, 5, 1)
    assert text_date("Wed, 01 May 2024 10:30:00 -0000") == datetime(2024, 5, 1, 10, 30)
    assert text_date("2024-02-30T10:00:00") is None and text_date("") is None
    element = "<rdf:Description><xmp:CreateDate>2024-05-01T10:30:00</xmp:CreateDate>"
    assert xmp_date(element) == datetime(2024, 5, 1, 10, 30)
    both = xmp_packet(xmp_CreateDate="2001-01-01T00:00:00",
                      exif_DateTimeOriginal="2024-05-01T10:30:00Z")
    assert xmp_date(both) == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert xmp_date(xmp_packet(exif_DateTimeOriginal="unknown")) is None
