"""Small real media files with capture dates, built byte by byte for tests and the demo.

Each is a valid file of its format as far as date readers go: a JPEG with an APP1 Exif
block, a TIFF (the layout of CR2/NEF/ARW/DNG), a HEIC whose ``meta`` box names an Exif
item, an MP4/MOV whose ``moov/mvhd`` carries a creation time, a PNG with ``eXIf`` and
text dates, a WebP with an EXIF chunk, a Canon CR3 (its ``CMT2`` box), a Fujifilm RAF
(its JPEG preview). The media data is filler
(random bytes from the caller), as in :mod:`immich_standin.library`.
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def box(kind: bytes, payload: bytes) -> bytes:
    """An ISO-BMFF box."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, payload: bytes, flags: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def tiff_exif(date: str | None = "2024:05:01 10:30:00", offset: str | None = None,
              subsec: str | None = None, *, little_endian: bool = True,
              digitized: str | None = None, maker_note: bytes | None = None) -> bytes:
    """A TIFF structure (IFD0 with an Exif pointer, an Exif IFD) with the dates given:
    ``DateTimeOriginal``, ``OffsetTimeOriginal``, ``SubSecTimeOriginal``,
    ``DateTimeDigitized``, and a ``MakerNote`` (see :func:`apple_maker_note`); the
    values stored after the IFDs."""
    o = "<" if little_endian else ">"
    tags: list[tuple[int, int, bytes]] = []  # tag, TIFF type, value bytes
    for tag, text in ((0x9003, date), (0x9004, digitized), (0x9011, offset),
                      (0x9291, subsec)):
        if text is not None:
            tags.append((tag, 2, text.encode() + b"\0"))
    if maker_note is not None:
        tags.append((0x927C, 7, maker_note))
    tags.sort()
    ifd0_at = 8
    ifd0 = struct.pack(o + "H", 2)  # Orientation, ExifIFD pointer
    exif_at = ifd0_at + 2 + 2 * 12 + 4
    ifd0 += struct.pack(o + "HHIHH", 0x0112, 3, 1, 1, 0)
    ifd0 += struct.pack(o + "HHII", 0x8769, 4, 1, exif_at) + struct.pack(o + "I", 0)
    values_at = exif_at + 2 + 12 * len(tags) + 4
    entries, values = b"", b""
    for tag, kind, raw in tags:
        if len(raw) <= 4:
            entries += struct.pack(o + "HHI", tag, kind, len(raw)) + raw.ljust(4, b"\0")
        else:
            entries += struct.pack(o + "HHII", tag, kind, len(raw), values_at + len(values))
            values += raw + (b"\0" if len(raw) % 2 else b"")
    exif = struct.pack(o + "H", len(tags)) + entries + struct.pack(o + "I", 0)
    head = (b"II" if little_endian else b"MM") + struct.pack(o + "HI", 42, ifd0_at)
    return head + ifd0 + exif + values


def apple_maker_note(burst: str | None, content_id: str = "0F3C8A52-1B7E-4C1D-9A3F-5E2B7D9C4A10",
                     *, little_endian: bool = False) -> bytes:
    """An iPhone's Exif maker note, laid out as exiftool's Apple table reads it and as
    iPhones write it: ``Apple iOS\\0``, version 1, the byte order (``MM``), then a
    directory whose offsets count from the maker note's first byte. Entries:
    MakerNoteVersion (int32s), ``0x000b`` BurstUUID (text; left out when ``burst`` is
    None), ``0x0011`` ContentIdentifier (text, the Live Photo pairing id, which is not
    the burst), ``0x0014`` ImageCaptureType (10 = photo)."""
    o = "<" if little_endian else ">"
    entries: list[tuple[int, int, int, bytes]] = [(0x0001, 9, 1, struct.pack(o + "i", 14))]
    if burst is not None:
        entries.append((0x000B, 2, len(burst) + 1, burst.encode() + b"\0"))
    entries.append((0x0011, 2, len(content_id) + 1, content_id.encode() + b"\0"))
    entries.append((0x0014, 9, 1, struct.pack(o + "i", 10)))
    head = b"Apple iOS\0" + b"\0\x01" + (b"II" if little_endian else b"MM")
    values_at = len(head) + 2 + 12 * len(entries) + 4
    table, values = struct.pack(o + "H", len(entries)), b""
    for tag, kind, count, raw in entries:
        if len(raw) <= 4:
            table += struct.pack(o + "HHI", tag, kind, count) + raw.ljust(4, b"\0")
        else:
            table += struct.pack(o + "HHII", tag, kind, count, values_at + len(values))
            values += raw + (b"\0" if len(raw) % 2 else b"")
    return head + table + struct.pack(o + "I", 0) + values


