"""The lock under which albums are created: one per server and user on this machine.

Album names are not unique on the server, and there is no "create unless it exists":
two processes that both read the list, find an album missing and create it make two.
Two configs backing up the same folders (each with its own state directory) would do
that. They share this lock (an ``flock``, dropped by the kernel when its holder dies),
in ``$XDG_RUNTIME_DIR``, else ``~/.cache``, else the temp folder; named after the server
address and the user, so other servers and users do not wait for each other.

The lock is a courtesy, not a guarantee: if it cannot be had (a folder not writable, a
holder that does not let go within ``WAIT``), creating goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger("immich_backupd.albums")

WAIT = 60.0  # seconds to wait for another process's album creation
POLL = 0.05


def lock_dir(env: dict[str, str] | None = None) -> Path:
    """Where the lock lives: ``$XDG_RUNTIME_DIR``, else ``~/.cache``, else the temp folder."""
    env = dict(os.environ) if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "immich-backupd"
    home = env.get("HOME")
    if home and os.path.isabs(home):
        return Path(home) / ".cache" / "immich-backupd"
    return Path(tempfile.gettempdir()) / f"immich-backupd-{os.getuid()}"


def lock_path(api_url: str, user_id: str, env: dict[str, str] | None = None) -> Path:
    key = hashlib.sha256(f"{api_url.rstrip('/')}\0{user_id}".encode()).hexdigest()[:24]
    return lock_dir(env) / f"albums-{key}.lock"


@contextlib.asynccontextmanager
async def album_creation_lock(api_url: str, user_id: str, *,
                              wait: float = WAIT) -> AsyncIterator[bool]:
    """Hold the album creation lock of this server and user; yields whether it is held
    (False: it could not be had, and the caller goes on without it)."""
    fd = _open(lock_path(api_url, user_id))
    held = False
    try:
        if fd is not None:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        log.warning("another process has held the album lock for %.0f s; "
                                    "creating albums without it", wait)
                        break
                    await asyncio.sleep(POLL)
        yield held
    finally:
        if fd is not None:
            os.close(fd)  # drops the lock


def _open(path: Path) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.debug("album lock %s not available (%s); creating albums without it", path, exc)
        return None
