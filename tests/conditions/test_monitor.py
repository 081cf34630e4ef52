"""The monitor with fake sources: reads only what matters, waits without polling."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from immich_backupd.conditions.monitor import ConditionMonitor
from immich_backupd.conditions.network import Watchable
from immich_backupd.conditions.policy import ALLOW_ALL, Requirements
from immich_backupd.conditions.states import NetworkState, PowerState


class FakePower:
    """A power source whose state the test sets; counts reads; can watch."""

    def __init__(self, on_battery: bool | None = False) -> None:
        self.on_battery = on_battery
        self.reads = 0
        self.watchers: list[Callable[[], None]] = []
        self.closed = False

    async def read(self) -> PowerState:
        self.reads += 1
        return PowerState(self.on_battery, 50, "fake")

    async def watch(self, on_change: Callable[[], None]) -> None:
        self.watchers.append(on_change)

    async def close(self) -> None:
        self.closed = True

    def plug_in(self) -> None:
        self.on_battery = False
        for callback in self.watchers:
            callback()


class FakeNetwork:
    """A network source without watch(): only the periodic re-check notices changes."""

    def __init__(self, metered: bool | None = False) -> None:
        self.metered = metered
        self.reads = 0

    async def read(self) -> NetworkState:
        self.reads += 1
        return NetworkState(self.metered, "fake")


class BrokenNetwork:
    async def read(self) -> NetworkState:
        raise RuntimeError("driver exploded")


def monitor(power=None, network=None, interval: float = 3600, **req: bool) -> ConditionMonitor:
    return ConditionMonitor(power or FakePower(), network or FakeNetwork(), Requirements(**req),
                            recheck_interval=interval)


async def test_nothing_required_never_touches_the_sources():
    power, network = FakePower(True), FakeNetwork(True)
    m = monitor(power, network, metered_photos=True, metered_videos=True)
    assert m.only_when_needed
    assert await m.current() == ALLOW_ALL
    assert await m.wait_until_allowed("videos", lambda text: None) == ALLOW_ALL
    await m.close()
    assert (power.reads, network.reads, power.watchers, power.closed) == (0, 0, [], False)


async def test_only_the_sources_a_requirement_needs_are_read():
    power, network = FakePower(), FakeNetwork()
    m = monitor(power, network, require_charging=True, metered_videos=True)
    await m.current()
    assert (power.reads, network.reads) == (1, 0)
    m = monitor(power, network)  # defaults: videos wait on metered; power irrelevant
    await m.current()
    assert (power.reads, network.reads) == (1, 1)


async def test_current_decides_from_the_sources():
    m = monitor(FakePower(True), FakeNetwork(True), require_charging=True)
    decision = await m.current()
    assert decision.reason == "charging"
    assert m.last == decision
    assert "waiting_for='Waiting for power" in repr(m)


async def test_a_failing_source_counts_as_unknown():
    m = monitor(network=BrokenNetwork(), require_unmetered=True)  # type: ignore[arg-type]
    assert await m.current() == ALLOW_ALL


async def test_returns_at_once_when_allowed():
    waits: list[str] = []
    m = monitor(FakePower(False), FakeNetwork(True))
    decision = await m.wait_until_allowed("photos", waits.append)
    assert decision.photos and not decision.videos
    assert waits == []
    assert (await m.wait_until_allowed("any", waits.append)).photos


async def test_a_change_callback_wakes_the_waiter_promptly():
    power = FakePower(on_battery=True)
    waits: list[str] = []
    m = monitor(power, require_charging=True, interval=3600)  # the interval never fires
    task = asyncio.create_task(m.wait_until_allowed("any", waits.append))
    await asyncio.sleep(0.01)
    assert not task.done()
    assert waits == ["Waiting for power (running on battery)"]
    assert power.reads == 1  # waiting, not polling
    power.plug_in()
    async with asyncio.timeout(1):
        decision = await task
    assert decision == ALLOW_ALL
    assert power.reads == 2


async def test_sources_without_watch_are_rechecked_on_the_interval():
    network = FakeNetwork(metered=True)
    assert not isinstance(network, Watchable)
    waits: list[str] = []
    m = monitor(network=network, interval=0.02)
    task = asyncio.create_task(m.wait_until_allowed("videos", waits.append))
    await asyncio.sleep(0.1)
    assert not task.done()
    reads = network.reads
    assert 2 <= reads <= 10  # re-checked a few times, not spun on
    assert waits == ["Waiting for Wi-Fi (videos held on a metered network)"]  # said once
    network.metered = False
    async with asyncio.timeout(1):
        assert (await task).videos


async def test_on_wait_is_called_again_when_the_reason_changes():
    power, network = FakePower(True), FakeNetwork(True)
    waits: list[str] = []
    m = monitor(power, network, require_charging=True)
    task = asyncio.create_task(m.wait_until_allowed("videos", waits.append))
    await asyncio.sleep(0.01)
    power.plug_in()  # now only the metered network holds videos
    await asyncio.sleep(0.01)
    assert waits == ["Waiting for power (running on battery)",
                     "Waiting for Wi-Fi (videos held on a metered network)"]
    network.metered = False
    m.notify_change()  # the daemon may poke it too, e.g. after resume from suspend
    async with asyncio.timeout(1):
        await task


async def test_notify_change_from_another_thread_wakes_the_waiter():
    power = FakePower(True)
    m = monitor(power, require_charging=True)
    task = asyncio.create_task(m.wait_until_allowed("any", lambda text: None))
    await asyncio.sleep(0.01)
    power.on_battery = False
    thread = threading.Thread(target=m.notify_change)
    thread.start()
    thread.join()
    async with asyncio.timeout(1):
        await task


async def test_every_waiter_wakes_on_one_change():
    power = FakePower(True)
    m = monitor(power, require_charging=True)
    tasks = [asyncio.create_task(m.wait_until_allowed(k, lambda text: None))
             for k in ("photos", "videos", "any")]
    await asyncio.sleep(0.01)
    power.plug_in()
    async with asyncio.timeout(1):
        await asyncio.gather(*tasks)
    assert len(power.watchers) == 1  # watched once, not per waiter


async def test_a_failing_on_wait_does_not_stop_the_wait():
    power = FakePower(True)
    m = monitor(power, require_charging=True)

    def on_wait(text: str) -> None:
        raise ValueError("reporter broke")

    task = asyncio.create_task(m.wait_until_allowed("any", on_wait))
    await asyncio.sleep(0.01)
    power.plug_in()
    async with asyncio.timeout(1):
        assert await task == ALLOW_ALL


async def test_cancelling_the_wait_leaves_no_waiter_behind():
    m = monitor(FakePower(True), require_charging=True)
    task = asyncio.create_task(m.wait_until_allowed("any", lambda text: None))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not m._waiters


async def test_close_closes_watched_sources():
    power = FakePower(False)
    m = monitor(power, require_charging=True)
    await m.wait_until_allowed("any", lambda text: None)
    await m.close()
    assert power.closed


async def test_quiet_hours_hold_everything_and_end_by_themselves():
    """No source is read for quiet hours alone; the wait ends at their end time without
    any signal (the monitor's clock runs from 17:59:59.7 on the loop's time)."""
    import time
    from datetime import datetime, timedelta

    from immich_backupd.schedule.quiet_hours import parse_quiet_hours

    power, network = FakePower(on_battery=True), FakeNetwork(metered=True)
    start, t0 = datetime(2026, 12, 7, 17, 59, 59, 700000), time.monotonic()
    monitor = ConditionMonitor(
        power, network, Requirements(metered_videos=True, quiet=parse_quiet_hours("08:00-18:00")),
        recheck_interval=3600,
        local_now=lambda: start + timedelta(seconds=time.monotonic() - t0))
    decision = await monitor.current()
    assert (decision.photos, decision.videos, decision.reason) == (False, False, "quiet_hours")
    assert decision.waiting_for == "Quiet hours: no uploads until 18:00"
    assert decision.until == datetime(2026, 12, 7, 18, 0)
    shown: list[str] = []
    allowed = await asyncio.wait_for(monitor.wait_until_allowed("any", shown.append), 10)
    assert allowed == ALLOW_ALL and shown == ["Quiet hours: no uploads until 18:00"]
    assert power.reads == 0 and network.reads == 0


class SilentPower:
    """A power source that cannot signal (like sysfs): only reading it tells."""

    def __init__(self) -> None:
        self.on_battery = True

    async def read(self) -> PowerState:
        return PowerState(self.on_battery, 50, "fake")


async def test_a_charger_without_a_signal_is_noticed_within_the_power_recheck():
    power = SilentPower()
    m = ConditionMonitor(power, FakeNetwork(), Requirements(require_charging=True),
                         recheck_interval=3600, power_recheck=0.1)
    waiting = asyncio.create_task(m.wait_until_allowed("any", lambda text: None))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    power.on_battery = False  # plugged in: nothing signals it
    decision = await asyncio.wait_for(waiting, 2)  # not the hour of recheck_interval
    assert decision.allows("any")
    await m.close()


async def test_a_network_without_a_signal_waits_for_the_recheck_interval_not_the_power_one():
    network = FakeNetwork(metered=True)
    m = ConditionMonitor(FakePower(), network, Requirements(require_unmetered=True),
                         recheck_interval=3600, power_recheck=0.1)
    waiting = asyncio.create_task(m.wait_until_allowed("any", lambda text: None))
    await asyncio.sleep(0.5)
    assert network.reads == 1  # no polling for what is not power
    waiting.cancel()
    await m.close()