def jpeg_with_exif(tiff: bytes | None, image: bytes, *, icc_first: bool = False) -> bytes:
    """A JPEG: SOI, APP0 (JFIF), optionally an APP2 before, APP1 Exif with ``tiff``
    (none when None), a quantisation table, SOS with ``image`` as the scan, EOI."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    parts = [b"\xff\xd8", segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")]
    if icc_first:
        parts.append(segment(0xE2, b"ICC_PROFILE\0\x01\x01" + bytes(3000)))
    if tiff is not None:
        parts.append(segment(0xE1, b"Exif\0\0" + tiff))
    parts.append(segment(0xDB, bytes(65)))
    parts.append(segment(0xDA, bytes(10)) + image.replace(b"\xff", b"\xfe") + b"\xff\xd9")
    return b"".join(parts)


def heic_with_exif(tiff: bytes, image: bytes, *, items_before: int = 3,
                   prefix: bool = True, brand: bytes = b"heic") -> bytes:
    """A HEIC: ftyp, meta (hdlr, iinf with ``items_before`` image items then an Exif
    item, iloc pointing into mdat), mdat holding the images and the Exif item (its 4-byte
    TIFF-header offset, "Exif\\0\\0" when ``prefix``, then ``tiff``). ``brand``: ``avif``
    for an AVIF file, which is built the same way."""
    exif_item = struct.pack(">I", 6 if prefix else 0) + (b"Exif\0\0" if prefix else b"") + tiff
    ftyp = box(b"ftyp", brand + bytes(4) + b"mif1" + brand)
    ids = list(range(1, items_before + 1))
    exif_id = items_before + 1
    infes = b"".join(full_box(b"infe", 2, struct.pack(">HH4s", i, 0, b"hvc1") + b"\0")
                     for i in ids)
    infes += full_box(b"infe", 2, struct.pack(">HH4s", exif_id, 0, b"Exif") + b"\0")
    iinf = full_box(b"iinf", 0, struct.pack(">H", exif_id) + infes)
    hdlr = full_box(b"hdlr", 0, bytes(4) + b"pict" + bytes(12) + b"\0")
    chunk = max(1, len(image) // max(1, items_before))

    def meta_with(mdat_start: int) -> bytes:
        # iloc version 1: offset_size 4, length_size 4, base_offset_size 0, index_size 0
        body = struct.pack(">BBH", 0x44, 0x00, exif_id)
        for n, i in enumerate(ids):
            body += struct.pack(">HHHHII", i, 0, 0, 1, mdat_start + n * chunk, chunk)
        body += struct.pack(">HHHHII", exif_id, 0, 0, 1,
                            mdat_start + items_before * chunk, len(exif_item))
        iloc = full_box(b"iloc", 1, body)
        return full_box(b"meta", 0, hdlr + iinf + iloc)

    media = image[:items_before * chunk].ljust(items_before * chunk, b"\0") + exif_item
    meta = meta_with(0)
    mdat_start = len(ftyp) + len(meta) + 8
    return ftyp + meta_with(mdat_start) + box(b"mdat", media)


def apple_meta(creationdate: str, *, full_box: bool = False) -> bytes:
    """A QuickTime ``meta`` box as an iPhone writes it in ``moov``: hdlr ``mdta``, keys
    (a make and ``com.apple.quicktime.creationdate``), ilst with their UTF-8 values.
    ``full_box``: with the version and flags of an ISO ``meta`` box."""
    names = [b"com.apple.quicktime.make", b"com.apple.quicktime.creationdate"]
    values = [b"Apple", creationdate.encode()]
    entries = b"".join(struct.pack(">I4s", 8 + len(n), b"mdta") + n for n in names)
    keys = struct.pack(">II", 0, len(names)) + entries
    ilst = b"".join(struct.pack(">I", 8 + 8 + 8 + len(v)) + struct.pack(">I", i + 1)
                    + box(b"data", struct.pack(">II", 1, 0) + v) for i, v in enumerate(values))
    hdlr = box(b"hdlr", bytes(8) + b"mdta" + bytes(12) + b"\0")
    body = hdlr + box(b"keys", keys) + box(b"ilst", ilst)
    return box(b"meta", (bytes(4) if full_box else b"") + body)


def mp4_with_creation(created: datetime | None, media: bytes, *, moov_last: bool = True,
                      brand: bytes = b"isom", version: int = 0,
                      apple: bytes = b"") -> bytes:
    """An MP4/MOV: ftyp, mdat, and moov/mvhd with ``created`` as its creation time
    (seconds since 1904, UTC; 0 when None) and a 1 s duration; ``apple``: a ``meta``
    box to add to ``moov`` (see :func:`apple_meta`)."""
    secs = 0 if created is None else int((created - MAC_EPOCH).total_seconds())
    if version == 0:
        mvhd = full_box(b"mvhd", 0, struct.pack(">IIII", secs, secs, 600, 600) + bytes(80))
    else:
        mvhd = full_box(b"mvhd", 1, struct.pack(">QQIQ", secs, secs, 600, 600) + bytes(80))
    parts = [box(b"ftyp", brand + b"\x00\x00\x02\x00isomiso2mp41"), box(b"mdat", media)]
    parts.insert(2 if moov_last else 1, box(b"moov", mvhd + apple))
    return b"".join(parts)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I4s", len(data), kind) + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(image: bytes, *, exif: bytes | None = None, texts: tuple[tuple[str, str], ...] = (),
             itxt_xmp: str | None = None, compressed_xmp: bool = False,
             exif_after_idat: bool = False) -> bytes:
    """A PNG: signature, IHDR, then ``eXIf`` with ``exif`` (a TIFF block), ``tEXt``
    chunks (keyword, text), an ``iTXt`` XMP packet (zlib-compressed when
    ``compressed_xmp``), IDAT with ``image`` (its own bytes, not a deflate stream), IEND.
    ``exif_after_idat``: the ``eXIf`` chunk after the image data, as the specification
    does not allow."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0))
    meta = [_png_chunk(b"tEXt", k.encode("latin-1") + b"\0" + t.encode("latin-1"))
            for k, t in texts]
    if itxt_xmp is not None:
        text = itxt_xmp.encode()
        body = b"XML:com.adobe.xmp\0" + bytes([1 if compressed_xmp else 0, 0]) + b"\0\0"
        meta.append(_png_chunk(b"iTXt", body + (zlib.compress(text) if compressed_xmp else text)))
    exif_chunk = [_png_chunk(b"eXIf", exif)] if exif is not None else []
    idat = _png_chunk(b"IDAT", image)
    parts = [PNG_SIG, ihdr, *meta]
    parts += [idat, *exif_chunk] if exif_after_idat else [*exif_chunk, idat]
    return b"".join([*parts, _png_chunk(b"IEND", b"")])


