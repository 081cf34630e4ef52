"""The kernel's inotify, through its documented system calls only (``inotify(7)``).

A dozen lines of ctypes around ``inotify_init1``, ``inotify_add_watch`` and
``inotify_rm_watch`` from the C library, and a parser for what ``read(2)`` returns. No
third-party code: what the watcher does on Linux no longer depends on which release of a
file-watching library is installed (watchdog 7.1.1 changed an internal the old observer
leaned on, and every event was silently dropped).

The parser is pure (bytes in, records out) and tested without a kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from typing import NamedTuple

__all__ = [
    "IN_ACCESS", "IN_ATTRIB", "IN_CLOSE_NOWRITE", "IN_CLOSE_WRITE", "IN_CREATE", "IN_DELETE",
    "IN_DELETE_SELF", "IN_DONT_FOLLOW", "IN_IGNORED", "IN_ISDIR", "IN_MODIFY", "IN_MOVED_FROM",
    "IN_MOVED_TO", "IN_MOVE_SELF", "IN_ONLYDIR", "IN_OPEN", "IN_Q_OVERFLOW", "IN_UNMOUNT",
    "Inotify", "RawEvent", "available", "parse_events",
]

# <sys/inotify.h>
IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len  (struct inotify_event)
READ_SIZE = 64 * 1024
"""Bytes asked of one ``read``: room for ~1,000 events with typical names."""


class RawEvent(NamedTuple):
    """One ``struct inotify_event``: ``name`` is the entry's name in the watched folder
    (bytes, without the kernel's NUL padding), empty for events about the folder itself."""

    wd: int
    mask: int
    cookie: int
    name: bytes


def parse_events(buf: bytes) -> list[RawEvent]:
    """Split what one ``read`` of an inotify descriptor returned into events.

    The kernel only ever returns whole events; a truncated tail (which it never sends)
    is ignored rather than misread.
    """
    events: list[RawEvent] = []
    pos, end, size = 0, len(buf), _HEADER.size
    while pos + size <= end:
        wd, mask, cookie, length = _HEADER.unpack_from(buf, pos)
        pos += size
        if pos + length > end:
            break
        name = buf[pos : pos + length].rstrip(b"\0")
        pos += length
        events.append(RawEvent(wd, mask, cookie, name))
    return events


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if not all(hasattr(lib, f) for f in ("inotify_init1", "inotify_add_watch", "inotify_rm_watch")):
        return None
    lib.inotify_init1.argtypes = [ctypes.c_int]
    lib.inotify_init1.restype = ctypes.c_int
    lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    lib.inotify_add_watch.restype = ctypes.c_int
    lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.inotify_rm_watch.restype = ctypes.c_int
    return lib


_LIBC = _libc()


def available() -> bool:
    """Return True where the C library offers inotify (Linux)."""
    return _LIBC is not None


def _error(path: bytes | None = None) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), os.fsdecode(path) if path is not None else None)


class Inotify:
    """One inotify instance: a non-blocking, close-on-exec descriptor (``fileno()``).

    Raise OSError when it cannot be created (EMFILE: ``fs.inotify.max_user_instances``
    is used up; ENOSYS where there is no inotify). Not thread-safe by itself: the
    watcher calls it from its one reader thread, or under its lock.
    """

    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        fd = _LIBC.inotify_init1(IN_CLOEXEC | IN_NONBLOCK)
        if fd < 0:
            raise _error()
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def add_watch(self, path: str | bytes, mask: int) -> int:
        """Watch ``path`` for the events in ``mask``; return its watch descriptor (the
        same one again for a path already watched: the kernel keys watches by inode).
        Raise OSError: ENOSPC when ``fs.inotify.max_user_watches`` is used up, ENOENT,
        ENOTDIR (with IN_ONLYDIR), EACCES."""
        raw = os.fsencode(path)
        assert _LIBC is not None
        wd = _LIBC.inotify_add_watch(self._fd, raw, mask)
        if wd < 0:
            raise _error(raw)
        return wd

    def rm_watch(self, wd: int) -> None:
        """Remove a watch. A watch the kernel already dropped (its folder deleted or
        unmounted: EINVAL) is not an error."""
        assert _LIBC is not None
        if _LIBC.inotify_rm_watch(self._fd, wd) < 0:
            err = _error()
            if err.errno != errno.EINVAL:
                raise err

    def read(self) -> list[RawEvent]:
        """Return the events queued now; an empty list when there are none."""
        try:
            buf = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return []
        return parse_events(buf)

    def close(self) -> None:
        """Close the descriptor, which drops every watch. Idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
