"""NetworkManagerSource against a real dbus-daemon, with a stand-in NetworkManager on it.

A private bus (``dbus-daemon --session`` on a socket in tmp_path) stands in for the system
bus, so the real D-Bus messages are exchanged: the Get call, the match rules and the
PropertiesChanged signal. Skipped where dbus-daemon is not installed.
"""

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest.importorskip("dbus_fast")
from dbus_fast.aio import MessageBus

from immich_backupd.conditions.monitor import ConditionMonitor
from immich_backupd.conditions.networkmanager import NetworkManagerSource
from immich_backupd.conditions.policy import Requirements
from immich_backupd.conditions.power import UnknownPower
from tests.nm_double import private_bus, publish

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                                reason="dbus-daemon not installed")


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    with private_bus(tmp_path) as address:
        yield address


@pytest.fixture
async def service_bus(bus_address: str) -> AsyncIterator[MessageBus]:
    bus = await MessageBus(bus_address=bus_address).connect()
    yield bus
    bus.disconnect()


async def test_reads_metered_from_networkmanager(service_bus: MessageBus, bus_address: str):
    await publish(service_bus, 3)
    source = NetworkManagerSource(bus_address)
    try:
        state = await source.read()
        assert (state.metered, state.source, state.detail) == (
            True, "networkmanager", "Metered=guess-yes")
    finally:
        await source.close()


async def test_bus_without_networkmanager_is_unknown(service_bus: MessageBus, bus_address: str):
    source = NetworkManagerSource(bus_address)
    try:
        state = await source.read()
        assert (state.metered, state.detail) == (None, "NetworkManager is not running")
    finally:
        await source.close()


async def test_watch_calls_back_on_change(service_bus: MessageBus, bus_address: str):
    fake = await publish(service_bus, 2)
    source = NetworkManagerSource(bus_address)
    changed = asyncio.Event()
    try:
        await source.watch(changed.set)
        assert (await source.read()).metered is False
        fake.set_metered(1)
        async with asyncio.timeout(5):
            await changed.wait()
        assert (await source.read()).metered is True
    finally:
        await source.close()


async def test_monitor_waits_for_wifi_and_wakes_on_the_signal(
    service_bus: MessageBus, bus_address: str
):
    """End to end: metered hotspot holds videos; NetworkManager's signal releases them."""
    fake = await publish(service_bus, 1)
    source = NetworkManagerSource(bus_address)
    monitor = ConditionMonitor(UnknownPower(), source, Requirements(),
                               recheck_interval=3600)  # only the signal can wake it
    waits: list[str] = []
    try:
        task = asyncio.create_task(monitor.wait_until_allowed("videos", waits.append))
        async with asyncio.timeout(5):
            while not waits:
                await asyncio.sleep(0.01)
        assert waits == ["Waiting for Wi-Fi (videos held on a metered network)"]
        fake.set_metered(4)
        async with asyncio.timeout(5):
            decision = await task
        assert decision.videos
    finally:
        await monitor.close()
