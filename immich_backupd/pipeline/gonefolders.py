"""Folders whose files are all gone: their records are forgotten too.

The scan finds a deleted file by its folder's listing: a record whose name the folder no
longer lists. A folder that lists nothing (every photo deleted or moved away) or is not
there any more (deleted, renamed) gives no listing, so its records would stay for ever:
counted as backed up, or as failed (and never ✓). This module decides which of those
folders to forget, conservatively, in the scanning thread:

- an **empty** folder (no entry at all) is never taken as proof of deletion: it may be
  the mount point of a disk that is not there (the rule the scan applies to include
  folders, applied to every folder);
- a folder **not there** counts only when its nearest ancestor that is there is not
  empty (an unplugged disk mounted inside an include folder leaves an empty mount point
  above its folders); an ancestor that cannot be read keeps it;
- the records are only *candidates*: the pass forgets a record at its end only if its
  file is still not there (``BackupPass``), so a file that is there is never forgotten.

The server keeps its copies: this is a backup, not a sync.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from ..state import DirKnown

__all__ = ["folder_gone", "is_empty", "record_paths"]


def is_empty(folder: str) -> bool:
    """True if ``folder`` is a folder with no entry at all; False if it has one or
    cannot be read (an unreadable folder is no proof of anything)."""
    try:
        with os.scandir(folder) as it:
            return next(it, None) is None
    except OSError:
        return False


def folder_gone(folder: str, root: str) -> bool:
    """True if ``folder`` (below the include folder ``root``) is not there and its
    nearest ancestor that is there, up to ``root``, is a folder that is not empty."""
    try:
        os.lstat(folder)
        return False  # there (excluded, unreadable, reached only through a link): kept
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.ENOTDIR):
            return False  # e.g. a parent that cannot be entered: no proof
    here = os.path.dirname(folder)
    while len(here) >= len(root):
        try:
            os.lstat(here)
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.ENOTDIR):
                return False
            here = os.path.dirname(here)
            continue
        return os.path.isdir(here) and not is_empty(here)
    return False


def record_paths(folder: str, known: DirKnown) -> list[Path]:
    """The paths of every record of ``folder``, from what the scan read of it."""
    base = Path(folder)
    names: Iterable[str] = [*known.on_server, *known.others]
    return [base / name for name in names]
