"""A stand-in NetworkManager on a private D-Bus (:func:`tests.dbus_bus.private_bus`),
for tests of the network conditions: the real D-Bus messages are exchanged (the Get
call, the match rules, the PropertiesChanged signal). Tests skip where dbus-daemon is
not installed."""

from __future__ import annotations

from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property

from immich_backupd.conditions.networkmanager import NM_NAME, NM_PATH
from tests.dbus_bus import private_bus

__all__ = ["FakeNetworkManager", "private_bus", "publish"]


class FakeNetworkManager(ServiceInterface):
    """The one property of org.freedesktop.NetworkManager the source reads. ``Metered``
    is NetworkManager's NMMetered: 1 yes, 2 no, 3 guess-yes, 4 guess-no."""

    def __init__(self, metered: int) -> None:
        super().__init__(NM_NAME)
        self._metered = metered

    @dbus_property(access=PropertyAccess.READ)
    def Metered(self) -> u:  # noqa: F821 (a D-Bus signature, not a name)
        return self._metered

    def set_metered(self, value: int) -> None:
        self._metered = value
        self.emit_properties_changed({"Metered": value})


async def publish(bus: MessageBus, metered: int) -> FakeNetworkManager:
    """Export a FakeNetworkManager on ``bus`` under NetworkManager's name."""
    fake = FakeNetworkManager(metered)
    bus.export(NM_PATH, fake)
    await bus.request_name(NM_NAME)
    return fake
