"""When a photo or video was taken, as the upload's ``fileCreatedAt``: always with an offset.

The date is chosen in this order (docs/configuration.md, "Capture dates"):

1. the file's own metadata: EXIF ``DateTimeOriginal`` (else ``DateTimeDigitized``) with
   its ``OffsetTime…`` and sub-seconds, in JPEG, TIFF-based RAW (DNG, CR2, NEF, ARW, ORF,
   RW2, …), HEIC/HEIF/AVIF, PNG (``eXIf``), WebP, CR3 and RAF (its JPEG preview) files;
   for a PNG without EXIF, its XMP or ``Creation Time`` text
   (:mod:`.capture_containers` finds these in their containers); for MP4/MOV videos,
   Apple's ``creationdate`` (with its offset), else the ``mvhd`` creation time (UTC);
2. a date in the file name: ``IMG_20240501_103000``, ``PXL_20240501_103000123``,
   ``IMG-20240501-WA0001`` (a day only), ``Screenshot_2024-05-01-10-30-00``,
   ``Screenshot 2024-05-01 at 10.30.00``, ``20240501_103000``, ``VID_…`` and the like;
3. the file's time stamp (the caller's fallback: the earlier of mtime and birth time).

A time the source gives without an offset (EXIF without ``OffsetTime…``, a file name) is
read as wall time in the zone passed in (``tz``; None: this machine's zone, with its
daylight-saving rules for that date). A UTC time (``mvhd``) is shown in that zone.

The parsers work on a seekable binary stream (a file, or ``io.BytesIO`` over bytes
already in memory) and read only headers: JPEG segment headers up to the Exif block,
TIFF directories, ISO-BMFF box headers (media data is seeked over, never read), PNG and
WebP chunk headers; each with a cap on what it reads (:mod:`.exif`,
:mod:`.capture_containers`): a larger box or chunk is skipped, not read; where
the Exif lies and how its directories are walked is :mod:`.exif`'s, shared with the
Apple burst id. Pure: nothing here opens a file but :func:`capture_date`, the one I/O
function.
"""

from __future__ import annotations

import enum
import io
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import BinaryIO

from .capture_containers import (
    CR3_BRAND,
    PNG_SIGNATURE,
    RAF_MAGIC,
    cr3_exif,
    png_dates,
    raf_jpeg,
    webp_exif,
)
from .exif import (
    MAX_META_BYTES,
    Container,
    child,
    container,
    exif_bases,
    jpeg_exif_bases,
    read_at,
    tiff_at,
)
from .videoinfo import MVHD_BYTES, boxes, parse_mvhd

_MIN_YEAR = 1900  # a metadata date before this is a camera's unset clock, not a date
_BUFFER = 64 * 1024  # the file is read in blocks of this size, headers only

# EXIF tags
_OFFSET_TIME = 0x9010
_DATE_ORIGINAL, _OFFSET_ORIGINAL, _SUBSEC_ORIGINAL = 0x9003, 0x9011, 0x9291
_DATE_DIGITIZED, _OFFSET_DIGITIZED, _SUBSEC_DIGITIZED = 0x9004, 0x9012, 0x9292


class DateSource(enum.Enum):
    """Where a capture date came from."""

    METADATA = "metadata"  # EXIF or the video's header
    NAME = "name"  # a date in the file name
    FILE_TIME = "file time"  # the file system's time stamp


@dataclass(frozen=True)
class CaptureDate:
    """A capture date: ``when`` is always timezone-aware."""

    when: datetime
    source: DateSource

    def iso(self) -> str:
        """ISO-8601 with milliseconds and the offset, as the server takes it."""
        return self.when.isoformat(timespec="milliseconds")


