"""Where PNG, WebP, Canon CR3 and Fujifilm RAF files keep their capture date.

:mod:`.exif` finds the Exif of JPEG, HEIF and TIFF-based files and walks its
directories; this module finds where the Exif lies in these other containers (for
:mod:`.capture_date` to walk with :mod:`.exif`), and reads the dates PNG keeps as
text. Nothing here knows about zones: a date is returned as written, aware when the
source gave an offset, naive otherwise (the caller reads it in its zone). Pure: nothing
here opens a file.

What is read, and the caps (a file that breaks one is read no further: no date here):

- **PNG**: the chunk headers from the signature up to the first ``IDAT`` (the image
  data is never reached; at most ``MAX_CHUNKS`` chunks). ``eXIf`` (a TIFF block) is
  returned for the EXIF walker; ``tEXt``/``iTXt`` chunks of at most ``MAX_TEXT_BYTES``
  are read for XMP (``XML:com.adobe.xmp``: ``exif:DateTimeOriginal``, else
  ``photoshop:DateCreated``, else ``xmp:CreateDate``) and the ``Creation Time`` keyword.
  The PNG specification puts ``eXIf`` before ``IDAT``; text after the image data is left
  to the server (reading to it would read the whole file).
- **WebP**: the RIFF chunk headers (at most ``MAX_CHUNKS``, the image chunks seeked
  over) up to the ``EXIF`` chunk, which WebP writers put after the image data; only when
  the ``VP8X`` header's EXIF flag says there is one.
- **CR3** (ISO-BMFF, brand ``crx``): the box headers to ``moov``, then Canon's ``uuid``
  box in it, whose ``CMT2`` box is a TIFF block whose first directory is the Exif one
  (``DateTimeOriginal``, ``OffsetTimeOriginal``). ``CMT1`` holds IFD0, whose ``DateTime``
  is the modification time, which the server does not take as a capture date either: not
  read.
- **RAF**: the 100-byte header, which says where the embedded JPEG preview lies; that
  JPEG's Exif block is Fujifilm's EXIF of the shot.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import BinaryIO, NamedTuple

from .exif import child, read_at
from .videoinfo import boxes

MAX_CHUNKS = 64
"""PNG and WebP chunks walked at most, before the image data (PNG) or to EXIF (WebP)."""
MAX_TEXT_BYTES = 256 * 1024
"""A PNG text chunk larger than this (XMP with an embedded thumbnail) is skipped."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RAF_MAGIC = b"FUJIFILMCCD-RAW "
CR3_BRAND = b"crx "
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
_EXIF_PREFIX = b"Exif\0\0"


def _skip_exif_prefix(fh: BinaryIO, pos: int) -> int:
    """The TIFF start of an EXIF payload at ``pos``: some writers put "Exif\\0\\0" first."""
    return pos + 6 if read_at(fh, pos, 6) == _EXIF_PREFIX else pos


# --- dates written as text -------------------------------------------------------------

_ISO = re.compile(
    r"\s*(\d{4})[-:](\d\d)[-:](\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d\d:?\d\d)?\s*$")


def text_date(text: str) -> datetime | None:
    """A date as PNG text and XMP write it: ISO 8601 (``2024-05-01T10:30:00+02:00``,
    ``…Z``, without seconds or offset, a day alone), the EXIF form
    (``2024:05:01 10:30:00``), or RFC 1123 as the PNG specification suggests
    (``Wed, 01 May 2024 10:30:00 +0200``). Aware when the text has an offset, naive
    otherwise; None when it is none of these or not a real date."""
    m = _ISO.match(text)
    try:
        if m is not None:
            frac = (m[7] or "")[:6].ljust(6, "0")
            when = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0),
                            int(m[6] or 0), int(frac))
            if m[8]:
                offset = m[8].replace("Z", "+00:00")
                if ":" not in offset:
                    offset = offset[:3] + ":" + offset[3:]
                when = datetime.fromisoformat(when.isoformat() + offset)
            return when
        return parsedate_to_datetime(text)  # naive for "-0000", RFC 1123's unknown zone
    except (ValueError, TypeError, IndexError):
        return None


_XMP_TAGS = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")


