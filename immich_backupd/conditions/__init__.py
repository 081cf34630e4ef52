"""When uploads may run: power and network states, their sources, the policy, the monitor."""

from .monitor import ConditionMonitor
from .network import NetworkSource, UnknownNetwork, Watchable, default_network_source
from .policy import ALLOW_ALL, Decision, Kind, Requirements, evaluate
from .power import (
    LinuxSysfsPower,
    MacPmsetPower,
    PowerSource,
    UnknownPower,
    default_power_source,
)
from .states import NetworkState, PowerState

__all__ = [
    "ALLOW_ALL",
    "ConditionMonitor",
    "Decision",
    "Kind",
    "LinuxSysfsPower",
    "MacPmsetPower",
    "NetworkSource",
    "NetworkState",
    "PowerSource",
    "PowerState",
    "Requirements",
    "UnknownNetwork",
    "UnknownPower",
    "Watchable",
    "default_network_source",
    "default_power_source",
    "evaluate",
]