def in_zone(naive: datetime, tz: tzinfo | None) -> datetime:
    """A wall-clock time read in ``tz`` (None: this machine's zone, its DST rules)."""
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def from_ns(ns: int, tz: tzinfo | None) -> datetime:
    """A POSIX time in nanoseconds as an aware datetime in ``tz`` (None: local)."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).astimezone(tz)


# --- EXIF (TIFF structure) -------------------------------------------------------------

def parse_offset(text: str) -> timezone | None:
    """An EXIF ``OffsetTime…`` value (``+02:00``, ``-05:30``) as a zone, or None."""
    m = re.fullmatch(r"\s*([+-])(\d\d):?(\d\d)\s*", text)
    if m is None:
        return None
    minutes = int(m[2]) * 60 + int(m[3])
    if minutes > 14 * 60:
        return None
    return timezone((-1 if m[1] == "-" else 1) * timedelta(minutes=minutes))


def parse_exif_datetime(text: str, subsec: str = "") -> datetime | None:
    """``YYYY:MM:DD HH:MM:SS`` (naive) with optional sub-seconds, or None when unset
    (``0000:00:00 00:00:00``, blanks) or not a date."""
    m = re.fullmatch(r"\s*(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*",
                     text)
    if m is None:
        return None
    frac = m[7] or subsec.strip()
    micro = int((frac + "000000")[:6]) if frac.isdigit() else 0
    try:
        when = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]),
                        micro)
    except ValueError:
        return None
    return when if when.year >= _MIN_YEAR else None


def tiff_date(fh: BinaryIO, base: int, tz: tzinfo | None, *,
              exif_first: bool = False) -> datetime | None:
    """The capture date in the TIFF structure starting at ``base`` (an Exif block's
    payload, or a TIFF-based RAW file at 0): ``DateTimeOriginal``, else
    ``DateTimeDigitized``, with its offset, else ``OffsetTime``, else read in ``tz``.
    ``exif_first``: the first directory is the Exif IFD itself (a CR3's ``CMT2``), not
    IFD0 pointing to it."""
    tiff = tiff_at(fh, base)
    if tiff is None:
        return None
    if exif_first:
        first = read_at(fh, base + 4, 4)
        sub = tiff.ifd(struct.unpack(tiff.order + "I", first)[0]) if len(first) == 4 else None
    else:
        sub = tiff.exif()
    if sub is None:
        return None
    fallback_offset = parse_offset(tiff.text(sub.get(_OFFSET_TIME)))
    for date_tag, offset_tag, subsec_tag in ((_DATE_ORIGINAL, _OFFSET_ORIGINAL, _SUBSEC_ORIGINAL),
                                             (_DATE_DIGITIZED, _OFFSET_DIGITIZED,
                                              _SUBSEC_DIGITIZED)):
        naive = parse_exif_datetime(tiff.text(sub.get(date_tag)), tiff.text(sub.get(subsec_tag)))
        if naive is None:
            continue
        zone = parse_offset(tiff.text(sub.get(offset_tag))) or fallback_offset
        return naive.replace(tzinfo=zone) if zone is not None else in_zone(naive, tz)
    return None


# --- ISO-BMFF: HEIF stills, MP4/MOV videos ---------------------------------------------

_APPLE_CREATION = b"com.apple.quicktime.creationdate"


def parse_apple_creation(keys: bytes, ilst: bytes) -> datetime | None:
    """Apple's ``com.apple.quicktime.creationdate`` (local time with its offset, e.g.
    ``2024-05-01T10:30:00+0200``) from the payloads of a QuickTime ``keys`` and ``ilst``
    box, or None."""
    if len(keys) < 8:
        return None
    (count,) = struct.unpack(">I", keys[4:8])
    pos, index = 8, None
    for i in range(1, min(count, 1024) + 1):
        if pos + 8 > len(keys):
            return None
        (size,) = struct.unpack(">I", keys[pos:pos + 4])
        if size < 8:
            return None
        if keys[pos + 8:pos + size] == _APPLE_CREATION:
            index = i
            break
        pos += size
    if index is None:
        return None
    pos = 0
    while pos + 8 <= len(ilst):
        size, item = struct.unpack(">II", ilst[pos:pos + 8])
        if size < 8:
            return None
        if item == index:
            body = ilst[pos + 8:pos + size]  # a "data" box: type, locale, then the value
            if len(body) < 16 or body[4:8] != b"data":
                return None
            text = body[16:].decode("utf-8", "replace").strip()
            try:
                when = datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text))
            except ValueError:
                return None
            return when if when.tzinfo is not None and when.year >= _MIN_YEAR else None
        pos += size
    return None


def _apple_date(fh: BinaryIO, moov: tuple[int, int]) -> datetime | None:
    meta = child(fh, moov[0], moov[1], b"meta")
    if meta is None:
        return None
    start = meta[0]
    if read_at(fh, start + 4, 4) != b"hdlr":  # an ISO full box: version and flags first
        start += 4
    found = {}
    for kind, s, e in boxes(fh, start, meta[1]):
        if kind in (b"keys", b"ilst") and e - s <= MAX_META_BYTES:
            found[kind] = read_at(fh, s, e - s)
    return parse_apple_creation(found.get(b"keys", b""), found.get(b"ilst", b""))


def quicktime_date(fh: BinaryIO, end: int, tz: tzinfo | None) -> datetime | None:
    """The creation time of an MP4/MOV file: Apple's ``creationdate`` (local time with
    its offset) where the file has one, else the ``mvhd`` creation time (UTC) shown in
    ``tz``. The box headers are walked to ``moov`` (wherever it is), the media data is
    seeked over."""
    moov = child(fh, 0, end, b"moov")
    if moov is None:
        return None
    apple = _apple_date(fh, moov)
    if apple is not None:
        return apple
    mvhd = child(fh, moov[0], moov[1], b"mvhd")
    if mvhd is None:
        return None
    created = parse_mvhd(read_at(fh, mvhd[0], min(mvhd[1] - mvhd[0], MVHD_BYTES))).created
    return created.astimezone(tz) if created is not None else None


def png_date(fh: BinaryIO, tz: tzinfo | None) -> datetime | None:
    """A PNG's date: its ``eXIf`` block's, else its XMP's, else its ``Creation Time``."""
    found = png_dates(fh)
    exif = tiff_date(fh, found.exif_at, tz) if found.exif_at is not None else None
    if exif is not None or found.text is None or found.text.year < _MIN_YEAR:
        return exif
    return found.text if found.text.tzinfo is not None else in_zone(found.text, tz)


