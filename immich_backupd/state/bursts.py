"""What the state keeps for the one-time read of Apple burst ids (pipeline/burstread.py).

``files.burst`` (schema 7): NULL not read, '' read and none, else the id. A photo backed
up while ``backup.stacks.bursts`` was off (or by an earlier release) has NULL; with
bursts on, the pass reads those rows once, in key order, a chunk at a time. Where it got
to is kept in meta :data:`CATCHUP_KEY`: absent (not started, or bursts were off in a
pass since, which records photos unread again), a JSON cursor ``[folder id, name hex]``
(part done: the next pass goes on from there), or :data:`DONE` (nothing to look for: an
unchanged rescan then makes no query for it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..model import ON_SERVER

CATCHUP_KEY = "bursts_read"
DONE = "done"


def _unread(extensions: Iterable[str]) -> str:
    """FROM and WHERE of the rows never read (args: after folder id, after name,
    ON_SERVER). ``name`` is a BLOB, which LIKE never matches: cast to text."""
    names = " OR ".join(f"CAST(f.name AS TEXT) LIKE '%{ext}'" for ext in sorted(extensions)
                        if ext.isascii() and ext.replace(".", "").isalnum())
    return ("FROM files f WHERE (f.dir, f.name) > (?, ?) AND f.burst IS NULL "
            f"AND +f.status IN ({', '.join('?' * len(ON_SERVER))}) "
            f"AND f.remote_id IS NOT NULL AND ({names or '0'})")


def unread_query(extensions: Iterable[str]) -> str:
    """The next rows to read (args: after folder id, after name, ON_SERVER, limit):
    (folder id, folder path, name, size, mtime_ns, ino) of files on the server whose
    burst id was never read and whose name ends in one of ``extensions`` (".jpg", any
    case), in key order after the cursor. A range of the primary key a call (the status
    filtered, ``+``: not looked up by its index), so reading them all scans the table
    once; the folder's path only for the rows returned."""
    return ("SELECT f.dir, (SELECT path FROM dirs WHERE id = f.dir), f.name, f.size, "
            f"f.mtime_ns, f.ino {_unread(extensions)} ORDER BY f.dir, f.name LIMIT ?")


def unread_count_query(extensions: Iterable[str]) -> str:
    """How many rows :func:`unread_query` has left after the cursor (args: after folder
    id, after name, ON_SERVER): for a dry run."""
    return f"SELECT count(*) {_unread(extensions)}"


def cursor_of(mark: str | None) -> tuple[int, bytes] | None:
    """The key after which the catch-up goes on, from the meta's value (None: from the
    start; also for a value that is not a cursor, "done" included)."""
    try:
        dir_id, name = json.loads(mark or "null") or (None, None)
        return (int(dir_id), bytes.fromhex(name)) if name is not None else None
    except (ValueError, TypeError):
        return None  # not ours to trust: start over (reading twice costs time, not data)


def cursor_text(after: tuple[int, bytes]) -> str:
    """The meta's value for the cursor ``after``."""
    return json.dumps([after[0], after[1].hex()])


SET_READ = ("UPDATE files SET burst=? WHERE dir=? AND name=? AND burst IS NULL AND size=? "
            "AND mtime_ns=? AND ino=?")
"""(burst, folder id, name, size, mtime_ns, ino): keep an id read from a file, unless
its record changed meanwhile (hashed again: that hash read its id)."""
