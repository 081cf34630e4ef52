"""systemd's notification protocol: a datagram to ``$NOTIFY_SOCKET``.

Twenty lines do not justify a dependency, and owning them lets tests bind a real
socket and read what the daemon says. Outside systemd (no NOTIFY_SOCKET) every call is
a no-op, so the daemon runs the same under launchd, in a terminal, or in a test.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SdNotify:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = env if env is not None else os.environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self.address = address or None
        self._sock: socket.socket | None = None
        if self.address:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            except OSError as exc:
                log.warning("cannot create the systemd notification socket: %s", exc)
        self.watchdog_interval = _watchdog_interval(env)
        self._last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines; True when sent. Never raises: status is best-effort."""
        if self._sock is None or self.address is None:
            return False
        text = "\n".join(f"{k}={v}" for k, v in fields.items())
        try:
            self._sock.sendto(text.encode("utf-8", "replace"), self.address)
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str | None = None) -> None:
        fields = {"READY": "1", "MAINPID": str(os.getpid())}
        if status:
            fields["STATUS"] = status
        self.send(**fields)

    def status(self, text: str) -> None:
        if text != self._last_status:  # repeated lines cost the manager for nothing
            self._last_status = text
            self.send(STATUS=text)

    def watchdog(self) -> None:
        self.send(WATCHDOG="1")

    def reloading(self) -> None:
        usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1_000_000)
        self.send(RELOADING="1", MONOTONIC_USEC=str(usec))

    def stopping(self) -> None:
        self.send(STOPPING="1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of WATCHDOG_USEC, if it is meant for us."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000