def xmp_packet(**dates: str) -> str:
    """An XMP packet with the dates given as attributes of its rdf:Description
    (``exif_DateTimeOriginal="…"`` → ``exif:DateTimeOriginal="…"``)."""
    attrs = " ".join(f'{k.replace("_", ":", 1)}="{v}"' for k, v in dates.items())
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" {attrs}/></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>')


def webp_with_exif(exif: bytes | None, image: bytes, *, prefix: bool = False) -> bytes:
    """An extended WebP: RIFF/WEBP, VP8X (its EXIF flag set when ``exif``), a VP8 chunk
    with ``image``, then the EXIF chunk (``exif``, "Exif\\0\\0" first when ``prefix``), where
    WebP writers put it: after the image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("<4sI", kind, len(data)) + data + (b"\0" if len(data) % 2 else b"")

    flags = 0x08 if exif is not None else 0
    vp8x = chunk(b"VP8X", bytes([flags, 0, 0, 0]) + (63).to_bytes(3, "little")
                 + (47).to_bytes(3, "little"))
    body = b"WEBP" + vp8x + chunk(b"VP8 ", image)
    if exif is not None:
        body += chunk(b"EXIF", (b"Exif\0\0" if prefix else b"") + exif)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def exif_ifd_tiff(date: str, offset: str | None = None) -> bytes:
    """A TIFF structure whose first directory is the Exif IFD itself (a CR3's ``CMT2``):
    ``DateTimeOriginal`` and, when given, ``OffsetTimeOriginal``."""
    tags = [(0x9003, date)] + ([(0x9011, offset)] if offset is not None else [])
    values_at = 8 + 2 + 12 * len(tags) + 4
    entries, values = b"", b""
    for tag, text in tags:
        raw = text.encode() + b"\0"
        entries += struct.pack("<HHII", tag, 2, len(raw), values_at + len(values))
        values += raw + (b"\0" if len(raw) % 2 else b"")
    return b"II*\0" + struct.pack("<IH", 8, len(tags)) + entries + bytes(4) + values


CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")


def cr3_with_exif(cmt2: bytes, image: bytes, *, modified: str = "2030:01:01 00:00:00") -> bytes:
    """A Canon CR3: ftyp ``crx``, moov holding Canon's uuid box (CNCV, CMT1 with IFD0's
    ``DateTime`` set to ``modified``, CMT2 = ``cmt2``), an mvhd of creation time 0, then
    mdat with ``image``."""
    ifd0 = struct.pack("<HHHII", 1, 0x0132, 2, len(modified) + 1, 26) + bytes(4)
    cmt1 = b"II*\0" + struct.pack("<I", 8) + ifd0 + modified.encode() + b"\0"
    canon = box(b"uuid", CANON_UUID + box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00")
                + box(b"CMT1", cmt1) + box(b"CMT2", cmt2) + box(b"CMT3", bytes(16)))
    mvhd = full_box(b"mvhd", 0, struct.pack(">IIII", 0, 0, 600, 600) + bytes(80))
    ftyp = box(b"ftyp", b"crx " + struct.pack(">I", 1) + b"crx isom")
    return ftyp + box(b"moov", canon + mvhd) + box(b"mdat", image)


def raf_with_jpeg(jpeg: bytes, image: bytes) -> bytes:
    """A Fujifilm RAF: its 100-byte header (magic, versions, camera, then the JPEG
    preview's offset and length at 84), the JPEG, then ``image`` as the CFA data."""
    head = b"FUJIFILMCCD-RAW 0201FF383501" + b"X-T3".ljust(32, b"\0") + b"0100" + bytes(20)
    head = head[:84] + struct.pack(">II", 100, len(jpeg)) + bytes(8)
    return head + jpeg + image
