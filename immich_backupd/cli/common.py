"""What every command shares: writing to the user, paths as they read, local errors.

Errors go to stderr as ``immich-backupd: <what happened>: <what to do>``, one line each,
never a traceback for something expected. ``--json`` output is the only thing on stdout.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from ..errors import ExitCode
from ..i18n import _
from ..scan.folder_problems import os_error_reason, os_reason
from ..state import DB_NAME
from ..state.room import Room, state_room

PROG = "immich-backupd"

# The state folder cannot be written (a full disk, a read-only one, no permission):
# EX_IOERR (74), as the engine says for the same trouble in a pass (``StateError``).
IOERR: ExitCode = getattr(ExitCode, "IOERR", ExitCode.QUOTA)


def err(message: str, stream: TextIO | None = None) -> None:
    """One or more lines to stderr, each prefixed ``immich-backupd:``."""
    stream = stream or sys.stderr
    for line in message.splitlines() or [""]:
        print(f"{PROG}: {line}", file=stream)


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def term_width(default: int = 100) -> int:
    return shutil.get_terminal_size((default, 24)).columns


def show_path(path: Path | str, home: str | None = None) -> str:
    """``~/Pictures`` for a path in the home folder; others as they are."""
    text = str(path)
    home = home if home is not None else os.environ.get("HOME", "")
    if home and home != "/" and (text == home or text.startswith(home.rstrip("/") + "/")):
        return "~" + text[len(home.rstrip("/")):]
    return text


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis in the middle (paths)."""
    if width <= 1 or len(text) <= width:
        return text
    keep = width - 1
    head = keep // 3
    return text[:head] + "…" + text[len(text) - (keep - head):]


def local_error(exc: OSError | sqlite3.Error, state_dir: Path | None) -> tuple[str, ExitCode]:
    """One line (with what to do) and the exit code for a local file that failed us.

    Reaches the top only from the state folder or the lock (the engine handles a photo
    it cannot read, file by file), so the message names the state folder.
    """
    where = str(state_dir) if state_dir is not None else _("the state folder")
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        filename = str(state_dir / DB_NAME) if state_dir is not None else DB_NAME
        if "full" in text:
            code = errno.ENOSPC
        elif "readonly" in text or "read-only" in text:
            code = errno.EROFS
        else:
            code = errno.EACCES if "unable to open" in text else 0
            # SQLite says "unable to open" (or less) for a read-only or a full disk too:
            # ask the folder, so that the advice fits (not chown for a read-only disk).
            room = state_room(state_dir) if state_dir is not None else None
            if room is Room.READ_ONLY:
                code = errno.EROFS
            elif room is Room.FULL:
                code = errno.ENOSPC
        reason = (os_reason(errno.errorcode[code]).render(True) if code
                  else _("the database cannot be used"))
    else:
        filename = exc.filename or where
        code = exc.errno or 0
        reason = os_error_reason(exc).render(True)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (_("no space left for the state folder {dir} (writing {file}): free some "
                  "space on that disk, or move state_dir to another one, then run again")
                .format(dir=where, file=filename), IOERR)
    if code == errno.EROFS:
        return (_("the state folder {dir} is on a read-only disk (writing {file}): set "
                  "state_dir in the config to a writable folder").format(dir=where,
                                                                        file=filename),
                IOERR)
    if code in (errno.EACCES, errno.EPERM):
        return (_("cannot write the state folder {dir} ({file}: {reason}): make it yours "
                  "(chown/chmod), or set state_dir in the config to a folder you own")
                .format(dir=where, file=filename, reason=reason), IOERR)
    return (_("cannot use the state folder {dir} ({file}: {reason})").format(
        dir=where, file=filename, reason=reason), IOERR)
