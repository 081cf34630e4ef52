"""Hold uploads back until the power and network allow them, without busy-polling.

The monitor reads the sources, asks the pure ``policy`` and, when something must wait,
sleeps until a source signals a change (``Watchable``) or ``recheck_interval`` passes,
whichever comes first. Sources that cannot signal are still re-checked on the interval;
a power source that cannot signal (sysfs, pmset) every ``POWER_RECHECK`` seconds while
a charger is waited for, so that plugging in starts the backup within seconds.

When the settings make every state allow everything (the default, except for videos on
metered networks), or when a requirement does not depend on a source, that source is never
touched: a NAS without a battery or a desktop session opens no D-Bus connection at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from .network import NetworkSource, Watchable
from .policy import ALLOW_ALL, Decision, Kind, Requirements
from .power import PowerSource
from .states import NetworkState, PowerState

__all__ = ["ConditionMonitor"]

log = logging.getLogger("immich_backupd.conditions")

POWER_RECHECK = 5.0  # seconds between power reads while waiting for a charger
_NOT_CHECKED_POWER = PowerState(None, None, "none", "not checked: no requirement needs it")
_NOT_CHECKED_NETWORK = NetworkState(None, "none", "not checked: no requirement needs it")


class ConditionMonitor:
    """Decides from live sources whether photos and videos may be uploaded now.

    Build one per daemon, with the real sources (``default_power_source()``,
    ``default_network_source()``) and ``Requirements.from_settings(settings.backup)``;
    ``close()`` it on shutdown. Not thread-safe: use it from one event loop.
    """

    def __init__(
        self,
        power: PowerSource,
        network: NetworkSource,
        requirements: Requirements,
        *,
        recheck_interval: float = 60.0,
        power_recheck: float = POWER_RECHECK,
        local_now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.local_now = local_now  # the clock quiet hours are read on
        self.power = power
        self.network = network
        self.requirements = requirements
        self.recheck_interval = recheck_interval
        self.power_recheck = power_recheck
        self.last: Decision | None = None
        # One event per waiter, so one waiter clearing its event cannot hide a change
        # from another.
        self._waiters: set[asyncio.Event] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watching = False

    @property
    def only_when_needed(self) -> bool:
        """True when no state can hold anything back, so no source is ever read."""
        return not self.requirements.needs_checks

    async def current(self) -> Decision:
        """Read the sources the requirements depend on, and return what is allowed now."""
        if self.only_when_needed:
            return ALLOW_ALL
        req = self.requirements
        power = await self._read_power() if req.needs_power else _NOT_CHECKED_POWER
        network = await self._read_network() if req.needs_network else _NOT_CHECKED_NETWORK
        decision = req.evaluate(power, network, self.local_now())
        if decision != self.last:
            log.debug("conditions: %s; %s -> %s", power, network, decision)
        self.last = decision
        return decision

    async def wait_until_allowed(
        self, kind_needed: Kind, on_wait: Callable[[str], None]
    ) -> Decision:
        """Return the first decision that allows ``kind_needed``, waiting as long as it takes.

        ``on_wait(text)`` is called when waiting starts and each time the reason changes
        (not on every re-check), so the caller can show "Waiting for Wi-Fi …"; an exception
        from it is logged and ignored. Cancel the call to stop waiting.
        """
        if self.only_when_needed:
            return ALLOW_ALL
        await self._ensure_watching()
        changed = asyncio.Event()
        self._waiters.add(changed)
        shown: str | None = None
        try:
            while True:
                # Cleared before reading, so a change during the read is not lost.
                changed.clear()
                decision = await self.current()
                if decision.allows(kind_needed):
                    return decision
                text = decision.waiting_for or "Waiting"
                if text != shown:
                    shown = text
                    log.info("%s", text)
                    try:
                        on_wait(text)
                    except Exception:
                        log.exception("on_wait callback failed")
                timeout = self.recheck_interval
                if decision.reason == "charging" and not isinstance(self.power, Watchable):
                    # No signal says the charger was plugged in: look often, so what
                    # waits goes up within seconds (a few small sysfs reads each time).
                    timeout = min(timeout, self.power_recheck)
                if decision.until is not None:  # quiet hours end then: look again
                    left = (decision.until - self.local_now()).total_seconds()
                    timeout = max(0.05, min(timeout, left + 0.05))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await changed.wait()
        finally:
            self._waiters.discard(changed)

    def notify_change(self) -> None:
        """Re-check now (a source saw a change, or the system resumed from suspend).

        Safe to call from any thread; a no-op while nobody waits (the next wait reads the
        sources first anyway).
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for event in self._waiters:
            event.set()

    async def close(self) -> None:
        """Stop watching and release the sources' connections. Safe to call twice."""
        for source in self._needed_sources():
            if isinstance(source, Watchable):
                try:
                    await source.close()
                except Exception:
                    log.debug("closing %r failed", source, exc_info=True)
        self._watching = False

    # -- internals -----------------------------------------------------------------
    def _needed_sources(self) -> list[object]:
        req = self.requirements
        return [s for s, needed in ((self.power, req.needs_power),
                                    (self.network, req.needs_network)) if needed]

    async def _ensure_watching(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._watching:
            return
        self._watching = True
        for source in self._needed_sources():
            if isinstance(source, Watchable):
                try:
                    await source.watch(self.notify_change)
                except Exception:  # the contract says never, but waiting must go on
                    log.debug("watching %r failed", source, exc_info=True)

    async def _read_power(self) -> PowerState:
        try:
            return await self.power.read()
        except Exception as exc:
            log.warning("reading the power state failed: %s", exc)
            return PowerState(None, None, "error", str(exc))

    async def _read_network(self) -> NetworkState:
        try:
            return await self.network.read()
        except Exception as exc:
            log.warning("reading the network state failed: %s", exc)
            return NetworkState(None, "error", str(exc))

    def __repr__(self) -> str:
        waiting = self.last.waiting_for if self.last else None
        return (f"ConditionMonitor(only_when_needed={self.only_when_needed}, "
                f"watching={self._watching}, waiting_for={waiting!r})")
