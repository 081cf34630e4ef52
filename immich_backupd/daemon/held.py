"""Files the conditions hold back (a video on a metered network, ...), and the task that
waits for the conditions to allow them: it listens to the condition sources' signals
(NetworkManager, power) at all times, not only while a pass waits, and hands the files
back the moment they may go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..conditions import ConditionMonitor, Kind
from .policy import held_after, need_for

if TYPE_CHECKING:
    from ..pipeline.runner import ScanTargets

log = logging.getLogger("immich_backupd.daemon")


class ConditionHeld:
    """The held files (kind by path, in ``files``) and the wait for them."""

    def __init__(self, release: Callable[[Mapping[Path, str]], None]) -> None:
        self.files: dict[Path, str] = {}
        self._release = release  # called on the loop with the files the conditions allow
        self._task: asyncio.Task[None] | None = None

    def after_pass(self, held_by_pass: dict[Path, str], targets: ScanTargets | None,
                   monitor: ConditionMonitor) -> None:
        """A pass over ``targets`` (None: all) held ``held_by_pass``: keep those, drop the
        files of its folders it no longer holds, and wait for them."""
        self.files = held_after(self.files, held_by_pass, targets)
        self.watch(monitor)

    def watch(self, monitor: ConditionMonitor) -> None:
        """Wait on ``monitor`` (a new one after a reload) for the held files to be
        allowed; nothing to wait for when none are held."""
        self.cancel()
        if self.files:
            self._task = asyncio.create_task(self._wait(monitor, need_for(self.files)))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _wait(self, monitor: ConditionMonitor, need: Kind) -> None:
        await monitor.wait_until_allowed(need, lambda text: None)
        held, self.files = self.files, {}
        self._task = None
        log.info("conditions allow the %d held file%s now: backing them up", len(held),
                 "s" if len(held) != 1 else "")
        self._release(held)
