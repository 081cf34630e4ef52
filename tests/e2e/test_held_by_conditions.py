"""Held work is counted and resumes by itself: videos on a metered network are counted
in `status`, and go up within seconds of the network turning unmetered, with nothing
else changing (a stand-in NetworkManager on a private D-Bus; the daemon in-process)."""

from __future__ import annotations

import asyncio
import shutil

import pytest

pytest.importorskip("dbus_fast")
from dbus_fast.aio import MessageBus

from immich_backupd.conditions import ConditionMonitor, Requirements
from immich_backupd.conditions.networkmanager import NetworkManagerSource
from immich_backupd.conditions.power import UnknownPower
from immich_backupd.config import load_settings
from immich_backupd.daemon.core import Daemon
from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from tests.nm_double import private_bus, publish

from .conftest import server_assets, until

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                                reason="dbus-daemon not installed")

METERED, UNMETERED = 1, 4  # NMMetered: yes, guess-no


async def test_held_videos_are_counted_and_go_up_when_the_network_allows(
    server, make_setup, tmp_path
):
    setup = make_setup(server, trigger_delay="300ms", max_delay="3s")
    videos = {p: sha for p, sha in setup.lib.expected.items()
              if DEFAULT_MEDIA_TYPES.candidate(p.name) == "video"}
    assert len(videos) >= 2
    settings = load_settings(setup.config)
    assert settings.backup.metered.videos is False  # the default holds them
    with private_bus(tmp_path) as address:
        service = await MessageBus(bus_address=address).connect()
        try:
            nm = await publish(service, METERED)
            # Only NetworkManager's signal can wake it: the re-check is an hour away.
            monitor = ConditionMonitor(UnknownPower(), NetworkManagerSource(address),
                                       Requirements.from_settings(settings.backup),
                                       recheck_interval=3600)
            daemon = Daemon(setup.config, settings, monitor=monitor)
            task = asyncio.create_task(daemon.run())
            try:
                photos = set(setup.lib.expected.values()) - set(videos.values())
                await until(lambda: set(server_assets(server)) == photos, 30, "the photos")
                await until(lambda: len(daemon._held_by_conditions.files) == len(videos), 10,
                            "the count")
                status = await asyncio.to_thread(setup.json, "status")
                assert status["held_by_condition"] == {"videos": len(videos)}
                assert status["state"] == "waiting"
                assert status["headline"] == \
                    f"⏸ {len(videos)} videos wait for an unmetered network"
                assert "✓" not in status["headline"]
                assert daemon._status_text() == \
                    f"{len(videos)} videos wait for an unmetered network"

                nm.set_metered(UNMETERED)  # nothing else changes
                took = await until(lambda: set(server_assets(server))
                                   == set(setup.lib.expected.values()), 10, "the videos")
                assert took < 10
                await until(lambda: not daemon._held_by_conditions.files, 5, "the count to clear")
                status = await asyncio.to_thread(setup.json, "status")
                assert status["held_by_condition"] == {}
                assert status["headline"] == "✓ Backup complete"
            finally:
                daemon.stop()
                assert await asyncio.wait_for(task, 60) == 0
        finally:
            service.disconnect()
