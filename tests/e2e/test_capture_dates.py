"""The date each kind of file is uploaded with (``fileCreatedAt``), end to end: the real
CLI, in a known zone, against the stand-in (which records what was sent)."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime
from pathlib import Path

from immich_standin import StandinServer
from immich_standin.library import Library
from immich_standin.samples import (
    apple_meta,
    heic_with_exif,
    jpeg_with_exif,
    mp4_with_creation,
    png_with,
    tiff_exif,
    webp_with_exif,
    xmp_packet,
)

from .conftest import Setup, write_config

MTIME = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


def test_file_created_at_for_each_kind(server: StandinServer, tmp_path: Path):
    rng = random.Random(3)
    root = tmp_path / "lib" / "Phone"
    root.mkdir(parents=True)
    files = {
        "DSC_0001.JPG": (jpeg_with_exif(tiff_exif("2024:05:01 10:30:00", "+05:30"),
                                        rng.randbytes(4000)),
                         "2024-05-01T10:30:00.000+05:30"),  # EXIF with its offset
        "DSC_0002.jpg": (jpeg_with_exif(tiff_exif("2024:01:15 08:00:00"), rng.randbytes(4000)),
                         "2024-01-15T08:00:00.000+01:00"),  # EXIF wall time, Berlin in winter
        "IMG_0003.HEIC": (heic_with_exif(tiff_exif("2024:07:04 12:00:00", "-04:00"),
                                         rng.randbytes(4000)),
                          "2024-07-04T12:00:00.000-04:00"),
        "clip.MOV": (mp4_with_creation(datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
                                       rng.randbytes(4000), brand=b"qt  "),
                     "2024-05-01T10:30:00.000+02:00"),  # mvhd in UTC, shown in Berlin
        "IMG_0004.MOV": (mp4_with_creation(datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
                                           rng.randbytes(4000), brand=b"qt  ",
                                           apple=apple_meta("2024-05-01T04:30:00-0400")),
                         "2024-05-01T04:30:00.000-04:00"),  # the iPhone's own offset
        "Screenshot_2024-05-01-10-30-00.png": (b"\x89PNG\r\n\x1a\n" + rng.randbytes(4000),
                                               "2024-05-01T10:30:00.000+02:00"),
        "PXL_20240501_103000123.jpg": (jpeg_with_exif(None, rng.randbytes(4000)),
                                       "2024-05-01T10:30:00.123+02:00"),
        "IMG_0007.PNG": (png_with(rng.randbytes(4000),
                                  exif=tiff_exif("2024:03:10 09:15:00", "-05:00")),
                         "2024-03-10T09:15:00.000-05:00"),  # PNG eXIf with its offset
        "export.png": (png_with(rng.randbytes(4000), itxt_xmp=xmp_packet(
                           photoshop_DateCreated="2019-07-14T18:05:00")),
                       "2019-07-14T18:05:00.000+02:00"),  # PNG XMP, wall time in Berlin
        "IMG_0008.webp": (webp_with_exif(tiff_exif("2024:05:01 10:30:00", "+09:00"),
                                         rng.randbytes(4001)),
                          "2024-05-01T10:30:00.000+09:00"),  # WebP EXIF after the image
        "notes.png": (b"\x89PNG\r\n\x1a\n" + rng.randbytes(4000),
                      "2023-01-02T04:04:05.000+01:00"),  # the mtime, in Berlin
    }
    for name, (data, _) in files.items():
        (root / name).write_bytes(data)
        os.utime(root / name, (MTIME, MTIME))
    lib = Library(root=tmp_path / "lib", include=[root], exclude=[])
    config = write_config(tmp_path, server, lib)
    setup = Setup(tmp=tmp_path, lib=lib, config=config, state_dir=tmp_path / "state")

    proc = setup.run("once", env={"TZ": "Europe/Berlin"})
    assert proc.returncode == 0, proc.stderr
    with server.state.lock:
        got = {a.original_file_name: a.file_created_at for a in server.state.assets.values()}
    assert got == {name: expected for name, (_, expected) in files.items()}
