"""The daemon's waits that a stop (SIGTERM) cuts short: for the conditions to allow a
pass, and for a running pass to end (with ``grace`` seconds for its uploads in flight).
Also where the condition monitor is made and replaced on reload, and this machine's
power source (which ``check`` reads too), and what waits for the charger when no file
event named it (``charger_backlog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..backup import run_dry
from ..conditions import (
    ConditionMonitor,
    Decision,
    Requirements,
    default_network_source,
    default_power_source,
)
from ..conditions.power import LinuxSysfsPower, PowerSource
from ..config import Settings

log = logging.getLogger("immich_backupd.daemon")

# POWER_SUPPLY_ROOT lets a test (or an unusual system) point the power source at another
# sysfs tree; the reading code is the real one.
POWER_ROOT_ENV = "IMMICH_BACKUPD_POWER_SUPPLY_ROOT"

T = TypeVar("T")


class Stopped(Exception):
    """The pass was aborted at shutdown after the grace period."""


def power_source() -> PowerSource:
    """This machine's power source (the sysfs tree under ``$POWER_ROOT_ENV`` if set)."""
    root = os.environ.get(POWER_ROOT_ENV)
    return LinuxSysfsPower(Path(root)) if root else default_power_source()


def make_monitor(settings: Settings) -> ConditionMonitor:
    return ConditionMonitor(power_source(), default_network_source(),
                            Requirements.from_settings(settings.backup))


async def replace_monitor(old: ConditionMonitor, settings: Settings) -> ConditionMonitor:
    """The monitor for ``settings``: ``old`` itself when the requirements are the same,
    else a new one on the same sources (``old`` is closed)."""
    requirements = Requirements.from_settings(settings.backup)
    if requirements == old.requirements:
        return old
    await old.close()
    return ConditionMonitor(old.power, old.network, requirements,
                            recheck_interval=old.recheck_interval)


async def conditions_allow(monitor: ConditionMonitor, stop: asyncio.Event,
                           on_wait: Callable[[str], None]) -> Decision | None:
    """The conditions' decision once they allow anything (``on_wait`` is told why it
    waits meanwhile); None when ``stop`` is set first."""
    decision = await monitor.current()
    if decision.allows("any"):
        return decision
    waiter = asyncio.create_task(monitor.wait_until_allowed("any", on_wait))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiter, stopper):
        if task not in done:
            task.cancel()
    if waiter in done:
        return waiter.result()
    return None


async def finish_or_abort(task: asyncio.Task[T], stop: asyncio.Event, grace: float) -> T:
    """The result of ``task``. Once ``stop`` is set it gets ``grace`` seconds more, then
    it is cancelled (the server keeps nothing of a cut upload) and ``Stopped`` raised."""
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():  # stopping: give the uploads in flight their grace
            done, _ = await asyncio.wait({task}, timeout=grace)
            if not done:
                log.warning("uploads still running after %.0f s: aborting them "
                            "(the server keeps nothing of a cut upload)", grace)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise Stopped
        return task.result()
    finally:
        stopper.cancel()


async def charger_backlog(settings: Settings) -> frozenset[Path] | None:
    """The files a pass would check and upload now, found as ``once --dry-run`` finds
    them (the walk and the plan against the state, read-only, nothing hashed or sent):
    what waits for the charger when the daemon starts, or a full rescan comes, on
    battery, where no file event names the files. An upper bound, as the dry run's (the
    server may have some). None when it cannot tell (the server away, the state not
    readable): the status line then says it waits for power, without a number."""
    try:
        report = await run_dry(settings)
    except Exception as exc:  # a count for the status line, never a reason to stop
        log.debug("cannot count the files waiting for the charger: %s", exc)
        return None
    return frozenset(path for path, _size, _kind in report.to_upload)
