"""Is the current network metered? The protocol, and the source for each platform.

Only ``backup.require_unmetered`` and ``backup.metered`` ask. On Linux NetworkManager
knows (``networkmanager.py``; imported only there, since dbus-fast is a Linux-only
dependency); macOS offers no public equivalent. A source never raises: what it cannot
tell is ``metered=None``, which counts as unmetered, so a missing NetworkManager never
stops a backup (it is said once in the log instead).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .states import NetworkState

__all__ = [
    "NetworkSource",
    "NetworkState",
    "UnknownNetwork",
    "Watchable",
    "default_network_source",
]

log = logging.getLogger("immich_backupd.conditions")


class NetworkSource(Protocol):
    """Where the network state comes from.

    ``read()`` returns the state now. It never raises: failures become an unknown state
    with a ``detail`` saying why. It may be called every minute for days, so it must be
    cheap and must not leak resources.
    """

    async def read(self) -> NetworkState: ...


@runtime_checkable
class Watchable(Protocol):
    """A source that can say when its state may have changed (power or network).

    ``watch(on_change)`` arranges for ``on_change()`` to be called, on the event loop, soon
    after each change; spurious calls are allowed (the caller just reads again). It never
    raises: a source that cannot watch simply never calls back, and the caller's periodic
    re-check covers it. ``close()`` stops watching and releases connections; it is safe to
    call twice.
    """

    async def watch(self, on_change: Callable[[], None]) -> None: ...

    async def close(self) -> None: ...


class UnknownNetwork:
    """A platform where metering cannot be detected: always unknown, said once in the log."""

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        self._logged = False

    async def read(self) -> NetworkState:
        if not self._logged:
            self._logged = True
            log.info("network metering unknown (%s); treated as unmetered", self.detail)
        return NetworkState(None, self.source, self.detail)


def default_network_source(platform: str = sys.platform) -> NetworkSource:
    """The real network source for ``platform`` (``sys.platform``)."""
    if platform.startswith("linux"):
        from .networkmanager import NetworkManagerSource

        return NetworkManagerSource()
    if platform == "darwin":
        return UnknownNetwork("macos", "macOS does not tell programs whether a network is metered")
    return UnknownNetwork("none", f"metered networks are not detected on {platform}")
