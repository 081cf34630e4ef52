"""The pause (from the dashboard or its API), kept across a restart of the daemon.

``state_dir/paused`` exists while backups are paused and holds when that began (seconds
since the epoch). The daemon reads it at start and starts no pass while it is there;
``status`` shows it (``paused_since``). ``once`` is an explicit command and runs anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

PAUSED_NAME = "paused"

log = logging.getLogger("immich_backupd.state")


def paused_since(state_dir: Path) -> float | None:
    """When backups were paused, or None when they are not. A file without a readable
    time still means paused (its age stands in)."""
    path = state_dir / PAUSED_NAME
    try:
        text = path.read_text()
        mtime = path.stat().st_mtime
    except OSError:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return mtime


def save_paused(state_dir: Path, paused: bool, now: float) -> bool:
    """Keep the pause (``paused``: since ``now``) or its end; False, logged, when the
    state folder cannot be written (the pause then holds until the daemon stops)."""
    path = state_dir / PAUSED_NAME
    try:
        if paused:
            tmp = path.with_name(f".{PAUSED_NAME}.{os.getpid()}")
            tmp.write_text(f"{now:.3f}\n")
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    except OSError as exc:
        log.warning("cannot keep the pause in %s (%s): it lasts until the daemon stops",
                    path, exc.strerror or exc)
        return False
    return True
