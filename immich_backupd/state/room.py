"""Whether the state folder can be written now, asked of its file system without
writing (``status`` reads only): on a read-only disk, a full disk, or, for its owner,
without write permission.

A pass that cannot write the state stops (exit 74) before it can record why, so
``status`` asks the folder itself instead of the state.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from .schema import DB_NAME

# Less than this free on the state's disk is full for a pass: a commit of a batch of
# outcomes, its journal and the next checkpoint take more.
FULL_BELOW = 512 * 1024


class Room(StrEnum):
    """Why the state folder cannot be written (``status --json``: ``last_stop.detail``)."""

    READ_ONLY = "read-only"
    FULL = "full"
    NOT_WRITABLE = "not-writable"


def state_room(state_dir: Path) -> Room | None:
    """Why ``state_dir`` cannot be written now, or None (it can, or it does not exist:
    nothing to say before a first backup). Permissions are judged only for the folder's
    owner: another user (an admin reading a service's state) is not the one who writes."""
    try:
        vfs = os.statvfs(state_dir)
        st = os.stat(state_dir)
    except OSError:
        return None
    if vfs.f_flag & os.ST_RDONLY:
        return Room.READ_ONLY
    free = vfs.f_bfree if os.geteuid() == 0 else vfs.f_bavail  # root has the reserve
    if free * vfs.f_frsize < FULL_BELOW:
        return Room.FULL
    if st.st_uid == os.geteuid() and os.geteuid() != 0:
        db = state_dir / DB_NAME
        if not os.access(state_dir, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            return Room.NOT_WRITABLE
    return None
