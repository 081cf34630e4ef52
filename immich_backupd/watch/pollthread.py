"""A watcher thread that sleeps in ``poll()`` and can be woken to stop: the inotify reader
and the mount watcher each run one."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["PollThread"]


class PollThread:
    """Run ``target(stop_fd, *args)`` in a daemon thread. ``target`` polls ``stop_fd``
    beside its own descriptors and returns when it is readable, which :meth:`stop` makes
    it."""

    def __init__(self, target: Callable[..., None], *args: Any, name: str) -> None:
        self._r, self._w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=target, args=(self._r, *args), name=name,
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Wake the thread, join it (up to ``timeout``) and close the pipe."""
        with contextlib.suppress(OSError):
            os.write(self._w, b"x")
        self._thread.join(timeout=timeout)
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)
