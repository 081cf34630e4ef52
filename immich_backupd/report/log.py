"""Log lines: for the systemd journal when stderr is the journal, readable otherwise.

When systemd connects stderr to the journal it sets ``JOURNAL_STREAM`` to the device and
inode of that stream. Then each line starts with ``<N>``, its syslog priority, which
journald strips and stores, so ``journalctl -p warning`` filters correctly; the journal
adds its own timestamps. Anywhere else: a timestamped, human-readable line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from ..immich.errors import as_data

# syslog priorities (sd-daemon.h)
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def syslog_priority(levelno: int) -> int:
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


def stderr_is_journal(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal stream systemd announced in JOURNAL_STREAM."""
    value = (env if env is not None else os.environ).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


class SafeFormatter(logging.Formatter):
    """Escapes control characters in the message itself (a file named with a newline,
    an ANSI escape), so one event is one line; a traceback keeps its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = as_data(record.message, limit=1 << 16)
        return super().formatMessage(record)


class JournalFormatter(SafeFormatter):
    """``<priority>message``; multi-line output (a traceback) keeps the priority on every
    line."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        text = super().format(record)
        return "\n".join(prefix + line for line in text.splitlines() or [""])


def setup_logging(level: str = "info", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if stderr_is_journal(stream):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)-7s %(message)s",
                                           datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Third-party libraries stay at warning: their debug output is not for users.
    for name in ("aiohttp", "asyncio", "aiosqlite"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
