"""The power and network states as plain data, shared by the sources and the pure policy.

Kept apart from the sources so that ``policy`` imports no I/O (no asyncio, no D-Bus).
``None`` always means "unknown", and unknown never blocks a backup.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NetworkState", "PowerState"]


@dataclass(frozen=True, slots=True)
class PowerState:
    """Whether this computer runs on battery, as far as ``source`` could tell."""

    on_battery: bool | None  # None: unknown, which counts as charging
    percent: int | None  # battery charge, None without a battery or when unreadable
    source: str  # where it came from: "sysfs", "pmset", "none"
    detail: str = ""  # for logs and ``status``: what was seen, or why it is unknown


@dataclass(frozen=True, slots=True)
class NetworkState:
    """Whether the current connection is metered, as far as ``source`` could tell."""

    metered: bool | None  # None: unknown, which counts as unmetered
    source: str  # "networkmanager", "macos", "none"
    detail: str = ""  # for logs and ``status``: the raw value, or why it is unknown
