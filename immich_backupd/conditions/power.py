"""Is this computer on battery? Read from sysfs on Linux and ``pmset`` on macOS.

Only ``backup.require_charging`` asks. The parsers are pure functions over text, so they are
tested with sample output; the sources around them only fetch that text. A source never
raises: anything it cannot read becomes ``on_battery=None`` (unknown, which counts as
charging), so a broken battery driver cannot stop backups.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from .states import PowerState

__all__ = [
    "LinuxSysfsPower",
    "MacPmsetPower",
    "PowerSource",
    "PowerState",
    "UnknownPower",
    "default_power_source",
    "parse_pmset",
    "power_from_supplies",
]

class PowerSource(Protocol):
    """Where the power state comes from.

    ``read()`` returns the state now. It never raises: failures become an unknown state
    with a ``detail`` saying why. It may be called every minute for days, so it must be
    cheap and must not leak resources.
    """

    async def read(self) -> PowerState: ...


class UnknownPower:
    """A platform without a power source we know how to read: always unknown."""

    def __init__(self, detail: str = "no power source on this platform") -> None:
        self.detail = detail

    async def read(self) -> PowerState:
        return PowerState(None, None, "none", self.detail)


# --------------------------------------------------------------------------- Linux

# Supplies that power the computer when online. UPS is left out: an "online" UPS says
# nothing about whether the mains is up.
_ADAPTER_TYPES = frozenset({"Mains", "USB", "USB_C", "USB_PD", "USB_PD_DRP", "Wireless"})
# Battery statuses that mean "plugged in": "Not charging" is a full-enough battery held
# by a charge threshold, common on ThinkPads.
_PLUGGED_STATUSES = frozenset({"Charging", "Full", "Not charging"})
_ATTRIBUTES = ("type", "online", "status", "capacity", "scope")


def power_from_supplies(supplies: Mapping[str, Mapping[str, str]]) -> PowerState:
    """Given sysfs power supplies (name → attribute → value), return the power state.

    Peripheral batteries (``scope=Device``: a mouse, headphones) are ignored. An adapter
    online, or a battery charging, full or held at a threshold, means plugged in; a battery
    discharging, or adapters that are all offline, mean on battery. No battery at all is a
    desktop or a NAS, which counts as plugged in.
    """
    own = {n: a for n, a in supplies.items() if a.get("scope") != "Device"}
    adapters = {n: a for n, a in own.items() if a.get("type") in _ADAPTER_TYPES}
    batteries = {n: a for n, a in own.items() if a.get("type") == "Battery"}
    percent = _mean_capacity(batteries.values())
    online = sorted(n for n, a in adapters.items() if a.get("online") == "1")
    if online:
        return PowerState(False, percent, "sysfs", f"{', '.join(online)} online")
    if not batteries:
        return PowerState(False, None, "sysfs", "no battery")
    statuses = {n: a.get("status", "") for n, a in batteries.items()}
    plugged = sorted(n for n, s in statuses.items() if s in _PLUGGED_STATUSES)
    if plugged:
        return PowerState(False, percent, "sysfs", f"{plugged[0]} {statuses[plugged[0]]}")
    discharging = sorted(n for n, s in statuses.items() if s == "Discharging")
    if discharging:
        return PowerState(True, percent, "sysfs", f"{discharging[0]} Discharging")
    if adapters:
        return PowerState(True, percent, "sysfs", f"{', '.join(sorted(adapters))} offline")
    shown = ", ".join(f"{n} {s or '?'}" for n, s in sorted(statuses.items()))
    return PowerState(None, percent, "sysfs", f"battery status unclear: {shown}")


def _mean_capacity(batteries: Iterable[Mapping[str, str]]) -> int | None:
    values = [int(a["capacity"]) for a in batteries if a.get("capacity", "").isdigit()]
    return round(sum(values) / len(values)) if values else None


def read_supplies(root: Path) -> dict[str, dict[str, str]]:
    """Read the attributes ``power_from_supplies`` needs from a sysfs power_supply folder.

    Missing or unreadable attributes (some drivers fail reads with EIO) are left out.
    Raise ``OSError`` only if ``root`` itself cannot be listed.
    """
    supplies: dict[str, dict[str, str]] = {}
    for entry in sorted(root.iterdir()):
        attributes: dict[str, str] = {}
        for name in _ATTRIBUTES:
            try:
                attributes[name] = (entry / name).read_text().strip()
            except OSError:
                continue
        supplies[entry.name] = attributes
    return supplies


class LinuxSysfsPower:
    """The power state from ``/sys/class/power_supply`` (or a copy of it, in tests)."""

    def __init__(self, root: Path = Path("/sys/class/power_supply")) -> None:
        self.root = root

    async def read(self) -> PowerState:
        # sysfs reads can block on a slow embedded controller: keep them off the loop.
        try:
            supplies = await asyncio.to_thread(read_supplies, self.root)
        except OSError as exc:
            return PowerState(None, None, "sysfs", f"cannot read {self.root}: {exc}")
        return power_from_supplies(supplies)

    def __repr__(self) -> str:
        return f"LinuxSysfsPower({str(self.root)!r})"


# --------------------------------------------------------------------------- macOS

_PMSET_SOURCE = re.compile(r"drawing from '([^']+)'")
_PMSET_PERCENT = re.compile(r"(\d{1,3})%")


def parse_pmset(text: str) -> PowerState:
    """Given the output of ``pmset -g batt``, return the power state.

    ``'AC Power'`` is plugged in; ``'Battery Power'`` and ``'UPS Power'`` (a desktop Mac
    riding out a power cut) are on battery; anything else is unknown. A Mac without a
    battery prints only the first line.
    """
    match = _PMSET_SOURCE.search(text)
    percent_match = _PMSET_PERCENT.search(text)
    percent = int(percent_match.group(1)) if percent_match else None
    if match is None:
        first = text.strip().splitlines()[0] if text.strip() else "no output"
        return PowerState(None, percent, "pmset", f"unrecognised pmset output: {first}")
    drawing = match.group(1)
    on_battery = {"AC Power": False, "Battery Power": True, "UPS Power": True}.get(drawing)
    return PowerState(on_battery, percent, "pmset", drawing)


async def run_pmset(timeout: float = 5.0) -> str:
    """Run ``pmset -g batt`` and return its output. Raise ``OSError`` or ``TimeoutError``."""
    proc = await asyncio.create_subprocess_exec(
        "pmset",
        "-g",
        "batt",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return out.decode(errors="replace")


class MacPmsetPower:
    """The power state from ``pmset -g batt`` (macOS). ``run`` is injectable for tests."""

    def __init__(self, run: Callable[[], Awaitable[str]] = run_pmset) -> None:
        self._run = run

    async def read(self) -> PowerState:
        try:
            text = await self._run()
        except (OSError, TimeoutError) as exc:
            return PowerState(None, None, "pmset", f"pmset failed: {exc or type(exc).__name__}")
        return parse_pmset(text)


def default_power_source(platform: str = sys.platform) -> PowerSource:
    """The real power source for ``platform`` (``sys.platform``)."""
    if platform.startswith("linux"):
        return LinuxSysfsPower()
    if platform == "darwin":
        return MacPmsetPower()
    return UnknownPower(f"reading the power state is not supported on {platform}")
