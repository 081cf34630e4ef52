"""The upload bandwidth cap at work: one pacer shared by every upload of a pass.

The upload stream calls the pacer with each chunk's size before sending it; the pacer
asks the timetable for the cap in force (again at each change time, so a timetable
switches during a long pass) and the token bucket how long to wait. Clocks and sleep are
injected: tests run a timetable through a day without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from ..immich.multipart import PACED_CHUNK
from ..schedule.bandwidth import Timetable, TokenBucket

__all__ = ["PACED_CHUNK", "Pacer"]


class Pacer:
    """``await pacer(n)`` returns when ``n`` more bytes may go out under the cap."""

    def __init__(
        self,
        table: Timetable,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        local_now: Callable[[], datetime] = datetime.now,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._table = table
        self._monotonic = monotonic
        self._local_now = local_now
        self._sleep = sleep
        rate, self._next_change = table.limit_at(local_now())
        self._bucket = TokenBucket(rate, monotonic())

    def rate(self) -> int | None:
        """The cap in force now, bytes per second (None: no cap)."""
        self._follow_table()
        return self._bucket.rate

    def _follow_table(self) -> None:
        if self._next_change is not None and self._local_now() >= self._next_change:
            rate, self._next_change = self._table.limit_at(self._local_now())
            self._bucket.set_rate(rate, self._monotonic())

    async def __call__(self, n: int) -> None:
        self._follow_table()
        wait = self._bucket.reserve(n, self._monotonic())
        if wait > 0:
            await self._sleep(wait)
