"""A recorded notification server: org.freedesktop.Notifications on a private session bus.

It behaves as the spec says a desktop's does (a ``replaces_id`` of a notification still
showing updates it in place and returns the same id; else a new id) and records every call.
In a test's event loop (``NotificationServer``), or as a process for a daemon under test:

    python -m tests.notification_server BUS_ADDRESS RECORD_FILE

which appends one JSON line per call to RECORD_FILE ({"call": "Notify", "replaces_id": 0,
"id": 1, "summary": ..., "body": ..., "urgency": 1}) and writes "ready" on stdout once it
owns the name.

No ``from __future__ import annotations``: dbus-fast reads the D-Bus signatures from the
annotations at runtime.
"""

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method, signal

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class NotificationServer(ServiceInterface):
    """org.freedesktop.Notifications as a desktop provides it, recording what it is told.

    ``calls`` holds every Notify and CloseNotification; ``shown`` what is showing now
    (id -> summary, body, urgency). The string annotations are D-Bus signatures.
    """

    def __init__(self, on_call: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(NAME)
        self.calls: list[dict[str, Any]] = []
        self.shown: dict[int, tuple[str, str, int]] = {}
        self.next_id = 0
        self.on_call = on_call

    def _record(self, call: dict[str, Any]) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)

    @property
    def notifies(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["call"] == "Notify"]

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s",  # noqa: F821
               body: "s", actions: "as", hints: "a{sv}", timeout: "i") -> "u":  # noqa: F821, F722
        if replaces_id in self.shown:
            nid = replaces_id
        else:
            self.next_id += 1
            nid = self.next_id
        urgency = hints["urgency"].value if "urgency" in hints else None
        self.shown[nid] = (summary, body, urgency)
        self._record({"call": "Notify", "app_name": app_name, "replaces_id": replaces_id,
                      "id": nid, "summary": summary, "body": body, "urgency": urgency})
        return nid

    def dismiss(self, nid: int) -> None:
        """The user closes notification ``nid`` (reason 2 of NotificationClosed)."""
        self.shown.pop(nid, None)
        self._record({"call": "dismissed", "id": nid})
        self.NotificationClosed(nid, 2)

    @method()
    def CloseNotification(self, nid: "u") -> None:  # noqa: F821
        self.shown.pop(nid, None)
        self._record({"call": "CloseNotification", "id": nid})
        self.NotificationClosed(nid, 3)

    @method()
    def GetCapabilities(self) -> "as":  # noqa: F722
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: F821
        return ["recorded", "tests", "1.0", "1.2"]

    @signal()
    def NotificationClosed(self, nid: "u", reason: "u") -> "uu":  # noqa: F821
        return [nid, reason]

    @signal()
    def ActionInvoked(self, nid: "u", action: "s") -> "us":  # noqa: F821
        return [nid, action]


async def serve(address: str, server: NotificationServer) -> MessageBus:
    """Export ``server`` on the bus at ``address`` and own the name; return the connection."""
    bus = await MessageBus(bus_address=address).connect()
    bus.export(PATH, server)
    await bus.request_name(NAME)
    return bus


async def _main(address: str, record: str) -> None:
    with open(record, "a", encoding="utf-8") as out:
        def write(call: dict[str, Any]) -> None:
            out.write(json.dumps(call) + "\n")
            out.flush()

        bus = await serve(address, NotificationServer(write))
        print("ready", flush=True)
        await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
