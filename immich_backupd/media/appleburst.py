"""An iPhone burst's id, read from inside the photo: Apple names burst frames like any
other photo (``IMG_1234.HEIC``) and marks the burst in each frame's maker note instead.

The Exif maker note of an iPhone's JPEG or HEIC starts ``Apple iOS\\0``, a version, its
byte order (``MM``), then a TIFF directory whose offsets count from the maker note's
start; its tag ``0x000b`` (exiftool's ``BurstUUID``) is a text UUID shared by every frame
of one burst. Apple marks no cover in the file: which frame the user picked lives in the
Photos library (Image Capture's ``burstPicked``), not in the photo, so the stacks take
the first frame by name (an iPhone numbers its frames in the order they were taken).

Only headers are read (:mod:`.exif` walks them, as for the capture date): a JPEG's
segment headers to its Exif block, a HEIC's ``meta`` box to its Exif item, then three
small directories. :func:`burst_from_stream` is pure; :func:`read_burst` opens the file.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path
from typing import BinaryIO

from .exif import apple_maker_note, exif_bases, tiff_at
from .kinds import extension

BURST_UUID = 0x000B  # Apple maker note: the burst's id, text
BURST_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".hif"})
"""The files an iPhone writes bursts as, the only ones a burst id is read from."""

_BUFFER = 64 * 1024  # read in blocks of this size, headers only
_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable, no blanks: a UUID as Apple writes it


def may_have_burst(name: str) -> bool:
    """Whether a burst id is looked for in a file of this name (JPEG or HEIC)."""
    return extension(name) in BURST_EXTENSIONS


def burst_from_stream(fh: BinaryIO) -> str | None:
    """The Apple burst id of the photo open as ``fh`` (seekable), or None: not a
    JPEG/HEIC, no Exif, no Apple maker note, no burst id, or bytes that cannot be
    parsed (never raises for bad content)."""
    try:
        for base in exif_bases(fh):
            tiff = tiff_at(fh, base)
            exif = tiff.exif() if tiff is not None else None
            if tiff is None or exif is None:
                continue
            note = apple_maker_note(tiff, exif)
            if note is None:
                continue
            inner, entries = note
            text = inner.text(entries.get(BURST_UUID)).strip()
            return text if _ID.fullmatch(text) else None
    except (struct.error, ValueError, OverflowError):
        return None
    return None


def read_burst(path: Path | str, data: bytes | None = None) -> str | None:
    """The Apple burst id of the file at ``path`` (see :func:`burst_from_stream`).

    ``data``: the file's bytes when already in memory (nothing is read then). Otherwise
    its headers are read in blocks of 64 KiB. An OSError (gone, unreadable) propagates:
    the caller decides whether that means "none" or "read it again later"."""
    if data is not None:
        return burst_from_stream(io.BytesIO(data))
    with open(path, "rb", buffering=_BUFFER) as fh:
        return burst_from_stream(fh)
