"""A stand-in NetworkManager on a private D-Bus (``dbus-daemon --session`` on a socket in
a temporary folder), for tests of the network conditions: the real D-Bus messages are
exchanged (the Get call, the match rules, the PropertiesChanged signal). Tests skip where
dbus-daemon is not installed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property

from immich_backupd.conditions.networkmanager import NM_NAME, NM_PATH


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


@contextmanager
def private_bus(folder: Path) -> Iterator[str]:
    """Run a dbus-daemon on a socket in ``folder``; yield its address."""
    address = f"unix:path={folder}/bus"
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}",
         "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("unix:")  # listening
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=5)


async def publish(bus: MessageBus, metered: int) -> FakeNetworkManager:
    """Export a FakeNetworkManager on ``bus`` under NetworkManager's name."""
    fake = FakeNetworkManager(metered)
    bus.export(NM_PATH, fake)
    await bus.request_name(NM_NAME)
    return fake
