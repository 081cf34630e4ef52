"""One backup run at a time per state directory.

An OS file lock (``flock``), not a pid file: the kernel drops it when the holder dies,
even by ``kill -9``, so a crash never leaves a stale lock behind. The holder writes its
pid into the file so that a second runner can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from ..errors import LockHeldError

LOCK_NAME = "lock"  # held for the length of a pass (daemon or once)
DAEMON_LOCK_NAME = "daemon.lock"  # held for the life of a daemon: one daemon per state dir


def read_holder(state_dir: Path, name: str = LOCK_NAME) -> int | None:
    """The pid written by the current holder, if any can be read."""
    try:
        text = (state_dir / name).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_locked(state_dir: Path, name: str = LOCK_NAME) -> bool:
    """True when another process holds the lock now (a probe, not an acquisition)."""
    path = state_dir / name
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class RunLock:
    """``with RunLock(state_dir):`` — raise LockHeldError if another run holds it."""

    def __init__(self, state_dir: Path, name: str = LOCK_NAME, what: str = "backup run") -> None:
        self.state_dir = state_dir
        self.name = name
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.state_dir / self.name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.state_dir, self.name)
            who = f"pid {holder}" if holder else "another process"
            raise LockHeldError(
                f"another {self.what} ({who}) holds the lock on {self.state_dir}; "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
