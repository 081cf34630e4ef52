"""NetworkManager's ``Metered`` property, read and watched over the system D-Bus.

NetworkManager publishes whether the primary connection is metered (set by the user, or
guessed: a phone hotspot announces itself via DHCP). We speak plain D-Bus messages through
dbus-fast (a ``Get`` call and two match rules) instead of introspected proxies: fewer
round trips, and nothing to go wrong with an older NetworkManager's introspection data.

No system bus (a container, a minimal NAS) or no NetworkManager (systemd-networkd, ConnMan)
is not an error: the state is unknown, treated as unmetered, and said once in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from .states import NetworkState

__all__ = ["METERED_NAMES", "NetworkManagerSource", "metered_from_nm"]

log = logging.getLogger("immich_backupd.conditions")

NM_NAME = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
_PROPERTIES = "org.freedesktop.DBus.Properties"
_DBUS = "org.freedesktop.DBus"
_NOT_RUNNING = frozenset({f"{_DBUS}.Error.ServiceUnknown", f"{_DBUS}.Error.NameHasNoOwner"})

# NMMetered: https://networkmanager.dev/docs/api/latest/nm-dbus-types.html#NMMetered
METERED_NAMES = {0: "unknown", 1: "yes", 2: "no", 3: "guess-yes", 4: "guess-no"}

# Change signals: the standard one, and NetworkManager's own from before it adopted it
# (still sent by some versions; a duplicate wake-up only costs one extra read).
_MATCH_RULES = (
    f"type='signal',sender='{NM_NAME}',path='{NM_PATH}',interface='{_PROPERTIES}',"
    f"member='PropertiesChanged',arg0='{NM_NAME}'",
    f"type='signal',sender='{NM_NAME}',path='{NM_PATH}',interface='{NM_NAME}',"
    "member='PropertiesChanged'",
    # NetworkManager (re)started or stopped: its state may be anything now.
    f"type='signal',sender='{_DBUS}',interface='{_DBUS}',member='NameOwnerChanged',"
    f"arg0='{NM_NAME}'",
)


def metered_from_nm(value: int) -> bool | None:
    """Given NetworkManager's ``Metered`` value, return metered, unmetered or unknown.

    Guesses count like certainties: a guessed hotspot is still a phone's data plan.
    """
    return {1: True, 3: True, 2: False, 4: False}.get(value)


def is_metered_change(msg: Message) -> bool:
    """Whether a signal from the bus may mean that ``Metered`` changed."""
    if msg.message_type != MessageType.SIGNAL or not msg.body:
        return False
    body = msg.body
    if msg.interface == _PROPERTIES and msg.member == "PropertiesChanged":
        return (
            msg.path == NM_PATH
            and body[0] == NM_NAME
            and len(body) == 3
            and ("Metered" in body[1] or "Metered" in body[2])
        )
    if msg.interface == NM_NAME and msg.member == "PropertiesChanged":
        return msg.path == NM_PATH and isinstance(body[0], dict) and "Metered" in body[0]
    if msg.interface == _DBUS and msg.member == "NameOwnerChanged":
        return body[0] == NM_NAME
    return False


class NetworkManagerSource:
    """``NetworkSource`` and ``Watchable`` over NetworkManager on the system bus.

    One connection, opened on first use and re-opened (with its subscriptions) after the
    bus went away. ``bus_address`` is for tests with a private bus; by default dbus-fast
    finds the system bus ($DBUS_SYSTEM_BUS_ADDRESS, then /var/run/dbus/system_bus_socket).
    """

    def __init__(self, bus_address: str | None = None, *, timeout: float = 5.0) -> None:
        self.bus_address = bus_address
        self.timeout = timeout
        self._bus: MessageBus | None = None
        self._lock = asyncio.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._unknown_logged = False

    # -- NetworkSource -------------------------------------------------------------
    async def read(self) -> NetworkState:
        try:
            bus = await self._connection()
        except Exception as exc:
            return self._unknown(f"no system D-Bus ({_describe(exc)})")
        get = Message(
            destination=NM_NAME,
            path=NM_PATH,
            interface=_PROPERTIES,
            member="Get",
            signature="ss",
            body=[NM_NAME, "Metered"],
        )
        try:
            async with asyncio.timeout(self.timeout):
                reply = await bus.call(get)
        except Exception as exc:
            self._drop(bus)
            return self._unknown(f"asking NetworkManager failed ({_describe(exc)})")
        if reply.message_type == MessageType.ERROR:
            if reply.error_name in _NOT_RUNNING:
                return self._unknown("NetworkManager is not running")
            text = reply.body[0] if reply.body else ""
            return self._unknown(f"NetworkManager refused: {reply.error_name} {text}".strip())
        value = reply.body[0].value if reply.body else None
        if not isinstance(value, int):
            return self._unknown(f"unexpected Metered value {value!r}")
        self._unknown_logged = False  # a later outage is worth a line again
        name = METERED_NAMES.get(value, "?")
        return NetworkState(metered_from_nm(value), "networkmanager", f"Metered={name}")

    # -- Watchable -----------------------------------------------------------------
    async def watch(self, on_change: Callable[[], None]) -> None:
        self._callbacks.append(on_change)
        bus = self._bus
        if bus is not None and bus.connected:
            if len(self._callbacks) == 1:
                await self._subscribe(bus)
            return
        with contextlib.suppress(Exception):  # read() says why, once; retried on reconnect
            await self._connection()

    async def close(self) -> None:
        self._callbacks.clear()
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()

    # -- internals -----------------------------------------------------------------
    async def _connection(self) -> MessageBus:
        """The open connection, connecting (and subscribing) first if needed. Raises."""
        async with self._lock:
            if self._bus is not None and self._bus.connected:
                return self._bus
            bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
            try:
                async with asyncio.timeout(self.timeout):
                    await bus.connect()
            except BaseException:
                bus.disconnect()
                raise
            if self._callbacks:
                await self._subscribe(bus)
            self._bus = bus
            return bus

    async def _subscribe(self, bus: MessageBus) -> None:
        bus.add_message_handler(self._on_message)
        for rule in _MATCH_RULES:
            add = Message(
                destination=_DBUS,
                path="/org/freedesktop/DBus",
                interface=_DBUS,
                member="AddMatch",
                signature="s",
                body=[rule],
            )
            try:
                async with asyncio.timeout(self.timeout):
                    reply = await bus.call(add)
            except Exception as exc:
                log.debug("cannot watch NetworkManager: %s", _describe(exc))
                return
            if reply.message_type == MessageType.ERROR:
                log.debug("cannot watch NetworkManager: %s %s", reply.error_name, reply.body)
                return

    def _on_message(self, msg: Message) -> None:
        if not is_metered_change(msg):
            return
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:
                log.exception("network change callback failed")

    def _drop(self, bus: MessageBus) -> None:
        """Forget a connection that failed, so the next read opens a fresh one."""
        if self._bus is bus:
            self._bus = None
        with contextlib.suppress(Exception):
            bus.disconnect()

    def _unknown(self, detail: str) -> NetworkState:
        if not self._unknown_logged:
            self._unknown_logged = True
            log.info("network metering unknown (%s); treated as unmetered", detail)
        else:
            log.debug("network metering unknown (%s)", detail)
        return NetworkState(None, "networkmanager", detail)

    def __repr__(self) -> str:
        state = "connected" if self._bus is not None and self._bus.connected else "idle"
        return f"NetworkManagerSource({state}, watchers={len(self._callbacks)})"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
