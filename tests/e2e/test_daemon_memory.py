"""What the daemon keeps between passes (docs/performance.md, the daemon's RSS),
counted in structures, not read off RSS.

- Nothing of a pass once it has ended: the pass's objects are a cycle (its stages call
  back into it), so they go only when the collector runs, and the tuned collector
  (gctune) almost never collects the generation they end in. Before the daemon
  collected after each pass, a first pass over 100,000 files just written left 333 MB
  where an idle daemon takes 53. The collector is off for that test, so only the
  daemon's own collection can free the passes.
- No file events a pass has made moot (watch.settle, ``forget_before``)."""

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


async def _library_backed_up(daemon: Daemon, server, setup) -> None:  # type: ignore[no-untyped-def]
    """Wait until the library is on the server and the daemon idle after its pass."""
    files = set(setup.lib.expected.values())
    await until(lambda: set(server_assets(server)) == files, 30, "the library")
    await until(lambda: daemon._pass is None
                and daemon._status_text().startswith("Backup complete"), 10, "idle")


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
            await _library_backed_up(daemon, server, setup)
            assert daemon._held == set()
            assert _left_of_passes() == []
        finally:
            daemon.stop()
            assert await asyncio.wait_for(task, 60) == 0
    finally:
        if was_enabled:
            gc.enable()


async def test_file_events_of_files_no_pass_asks_about_are_not_kept(server, make_setup):
    """The daemon notes each file's events (watch.settle) until a pass asks whether the
    file is still being written. A pass asks only about new and changed files: the
    events of a file that did not change (a chmod, as a NAS's permission fix makes
    for a whole library) were kept until the daemon stopped."""
    setup = make_setup(server, trigger_delay="200ms", max_delay="2s", settle_time="300ms")
    settings = load_settings(setup.config)
    daemon = Daemon(setup.config, settings)
    task = asyncio.create_task(daemon.run())
    try:
        await _library_backed_up(daemon, server, setup)
        for path in setup.lib.expected:
            path.chmod(0o640)
        await until(lambda: len(daemon.settle) > 0, 10, "the chmod's events")
        await until(lambda: len(daemon.settle) == 0, 10, "the events forgotten")
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0
