"""Quiet hours: the daemon starts no upload in them, says until when in `status`, and
backs up by itself when they end (the conditions' clock is a fake one the test turns;
the daemon, the stand-in and the files are real)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from immich_backupd.conditions import ConditionMonitor, Requirements
from immich_backupd.conditions.network import UnknownNetwork
from immich_backupd.conditions.power import UnknownPower
from immich_backupd.config import load_settings
from immich_backupd.daemon.core import Daemon

from .conftest import server_assets, until


async def test_quiet_hours_hold_the_daemon_and_it_resumes_after(server, make_setup):
    setup = make_setup(server, trigger_delay="300ms", max_delay="3s",
                       quiet_hours="11:00-13:00")
    settings = load_settings(setup.config)
    clock = [datetime(2026, 12, 7, 12, 0)]
    no_network = UnknownNetwork("none", "no network source in this test")
    monitor = ConditionMonitor(UnknownPower(), no_network,
                               Requirements.from_settings(settings.backup),
                               recheck_interval=3600, local_now=lambda: clock[0])
    daemon = Daemon(setup.config, settings, monitor=monitor)
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: daemon.status.state == "waiting", 30, "the daemon to wait")
        status = await asyncio.to_thread(setup.json, "status")
        assert status["headline"] == "⏸ Quiet hours: no uploads until 13:00", status
        assert server_assets(server) == {}
        assert server.state.counters.upload_requests == 0

        clock[0] = datetime(2026, 12, 7, 13, 0)  # they end
        monitor.notify_change()
        await until(lambda: set(server_assets(server)) == set(setup.lib.expected.values()),
                    30, "the backup after the quiet hours")
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0
