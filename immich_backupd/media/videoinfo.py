"""A video's duration, where it is cheap to know: the ``mvhd`` box of MP4/MOV files
(whose creation time ``capture_date`` takes from the same parse).

Immich takes ``duration`` on upload and otherwise works it out later with ffprobe; we
send it when a handful of small reads find it (box headers are walked by seeking, never
by reading the media data), and send nothing rather than guess. Pure parsing of bytes
plus one function that reads a file.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple

ISO_BMFF = frozenset({".mp4", ".m4v", ".mov", ".3gp", ".3gpp", ".insv"})
MAC_EPOCH_OFFSET = 2_082_844_800  # seconds from 1904-01-01 (QuickTime) to 1970-01-01
_MAX_BOXES = 64  # a real file has a handful at the top level; stop early on garbage


def boxes(fh: BinaryIO, start: int, end: int):
    """Yield (type, payload_offset, payload_end) of the boxes in [start, end)."""
    pos = start
    for _ in range(_MAX_BOXES):
        if pos + 8 > end:
            return
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            large = fh.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


class Mvhd(NamedTuple):
    """What an ``mvhd`` box says: the duration in ms and the creation time (UTC); each
    None where it is unset or cannot be read."""

    duration_ms: int | None
    created: datetime | None


MVHD_BYTES = 32  # of an mvhd payload hold both fields, in either version


def parse_mvhd(payload: bytes) -> Mvhd:
    """The duration and the creation time in an ``mvhd`` payload (version 0 or 1; the
    first ``MVHD_BYTES`` are enough). A creation time of 0 (unset) or before 1970 (a
    camera whose clock was never set) is None, as is a duration of 0, all ones, or with
    no timescale."""
    if len(payload) < 4 or payload[0] not in (0, 1):
        return Mvhd(None, None)
    if payload[0] == 0:
        secs = struct.unpack(">I", payload[4:8])[0] if len(payload) >= 8 else None
        times = struct.unpack(">II", payload[12:20]) if len(payload) >= 20 else None
    else:
        secs = struct.unpack(">Q", payload[4:12])[0] if len(payload) >= 12 else None
        times = struct.unpack(">IQ", payload[20:32]) if len(payload) >= 32 else None
    duration = None
    if times is not None:
        timescale, length = times
        if timescale != 0 and length not in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
            duration = length * 1000 // timescale
    created = None
    if secs is not None:
        posix = secs - MAC_EPOCH_OFFSET
        if 0 < posix <= 1 << 34:
            created = datetime.fromtimestamp(posix, tz=UTC)
    return Mvhd(duration, created)


def duration_ms(path: Path) -> int | None:
    """The duration of an MP4/MOV file in milliseconds, or None when not cheaply known."""
    if path.suffix.lower() not in ISO_BMFF:
        return None
    try:
        with path.open("rb") as fh:
            end = fh.seek(0, 2)
            for kind, start, stop in boxes(fh, 0, end):
                if kind != b"moov":
                    continue
                for inner, istart, istop in boxes(fh, start, stop):
                    if inner == b"mvhd":
                        fh.seek(istart)
                        return parse_mvhd(fh.read(min(istop - istart, MVHD_BYTES))).duration_ms
                return None
    except (OSError, struct.error):
        return None
    return None
