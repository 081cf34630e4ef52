"""Where a photo's Exif lies, and the walk of its TIFF directories: the one reader that
the capture date (:mod:`.capture_date`) and the Apple burst id (:mod:`.appleburst`) use.

Pure, on a seekable binary stream (a file, or ``io.BytesIO`` over bytes already in
memory), reading only headers: JPEG segment headers up to an Exif block, ISO-BMFF box
headers to a HEIF file's Exif item (media data is seeked over, never read), and the
TIFF directories themselves. Nothing here opens a file.

- :func:`exif_bases`: where the TIFF structures of a JPEG (each Exif APP1 block), a HEIF
  file (its ``Exif`` item) or a TIFF-based RAW (the file itself) start.
- :class:`Tiff`: one TIFF structure: its directories (:meth:`Tiff.ifd`), its text values
  (:meth:`Tiff.text`), the Exif sub-directory (:meth:`Tiff.exif`).
- :func:`apple_maker_note`: the directory in an iPhone's maker note (``Apple iOS``),
  whose offsets count from the maker note's own start.
"""

from __future__ import annotations

import enum
import io
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from .videoinfo import boxes

MAX_IFD_ENTRIES = 512
MAX_JPEG_SEGMENTS = 32
MAX_META_BYTES = 1 << 20  # an iinf/iloc box larger than this is not a photo's
MAX_TEXT = 256  # a text value longer than this is not one we read

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1",
                         b"msf1", b"avif", b"avis"})

EXIF_IFD = 0x8769  # IFD0: the Exif sub-directory
MAKER_NOTE = 0x927C  # Exif IFD: the maker note (UNDEFINED bytes)

_APPLE_MAKER = b"Apple iOS\0"
_APPLE_IFD_AT = 14  # "Apple iOS\0", a version (2 bytes), the byte order ("MM"), the IFD


class Container(enum.Enum):
    """What a file is, by its first bytes (not its name)."""

    JPEG = "jpeg"
    TIFF = "tiff"  # TIFF and the RAW formats built on it (CR2, NEF, ARW, DNG, ORF, RW2)
    HEIF = "heif"  # HEIC/HEIF/AVIF stills
    QUICKTIME = "quicktime"  # MP4/MOV


def container(head: bytes) -> Container | None:
    """The container of a file whose first 12 bytes are ``head``, or None."""
    if head[:2] == b"\xff\xd8":
        return Container.JPEG
    if head[:4] in (b"II*\0", b"MM\0*", b"IIRO", b"IIU\0"):  # TIFF; Olympus ORF, Panasonic RW2
        return Container.TIFF
    if head[4:8] == b"ftyp":
        return Container.HEIF if head[8:12] in HEIF_BRANDS else Container.QUICKTIME
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):  # QuickTime without ftyp
        return Container.QUICKTIME
    return None


def read_at(fh: BinaryIO, pos: int, n: int) -> bytes:
    """Up to ``n`` bytes of ``fh`` from ``pos``."""
    fh.seek(pos)
    return fh.read(n)


class Entry(NamedTuple):
    """A directory entry: its TIFF type, its count, and its 4 value bytes (the value
    itself when it fits, else where it is, from the structure's base)."""

    kind: int
    count: int
    value: bytes


