"""The desktop's notification service, the I/O edge of notifications.

``Notifier`` is the protocol; ``DBusNotifier`` speaks org.freedesktop.Notifications on the
session bus (Linux), where ``replaces_id`` updates a notification in place;
``LibraryNotifier`` goes through the desktop-notifier library elsewhere (macOS, Windows),
re-using a notification's identifier, which macOS takes as "replace the one delivered".
``desktop_notifier()`` picks the one for this platform.

Notifications never fail a backup: no method raises, a failure is logged (a warning the
first time, then debug), and a machine without a desktop session (a NAS, a system
service) silently sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .notify_policy import Urgency

if TYPE_CHECKING:  # dbus-fast is installed where there is D-Bus (Linux): imported there
    from dbus_fast.aio import MessageBus

__all__ = [
    "DBusNotifier",
    "LibraryNotifier",
    "Notifier",
    "NullNotifier",
    "desktop_notifier",
    "session_bus_address",
]

log = logging.getLogger("immich_backupd.notify")

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
URGENCY_BYTE = {"low": 0, "normal": 1, "critical": 2}  # the spec's "urgency" hint
# No notification server on the bus (yet: a user service may start before the desktop).
_NO_SERVER = frozenset({"org.freedesktop.DBus.Error.ServiceUnknown",
                        "org.freedesktop.DBus.Error.NameHasNoOwner"})
# The server's signal that a notification closed; reason 2: the user dismissed it.
CLOSED_RULE = (f"type='signal',interface='{BUS_NAME}',member='NotificationClosed',"
               f"path='{OBJECT_PATH}'")
DISMISSED_BY_USER = 2


class Notifier(Protocol):
    """Shows notifications to the user of this computer.

    ``send`` shows one and returns its id; passing that id as ``replace_id`` to a later
    ``send`` updates that notification in place instead of adding another. It returns
    ``None`` when nothing was shown (no desktop session, or a failure), and never raises.
    ``dismissed`` says whether the user closed the notification of an id (False where
    that cannot be known). ``close`` releases the notifier; later sends show nothing.
    All run on the event loop.
    """

    async def send(self, title: str, body: str, *, replace_id: str | None = None,
                   urgency: Urgency = "normal") -> str | None: ...

    def dismissed(self, identifier: str) -> bool: ...

    async def close(self) -> None: ...


class NullNotifier:
    """Notifications switched off (``notifications.desktop: false``): shows nothing."""

    async def send(self, title: str, body: str, *, replace_id: str | None = None,
                   urgency: Urgency = "normal") -> str | None:
        return None

    def dismissed(self, identifier: str) -> bool:
        return False

    async def close(self) -> None:
        return None


def desktop_notifier(app_name: str = "immich-backupd", *,
                     platform: str = sys.platform) -> Notifier:
    """The notifier of this platform: D-Bus on Linux (dbus-fast is installed there), the
    desktop-notifier library elsewhere (macOS, Windows)."""
    if platform.startswith("linux"):
        return DBusNotifier(app_name)
    return LibraryNotifier(app_name)


def session_bus_address(
    env: Mapping[str, str], uid: int, exists: Callable[[Path], bool] = Path.exists
) -> str | None:
    """Given the environment and user id, return the D-Bus session bus address, or None.

    ``$DBUS_SESSION_BUS_ADDRESS`` if set; else the socket systemd and dbus-broker put in
    the user's runtime directory (``$XDG_RUNTIME_DIR/bus``, usually ``/run/user/UID/bus``),
    if it exists. None means no desktop session to notify: a NAS, a system service, SSH.
    """
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return env["DBUS_SESSION_BUS_ADDRESS"]
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    socket = Path(runtime) / "bus"
    return f"unix:path={socket}" if exists(socket) else None


class _Warnings:
    """The first failure is a warning, later ones debug: a broken desktop is said once."""

    def __init__(self) -> None:
        self.warned = False

    def failed(self, what: str, exc: BaseException | str) -> None:
        level = logging.DEBUG if self.warned else logging.WARNING
        self.warned = True
        log.log(level, "%s failed: %s", what,
                exc if isinstance(exc, str) else describe(exc))


class DBusNotifier:
    """``Notifier`` over org.freedesktop.Notifications on the session bus (dbus-fast).

    One connection, opened on first use and again after it was lost. Without a session
    bus it is off for good (said once, at debug). Without a notification server on the
    bus (the desktop has not started it yet) a send shows nothing, said at debug, and the
    next one asks again. It listens to ``NotificationClosed`` to know which ones the user
    dismissed. ``env`` and ``uid`` are for tests.
    """

    def __init__(self, app_name: str = "immich-backupd", *,
                 env: Mapping[str, str] | None = None, uid: int | None = None,
                 timeout: float = 10.0) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._env = env
        self._uid = uid
        self._address: str | None = None
        self._bus: MessageBus | None = None
        self._off = False  # no session bus, or closed
        self._lock = asyncio.Lock()
        self._warnings = _Warnings()
        self._dismissed: set[str] = set()

    def dismissed(self, identifier: str) -> bool:
        return identifier in self._dismissed

    @property
    def active(self) -> bool | None:
        """True while connected, False when off or closed, None before the first send."""
        if self._off:
            return False
        return None if self._bus is None else self._bus.connected

    async def send(self, title: str, body: str, *, replace_id: str | None = None,
                   urgency: Urgency = "normal") -> str | None:
        bus = await self._connection()
        if bus is None:
            return None
        from dbus_fast import Message, MessageType, Variant

        notify = Message(
            destination=BUS_NAME, path=OBJECT_PATH, interface=BUS_NAME, member="Notify",
            signature="susssasa{sv}i",
            body=[self.app_name, _replaces(replace_id), "", title, body, [],
                  {"urgency": Variant("y", URGENCY_BYTE[urgency])}, -1],
        )
        try:
            async with asyncio.timeout(self.timeout):
                reply = await bus.call(notify)
        except Exception as exc:
            self._drop(bus)
            self._warnings.failed("desktop notification", exc)
            return None
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            detail = f"{reply.error_name} {reply.body[0] if reply.body else ''}".strip()
            if reply.error_name in _NO_SERVER:
                log.debug("no notification server on the session bus (%s)", detail)
            else:
                self._warnings.failed("desktop notification", detail)
            return None
        identifier = str(reply.body[0])
        self._dismissed.discard(identifier)  # showing (again)
        return identifier

    async def close(self) -> None:
        self._off = True
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()

    async def _connection(self) -> MessageBus | None:
        async with self._lock:
            if self._off:
                return None
            if self._bus is not None and self._bus.connected:
                return self._bus
            if self._address is None:
                env = os.environ if self._env is None else self._env
                uid = os.getuid() if self._uid is None else self._uid
                self._address = session_bus_address(env, uid)
                if self._address is None:
                    log.debug("no desktop session (no D-Bus session bus): notifications off")
                    self._off = True
                    return None
            from dbus_fast.aio import MessageBus

            bus = MessageBus(bus_address=self._address)
            try:
                async with asyncio.timeout(self.timeout):
                    await bus.connect()
            except Exception as exc:
                bus.disconnect()
                self._warnings.failed("connecting to the session bus", exc)
                return None
            await self._listen(bus)
            self._bus = bus
            return bus

    async def _listen(self, bus: MessageBus) -> None:
        """Hear ``NotificationClosed``; without it nothing counts as dismissed."""
        from dbus_fast import Message, MessageType

        def on_message(msg: Message) -> None:
            if (msg.message_type == MessageType.SIGNAL and msg.interface == BUS_NAME
                    and msg.member == "NotificationClosed" and len(msg.body) == 2
                    and msg.body[1] == DISMISSED_BY_USER):
                self._dismissed.add(str(msg.body[0]))

        bus.add_message_handler(on_message)
        add = Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                      interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                      body=[CLOSED_RULE])
        try:
            async with asyncio.timeout(self.timeout):
                reply = await bus.call(add)
        except Exception as exc:
            log.debug("cannot hear dismissed notifications: %s", describe(exc))
            return
        if reply is not None and reply.message_type == MessageType.ERROR:
            log.debug("cannot hear dismissed notifications: %s", reply.error_name)

    def _drop(self, bus: MessageBus) -> None:
        """Forget a connection that failed, so the next send opens a fresh one."""
        if self._bus is bus:
            self._bus = None
        with contextlib.suppress(Exception):
            bus.disconnect()

    def __repr__(self) -> str:
        return f"DBusNotifier({self.app_name!r}, active={self.active})"


def _replaces(replace_id: str | None) -> int:
    """The spec's ``replaces_id``: 0 for a new notification."""
    try:
        value = int(replace_id) if replace_id is not None else 0
    except ValueError:
        return 0
    return value if 0 < value < 2**32 else 0


