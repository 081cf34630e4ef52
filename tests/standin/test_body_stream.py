"""BodyStream: chunk sizes with and without a throttle, and the throttle's pace."""

from __future__ import annotations

import time
from typing import Any

import pytest

from immich_standin.context import READ_CHUNK, BodyStream, ConnectionDropped

MIB = 1024 * 1024


class _Content:
    """Stands in for ``request.content``: hands out at most ``n`` of the remaining bytes."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.asked: list[int] = []

    async def read(self, n: int) -> bytes:
        self.asked.append(n)
        got = min(n, self.left)
        self.left -= got
        return b"b" * got


class _Request:
    def __init__(self, size: int) -> None:
        self.content = _Content(size)
        self.transport: Any = None


async def _read_all(stream: BodyStream) -> list[int]:
    sizes = []
    while chunk := await stream.read():
        sizes.append(len(chunk))
    return sizes


def test_read_chunk_is_1_mib():
    assert READ_CHUNK == MIB


async def test_unthrottled_reads_1_mib_at_a_time():
    request = _Request(3 * MIB + 5)
    sizes = await _read_all(BodyStream(request))  # type: ignore[arg-type]
    assert sizes == [MIB, MIB, MIB, 5]
    assert set(request.content.asked) == {MIB}


@pytest.mark.parametrize(
    ("bps", "chunk"),
    [
        (100_000, 5_000),  # slow link: 1/20 s worth per read
        (10_000, 1024),  # never below 1 KiB
        (8 * MIB, 8 * MIB // 20),  # above the old 256 KiB cap
        (40 * MIB, MIB),  # capped at READ_CHUNK
    ],
)
async def test_throttled_chunks_and_pace(bps, chunk):
    size = 3 * chunk + 100
    request = _Request(size)
    started = time.monotonic()
    sizes = await _read_all(BodyStream(request, bytes_per_second=bps))  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert sizes == [chunk, chunk, chunk, 100]
    assert set(request.content.asked) == {chunk}
    assert elapsed >= 0.95 * size / bps


async def test_drop_after_still_cuts_inside_a_big_chunk():
    request = _Request(3 * MIB)
    stream = BodyStream(request, drop_after=MIB + 10)  # type: ignore[arg-type]
    assert len(await stream.read()) == MIB
    assert len(await stream.read()) == 10
    with pytest.raises(ConnectionDropped):
        await stream.read()


async def test_stop_reading_pauses_once_at_the_byte_then_goes_on():
    request = _Request(3 * MIB)
    stream = BodyStream(request, stop_after=MIB + 10, stop_seconds=0.3)  # type: ignore[arg-type]
    assert len(await stream.read()) == MIB
    assert len(await stream.read()) == 10
    started = time.monotonic()
    assert len(await stream.read()) == MIB
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert [len(await stream.read()), len(await stream.read())] == [MIB - 10, 0]
    assert time.monotonic() - started < 0.3  # once