class Tiff(NamedTuple):
    """A TIFF structure in ``fh``: offsets in it count from ``base``; ``order`` is the
    struct byte order (``<`` or ``>``)."""

    fh: BinaryIO
    base: int
    order: str

    def offset(self, entry: Entry) -> int:
        """An entry's value read as an offset (a sub-directory's, or a long value's)."""
        return int(struct.unpack(self.order + "I", entry.value)[0])

    def ifd(self, offset: int) -> dict[int, Entry]:
        """The entries of the directory at ``offset``: tag → entry ({} when unreadable)."""
        head = read_at(self.fh, self.base + offset, 2)
        if len(head) < 2:
            return {}
        (count,) = struct.unpack(self.order + "H", head)
        if count > MAX_IFD_ENTRIES:
            return {}
        raw = read_at(self.fh, self.base + offset + 2, 12 * count)
        out = {}
        for i in range(len(raw) // 12):
            tag, kind, n = struct.unpack(self.order + "HHI", raw[i * 12:i * 12 + 8])
            out[tag] = Entry(kind, n, raw[i * 12 + 8:i * 12 + 12])
        return out

    def text(self, entry: Entry | None) -> str:
        """An ASCII value (or UNDEFINED, as some writers store text) up to its first NUL;
        "" when absent, of another type, longer than MAX_TEXT or cut short (a truncated
        file: part of a value is not the value)."""
        if entry is None or entry.kind not in (2, 7) or entry.count > MAX_TEXT:
            return ""
        n = entry.count
        raw = entry.value[:n] if n <= 4 else read_at(self.fh, self.base + self.offset(entry), n)
        if len(raw) < n:
            return ""
        return raw.split(b"\0", 1)[0].decode("ascii", "replace")

    def exif(self) -> dict[int, Entry] | None:
        """The Exif sub-directory (IFD0's pointer to it), or None."""
        head = read_at(self.fh, self.base + 4, 4)
        if len(head) < 4:
            return None
        pointer = self.ifd(struct.unpack(self.order + "I", head)[0]).get(EXIF_IFD)
        return None if pointer is None else self.ifd(self.offset(pointer))


def tiff_at(fh: BinaryIO, base: int) -> Tiff | None:
    """The TIFF structure starting at ``base`` (its byte-order mark), or None."""
    head = read_at(fh, base, 2)
    if head not in (b"II", b"MM"):
        return None
    return Tiff(fh, base, "<" if head == b"II" else ">")


def apple_maker_note(tiff: Tiff, exif: dict[int, Entry]) -> tuple[Tiff, dict[int, Entry]] | None:
    """The directory of an iPhone's maker note in the Exif directory ``exif`` of
    ``tiff``: the structure (offsets from the maker note's start, its own byte order)
    and its entries; None when there is no maker note or it is not Apple's."""
    note = exif.get(MAKER_NOTE)
    if note is None or note.count < _APPLE_IFD_AT + 2:
        return None
    start = tiff.base + tiff.offset(note)
    head = read_at(tiff.fh, start, _APPLE_IFD_AT)
    if len(head) < _APPLE_IFD_AT or not head.startswith(_APPLE_MAKER):
        return None
    mark = head[12:14]
    if mark not in (b"MM", b"II"):
        return None
    inner = Tiff(tiff.fh, start, ">" if mark == b"MM" else "<")
    return inner, inner.ifd(_APPLE_IFD_AT)


# --- where the TIFF structures are ---------------------------------------------------

def jpeg_exif_bases(fh: BinaryIO, start: int = 0) -> Iterator[int]:
    """The TIFF structures of the Exif APP1 blocks of the JPEG at ``start`` (a RAF's
    preview lies inside the file), in file order: the segment headers are walked up to
    the image data, which is never reached."""
    pos = start + 2
    for _ in range(MAX_JPEG_SEGMENTS):
        head = read_at(fh, pos, 4)
        if len(head) < 4 or head[0] != 0xFF:
            return
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no Exif after
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[2:4])
        if marker == 0xE1 and read_at(fh, pos + 4, 6) == b"Exif\0\0":
            yield pos + 10
        pos += 2 + length


def child(fh: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, end) of the first box ``kind`` in [start, end), or None."""
    for k, s, e in boxes(fh, start, end):
        if k == kind:
            return s, e
    return None


def parse_iinf_exif_id(payload: bytes) -> int | None:
    """The item id of the ``Exif`` item in an ``iinf`` box's payload, or None."""
    if len(payload) < 6:
        return None
    version = payload[0]
    pos = 6 if version == 0 else 8
    while pos + 8 <= len(payload):
        size, kind = struct.unpack(">I4s", payload[pos:pos + 8])
        if size < 8:
            return None
        body = payload[pos + 8:pos + size]
        if kind == b"infe" and len(body) >= 4:
            v = body[0]
            if v == 2 and len(body) >= 12 and body[8:12] == b"Exif":
                return int(struct.unpack(">H", body[4:6])[0])
            if v == 3 and len(body) >= 14 and body[10:14] == b"Exif":
                return int(struct.unpack(">I", body[4:8])[0])
        pos += size
    return None


