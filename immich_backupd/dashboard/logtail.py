"""The daemon's recent warnings, for the dashboard's "Recent warnings" screen.

``RecentWarnings`` is a logging handler kept on the ``immich_backupd`` logger while the
dashboard runs: it keeps the last ``KEEP`` records of level WARNING and above (time,
level, the message as logged, in English like the log) in memory, and calls
``on_new`` on the dashboard's loop for each, so the page hears of it at once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import NamedTuple

KEEP = 50


class LoggedWarning(NamedTuple):
    at: float  # seconds since the epoch
    level: str  # WARNING, ERROR, CRITICAL
    message: str


class RecentWarnings(logging.Handler):
    def __init__(self, loop: asyncio.AbstractEventLoop, on_new: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._items: collections.deque[LoggedWarning] = collections.deque(maxlen=KEEP)
        self._loop, self._on_new = loop, on_new

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        self._items.append(LoggedWarning(record.created, record.levelname, message))
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_new)

    def items(self) -> list[LoggedWarning]:
        """Newest first (under the handler's lock: ``emit`` may run in another thread)."""
        with self.lock:  # type: ignore[union-attr]  # Handler.createLock made it
            return list(reversed(self._items))