class _Backend(Protocol):
    """The part of ``desktop_notifier.DesktopNotifier`` (version 6) that we use."""

    async def send_notification(self, notification: Any) -> str: ...

    async def get_capabilities(self) -> frozenset[Any]: ...

    async def get_current_notifications(self) -> list[str]: ...


def _library_backend(app_name: str) -> _Backend:
    from desktop_notifier import DesktopNotifier as Library

    return Library(app_name=app_name, app_icon=None)


def _library_notification(title: str, body: str, urgency: Urgency, identifier: str) -> Any:
    from desktop_notifier import Notification
    from desktop_notifier import Urgency as LibraryUrgency

    return Notification(title, body, urgency=LibraryUrgency(urgency), identifier=identifier)


class LibraryNotifier:
    """``Notifier`` over the desktop-notifier library (macOS, Windows).

    An update is sent with the identifier of the notification it replaces: macOS's
    notification center replaces a delivered notification of the same identifier. The
    library never raises from ``send`` (it logs and moves on), so success is checked by
    asking which notifications it holds. Without a connection it becomes a no-op, said
    once at debug. ``backend`` and ``notification`` are for tests.
    """

    def __init__(self, app_name: str = "immich-backupd", *,
                 backend: Callable[[str], _Backend] = _library_backend,
                 notification: Callable[[str, str, Urgency, str], Any] = _library_notification,
                 timeout: float = 10.0) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._make_backend = backend
        self._make_notification = notification
        self._backend: _Backend | None = None
        self._state = "new"  # new, ready, off, closed
        self._lock = asyncio.Lock()
        self._warnings = _Warnings()

    @property
    def active(self) -> bool | None:
        """True once connected, False when off or closed, None before the first send."""
        return {"new": None, "ready": True}.get(self._state, False)

    async def send(self, title: str, body: str, *, replace_id: str | None = None,
                   urgency: Urgency = "normal") -> str | None:
        backend = await self._ready()
        if backend is None:
            return None
        identifier = replace_id or str(uuid.uuid4())
        try:
            async with asyncio.timeout(self.timeout):
                await backend.send_notification(
                    self._make_notification(title, body, urgency, identifier))
                if identifier not in await backend.get_current_notifications():
                    raise RuntimeError("the notification server did not take it")
        except Exception as exc:
            self._warnings.failed("desktop notification", exc)
            return None
        return identifier

    def dismissed(self, identifier: str) -> bool:
        return False  # not tracked: an update after a dismissal shows it again

    async def close(self) -> None:
        # The library keeps its connection for the life of the process and offers no
        # way to close it; we only stop using it.
        self._state = "closed"
        self._backend = None

    async def _ready(self) -> _Backend | None:
        async with self._lock:
            if self._state == "new":
                try:
                    backend = self._make_backend(self.app_name)
                    async with asyncio.timeout(self.timeout):
                        await backend.get_capabilities()  # connects; raises if none listens
                except Exception as exc:
                    log.debug("no desktop notifications (%s): notifications off",
                              describe(exc))
                    self._state = "off"
                else:
                    self._backend, self._state = backend, "ready"
        return self._backend if self._state == "ready" else None

    def __repr__(self) -> str:
        return f"LibraryNotifier({self.app_name!r}, {self._state})"


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
