"""What systemd must keep hearing from the daemon's event loop: more start-up time
until READY=1, and WATCHDOG=1 (each a task that runs until cancelled)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .sdnotify import SdNotify

START_EXTEND = 60.0  # seconds of start-up time asked for at a time until READY=1


async def extend_start_timeout(sd: SdNotify, ready: Callable[[], bool]) -> None:
    """READY=1 waits for the first scan, which on a first import of a big library can
    outlast systemd's start timeout (the scan waits on the uploads it feeds): ask for
    more time, a minute at a time, until ``ready()``."""
    while not ready():
        sd.send(EXTEND_TIMEOUT_USEC=str(int(START_EXTEND * 1_000_000)))
        await asyncio.sleep(START_EXTEND / 3)


async def watchdog(sd: SdNotify) -> None:
    """WATCHDOG=1 from the event loop itself: if the loop hangs, systemd restarts us."""
    interval = sd.watchdog_interval or 0
    while True:
        sd.watchdog()
        await asyncio.sleep(interval)
