"""The daemon keeps nothing of a pass once it has ended (docs/performance.md, the
daemon's RSS): the pass's objects are a cycle (its stages call back into it), so they
go only when the collector runs, and the tuned collector (gctune) almost never
collects the generation they end in. Before the daemon collected after each pass, a
first pass over 100,000 files just written left 333 MB where an idle daemon takes 53.

The collector is off for the test, so only the daemon's own collection can free the
passes: the check is deterministic, not a reading of RSS."""

from __future__ import annotations

import asyncio
import gc

from immich_backupd.config import load_settings
from immich_backupd.daemon.core import Daemon
from immich_backupd.pipeline.runner import BackupPass
from immich_backupd.pipeline.settling import HeldFolder, SettleQueue

from .conftest import server_assets, until


def _left_of_passes() -> list[str]:
    return [type(o).__name__ for o in gc.get_objects()
            if isinstance(o, (BackupPass, SettleQueue, HeldFolder))]


async def test_nothing_of_a_pass_is_left_once_the_daemon_is_idle(server, make_setup):
    # The library is written now: within settle_time (500 ms here), so the first pass
    # holds every file back (a queue of held folders) and a later one uploads them.
    setup = make_setup(server, trigger_delay="200ms", max_delay="2s")
    settings = load_settings(setup.config)
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        assert _left_of_passes() == []
        daemon = Daemon(setup.config, settings)
        task = asyncio.create_task(daemon.run())
        try:
            files = set(setup.lib.expected.values())
            await until(lambda: set(server_assets(server)) == files, 30, "the library")
            await until(lambda: daemon._pass is None
                        and daemon._status_text().startswith("Backup complete"), 10, "idle")
            assert daemon._held == set()
            assert _left_of_passes() == []
        finally:
            daemon.stop()
            assert await asyncio.wait_for(task, 60) == 0
    finally:
        if was_enabled:
            gc.enable()
