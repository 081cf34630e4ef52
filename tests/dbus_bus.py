"""A private D-Bus for tests: ``dbus-daemon --session`` on a socket in a temporary folder,
standing in for the system bus (NetworkManager) or the session bus (notifications)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