_ILOC_INT = {0: "", 4: "I", 8: "Q"}  # the field sizes iloc allows, as struct codes


def parse_iloc_extent(payload: bytes, item_id: int) -> tuple[int, int] | None:
    """(file offset, length) of the first extent of ``item_id`` in an ``iloc`` box's
    payload, for items stored in the file itself (construction method 0), or None.

    An iPhone's HEIC lists some fifty items (the image's tiles) before its Exif: each
    item is one unpack of its fixed part, and its extents are stepped over unread."""
    try:
        version = payload[0]
        codes = [_ILOC_INT[payload[4] >> 4], _ILOC_INT[payload[4] & 15],
                 _ILOC_INT[payload[5] >> 4],
                 _ILOC_INT[payload[5] & 15 if version in (1, 2) else 0]]
        offset_code, length_code, base_code, index_code = codes
        id_code = "H" if version < 2 else "I"
        count_fmt = struct.Struct(">" + id_code)
        # id, [construction method], data reference index, base offset, extent count
        item = struct.Struct(">" + id_code + ("H" if version in (1, 2) else "") + "H"
                             + base_code + "H")
        extent = struct.Struct(">" + index_code + offset_code + length_code)
        (count,) = count_fmt.unpack_from(payload, 6)
        pos = 6 + count_fmt.size
        for _ in range(count):
            fields = item.unpack_from(payload, pos)
            pos += item.size
            extents = fields[-1]
            if fields[0] == item_id:
                method = fields[1] & 15 if version in (1, 2) else 0
                base = fields[-2] if base_code else 0
                if method != 0 or extents == 0:
                    return None
                first = iter(extent.unpack_from(payload, pos)[1 if index_code else 0:])
                offset = next(first) if offset_code else 0
                return base + offset, next(first) if length_code else 0
            pos += extents * extent.size
    except (IndexError, KeyError, struct.error):
        return None
    return None


def heif_exif_base(fh: BinaryIO, end: int) -> int | None:
    """The TIFF structure of a HEIC/HEIF/AVIF file's Exif item: its ``meta`` box names
    the item and where it lies; only those boxes are read. None when it has none."""
    meta = child(fh, 0, end, b"meta")
    if meta is None:
        return None
    start, stop = meta[0] + 4, meta[1]  # meta is a full box: version and flags first
    found = {}
    for kind, s, e in boxes(fh, start, stop):
        if kind in (b"iinf", b"iloc") and e - s <= MAX_META_BYTES:
            found[kind] = read_at(fh, s, e - s)
    item = parse_iinf_exif_id(found.get(b"iinf", b""))
    if item is None:
        return None
    extent = parse_iloc_extent(found.get(b"iloc", b""), item)
    if extent is None:
        return None
    head = read_at(fh, extent[0], 4)
    if len(head) < 4:
        return None
    base = extent[0] + 4 + struct.unpack(">I", head)[0]
    if read_at(fh, base, 6) == b"Exif\0\0":  # some writers count the prefix, some not
        base += 6
    return base


def exif_bases(fh: BinaryIO, kind: Container | None = None) -> Iterator[int]:
    """Where the TIFF structures of the photo open as ``fh`` start, by its content
    (``kind``: when the caller knows it already): each Exif block of a JPEG, the Exif
    item of a HEIF file, 0 for a TIFF-based file; none for anything else."""
    if kind is None:
        kind = container(read_at(fh, 0, 12))
    if kind is Container.JPEG:
        yield from jpeg_exif_bases(fh)
    elif kind is Container.TIFF:
        yield 0
    elif kind is Container.HEIF:
        base = heif_exif_base(fh, fh.seek(0, io.SEEK_END))
        if base is not None:
            yield base