def metadata_date(fh: BinaryIO, tz: tzinfo | None) -> datetime | None:
    """The capture date in a file's own metadata, by its content (not its name): JPEG,
    TIFF-based RAW (DNG, CR2, NEF, ARW, ORF, RW2, …), HEIF/AVIF, PNG, WebP, CR3, RAF,
    MP4/MOV. None when the format is another or has no date."""
    end = fh.seek(0, io.SEEK_END)
    head = read_at(fh, 0, 12)
    bases: Iterable[int]
    if head.startswith(PNG_SIGNATURE):
        return png_date(fh, tz)
    if head[4:12] == b"ftyp" + CR3_BRAND:  # ISO-BMFF, but its Exif is Canon's own
        base = cr3_exif(fh, end)
        return tiff_date(fh, base, tz, exif_first=True) if base is not None else None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        bases = [base] if (base := webp_exif(fh, end)) is not None else []
    elif head == RAF_MAGIC[:12]:
        start = raf_jpeg(fh, end)
        bases = jpeg_exif_bases(fh, start) if start is not None else []
    else:
        kind = container(head)
        if kind is Container.QUICKTIME:
            return quicktime_date(fh, end, tz)
        bases = exif_bases(fh, kind)
    for base in bases:
        found = tiff_date(fh, base, tz)
        if found is not None:
            return found
    return None


# --- file names ------------------------------------------------------------------------

_NAME_DATE = re.compile(
    r"""(?<!\d)
    (?P<y>19\d\d|20\d\d) (?P<s>[-_.]?) (?P<m>0[1-9]|1[0-2]) (?P=s) (?P<d>0[1-9]|[12]\d|3[01])
    (?:
        (?:[-_ T.]|\ at\ )?
        (?P<H>[01]?\d|2[0-3]) (?P<t>[-_.:]?) (?P<M>[0-5]\d) (?P=t) (?P<S>[0-5]\d)
        (?P<ms>\d{3})?
        (?:[ \u202f]?(?P<ampm>[AaPp][Mm])(?![A-Za-z]))?
    )?
    (?!\d)""",
    re.X,
)


def name_date(name: str, tz: tzinfo | None, file_time: datetime | None = None) -> datetime | None:
    """A date in a file name (the extension left out), read in ``tz``; None if none.

    A name with a day but no time of day (WhatsApp's ``IMG-20240501-WA0001``) gives the
    file time when that falls on the same day in ``tz``, else midnight of that day.
    """
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    for m in _NAME_DATE.finditer(stem):
        try:
            day = date(int(m["y"]), int(m["m"]), int(m["d"]))
        except ValueError:  # 20230231
            continue
        if m["H"] is None:
            if file_time is not None and file_time.astimezone(tz).date() == day:
                return file_time.astimezone(tz)
            return in_zone(datetime(day.year, day.month, day.day), tz)
        hour = int(m["H"])
        if m["ampm"]:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
        elif len(m["H"]) == 1 and not m["t"]:
            continue  # "2024050193000": not a time
        naive = datetime(day.year, day.month, day.day, hour, int(m["M"]), int(m["S"]),
                         int(m["ms"] or 0) * 1000)
        return in_zone(naive, tz)
    return None


def choose(metadata: datetime | None, name: str, file_time: datetime,
           tz: tzinfo | None) -> CaptureDate:
    """The date to send: the metadata's, else the name's, else the file time's."""
    if metadata is not None:
        return CaptureDate(metadata, DateSource.METADATA)
    from_name = name_date(name, tz, file_time)
    if from_name is not None:
        return CaptureDate(from_name, DateSource.NAME)
    return CaptureDate(file_time.astimezone(tz), DateSource.FILE_TIME)


def date_from_stream(fh: BinaryIO, name: str, file_time_ns: int,
                     tz: tzinfo | None = None) -> CaptureDate:
    """The capture date of the file open as ``fh`` (seekable), named ``name``, whose
    time stamp is ``file_time_ns``. A stream that cannot be parsed falls through to the
    name and the time stamp; never raises for bad content."""
    try:
        found = metadata_date(fh, tz)
    except (struct.error, ValueError, OverflowError):
        found = None
    return choose(found, name, from_ns(file_time_ns, tz), tz)


def capture_date(path: Path, file_time_ns: int, *, data: bytes | None = None,
                 tz: tzinfo | None = None) -> CaptureDate:
    """The capture date of the file at ``path`` (see the module docstring for the order).

    ``data``: the file's bytes when already in memory (nothing is read then). Otherwise
    the headers are read in blocks of 64 KiB; a file that cannot be opened or read falls
    through to the name and ``file_time_ns`` (the upload reports its own I/O errors).
    """
    if data is not None:
        return date_from_stream(io.BytesIO(data), path.name, file_time_ns, tz)
    try:
        with path.open("rb", buffering=_BUFFER) as fh:
            return date_from_stream(fh, path.name, file_time_ns, tz)
    except OSError:
        return choose(None, path.name, from_ns(file_time_ns, tz), tz)