def xmp_date(xmp: str) -> datetime | None:
    """The capture date in an XMP packet: ``exif:DateTimeOriginal``, else
    ``photoshop:DateCreated``, else ``xmp:CreateDate``, written as an attribute
    (``exif:DateTimeOriginal="…"``) or an element (``<exif:DateTimeOriginal>…<``)."""
    for tag in _XMP_TAGS:
        m = re.search(re.escape(tag) + r"""\s*(?:=\s*["']([^"'<]*)["']|>\s*([^<]*)<)""", xmp)
        if m is not None:
            found = text_date(m[1] if m[1] is not None else m[2])
            if found is not None:
                return found
    return None


# --- PNG -------------------------------------------------------------------------------

class PngDates(NamedTuple):
    """What a PNG's chunks before its image data hold: where its ``eXIf`` TIFF block
    starts (None: none), and the date its XMP or ``Creation Time`` text gives (XMP first)."""

    exif_at: int | None
    text: datetime | None


def _png_text(kind: bytes, body: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a ``tEXt`` or ``iTXt`` chunk's body, or None (compressed text
    that does not inflate within the cap, a body cut short)."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep:
        return None
    if kind == b"tEXt":
        return keyword.decode("latin-1"), rest.decode("latin-1")
    if len(rest) < 2:
        return None
    compressed, _method, rest = rest[0], rest[1], rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    if compressed:
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(text, MAX_TEXT_BYTES)
        except zlib.error:
            return None
    return keyword.decode("latin-1"), text.decode("utf-8", "replace")


def png_dates(fh: BinaryIO) -> PngDates:
    """The ``eXIf`` block and the text date of the PNG open as ``fh`` (module docstring:
    what is read)."""
    pos, exif_at = len(PNG_SIGNATURE), None
    xmp: datetime | None = None
    creation: datetime | None = None
    for _ in range(MAX_CHUNKS):
        head = read_at(fh, pos, 8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf" and exif_at is None:
            exif_at = _skip_exif_prefix(fh, pos + 8)
        elif kind in (b"tEXt", b"iTXt") and length <= MAX_TEXT_BYTES:
            found = _png_text(kind, read_at(fh, pos + 8, length))
            if found is not None:
                keyword, text = found
                if keyword == "XML:com.adobe.xmp" and xmp is None:
                    xmp = xmp_date(text)
                elif keyword == "Creation Time" and creation is None:
                    creation = text_date(text)
        pos += 12 + length  # length, type, data, CRC
    return PngDates(exif_at, xmp if xmp is not None else creation)


# --- WebP ------------------------------------------------------------------------------

_VP8X_EXIF = 0x08


def webp_exif(fh: BinaryIO, end: int) -> int | None:
    """Where the TIFF block of the WebP's ``EXIF`` chunk starts, or None (a simple WebP
    without ``VP8X``, or one whose flags say it has no EXIF)."""
    head = read_at(fh, 12, 9)
    if len(head) < 9 or head[:4] != b"VP8X" or not head[8] & _VP8X_EXIF:
        return None
    pos = 12
    for _ in range(MAX_CHUNKS):
        head = read_at(fh, pos, 8)
        if len(head) < 8:
            return None
        kind, length = struct.unpack("<4sI", head)
        if kind == b"EXIF":
            return _skip_exif_prefix(fh, pos + 8)
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
        if pos >= end:
            return None
    return None


# --- CR3 -------------------------------------------------------------------------------

def cr3_exif(fh: BinaryIO, end: int) -> int | None:
    """Where the TIFF block of a CR3's ``CMT2`` box starts (its first directory is the
    Exif IFD), or None."""
    moov = child(fh, 0, end, b"moov")
    if moov is None:
        return None
    for kind, start, stop in boxes(fh, *moov):
        if kind == b"uuid" and read_at(fh, start, 16) == _CANON_UUID:
            cmt2 = child(fh, start + 16, stop, b"CMT2")
            return cmt2[0] if cmt2 is not None else None
    return None


# --- RAF -------------------------------------------------------------------------------

_RAF_HEADER = 100  # magic, versions, camera name, then the JPEG offset at 84 and length


def raf_jpeg(fh: BinaryIO, end: int) -> int | None:
    """Where the JPEG preview of a Fujifilm RAF starts, or None."""
    head = read_at(fh, 0, _RAF_HEADER)
    if len(head) < _RAF_HEADER or not head.startswith(RAF_MAGIC):
        return None
    offset, length = struct.unpack(">II", head[84:92])
    if offset < _RAF_HEADER or offset + length > end:
        return None
    return offset if read_at(fh, offset, 2) == b"\xff\xd8" else None
