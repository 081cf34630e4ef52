"""A video's duration, where it is cheap to know: the ``mvhd`` box of MP4/MOV files.

Immich takes ``duration`` on upload and otherwise works it out later with ffprobe; we
send it when a handful of small reads find it (box headers are walked by seeking, never
by reading the media data), and send nothing rather than guess. Pure parsing of bytes
plus one function that reads a file.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

ISO_BMFF = frozenset({".mp4", ".m4v", ".mov", ".3gp", ".3gpp", ".insv"})
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


def parse_mvhd(payload: bytes) -> int | None:
    """Duration in ms from an ``mvhd`` payload (version 0 or 1), or None."""
    if len(payload) < 4:
        return None
    version = payload[0]
    if version == 0 and len(payload) >= 20:
        timescale, duration = struct.unpack(">II", payload[12:20])
    elif version == 1 and len(payload) >= 32:
        timescale, duration = struct.unpack(">IQ", payload[20:32])
    else:
        return None
    if timescale == 0 or duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None
    return duration * 1000 // timescale


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
                        return parse_mvhd(fh.read(min(istop - istart, 120)))
                return None
    except (OSError, struct.error):
        return None
    return None
