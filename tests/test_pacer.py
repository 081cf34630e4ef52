"""The pacer shared by a pass's uploads, on a fake clock: the cap holds for all uploads
together, and a timetable switches the cap at its times during a long upload."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from immich_backupd.pipeline.pacer import PACED_CHUNK, Pacer
from immich_backupd.schedule.bandwidth import parse_timetable

MiB = 1 << 20


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def local_now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def pacer(table: str, clock: FakeClock) -> Pacer:
    return Pacer(parse_timetable(table), monotonic=clock.monotonic,
                 local_now=clock.local_now, sleep=clock.sleep)


async def send(p: Pacer, nbytes: int) -> None:
    for _ in range(nbytes // PACED_CHUNK):
        await p(PACED_CHUNK)


async def test_twenty_mib_at_four_mib_per_second_take_about_five_seconds():
    clock = FakeClock(datetime(2026, 12, 7, 12))
    p = pacer("4MB/s", clock)
    await send(p, 20 * MiB)
    assert 4.5 <= clock.t <= 5.0
    assert p.rate() == 4 * MiB and parse_timetable("4MB/s").capped


async def test_the_cap_is_for_all_uploads_together():
    clock = FakeClock(datetime(2026, 12, 7, 12))
    p = pacer("4MB/s", clock)
    # Four uploads at once, 5 MiB each: the fake sleep advances shared time, so the
    # total, not each, is what the cap limits.
    await asyncio.gather(*(send(p, 5 * MiB) for _ in range(4)))
    assert clock.t >= 4.5


async def test_a_timetable_switches_the_cap_at_its_times():
    clock = FakeClock(datetime(2026, 12, 7, 7, 59, 50))
    p = pacer("08:00,1M 09:00,off", clock)
    assert p.rate() is None
    await send(p, 64 * MiB)  # no cap before 08:00: no time passes
    assert clock.t == 0.0
    clock.t = 10.0  # 08:00:00
    await send(p, 10 * MiB)
    assert p.rate() == MiB
    assert 9.5 <= clock.t - 10.0 <= 10.0
    clock.t = 3610.0  # 09:00:00: off again
    before = clock.t
    await send(p, 64 * MiB)
    assert clock.t == before and p.rate() is None


async def test_no_cap_never_waits():
    clock = FakeClock(datetime(2026, 12, 7, 12))
    p = pacer("off", clock)
    await send(p, 100 * MiB)
    assert clock.t == 0.0 and not parse_timetable("off").capped


async def test_a_real_upload_to_the_standin_keeps_to_the_cap(tmp_path):
    """The client streams through the pacer: 8 MiB at 4 MiB/s take at least ~1.75 s of
    real time (a lower bound: a slow machine cannot make it fail), and the server gets
    the whole file."""
    import hashlib
    import time

    from immich_backupd.immich.client import ImmichClient, UploadRequest
    from immich_standin import StandinServer

    data = bytes(range(256)) * (8 * MiB // 256)
    photo = tmp_path / "big.jpg"
    photo.write_bytes(data)
    p = Pacer(parse_timetable("4MB/s"))
    with StandinServer(version="3.1.0") as srv:
        async with ImmichClient(srv.api_url, srv.api_key) as client:
            await client.server_version()
            started = time.monotonic()
            result = await client.upload(UploadRequest(
                path=photo, size=len(data), sha1=hashlib.sha1(data).digest(),
                created_at="2024-05-01T12:00:00.000Z", modified_at="2024-05-01T12:00:00.000Z",
                filename="big.jpg", pace=p))
            took = time.monotonic() - started
        assert not result.duplicate and srv.state.assets[result.asset_id].size == len(data)
    assert took >= 1.75
