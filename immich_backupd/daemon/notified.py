"""What the desktop was told, kept in the state folder across restarts (``notified.json``),
and the state's counts the notifications quote. The decisions are ``report.notify_policy``'s;
this is their file I/O, best-effort: a notification never fails a backup.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..report.notify_policy import Memory, Totals, forget_missing
from ..state import StateReader

__all__ = ["NOTIFIED_NAME", "load", "save", "totals"]

log = logging.getLogger("immich_backupd.notify")

NOTIFIED_NAME = "notified.json"


def load(state_dir: Path) -> Memory:
    """What was told before, without the failures the state no longer has.

    Without the file (a first start, or a release before it existed) a state that was
    backed up before counts as past its first backup, and the failures it holds as told:
    an upgrade announces nothing old. The result is saved, so that the next start knows.
    """
    path = state_dir / NOTIFIED_NAME
    try:
        memory: Memory | None = Memory.from_json(json.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        memory = None
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("cannot read %s (%s): starting from nothing told", path, exc)
        memory = Memory()
    try:
        reader = StateReader(state_dir)
    except Exception as exc:
        log.debug("cannot read the state for notifications: %s", exc)
        return memory or Memory()
    try:
        failing = [str(r.path) for r in reader.failed()]
        if memory is None:
            memory = Memory(failed=frozenset(failing),
                            first_backup_done=reader.meta("last_backup_at") is not None)
            save(state_dir, memory)
            return memory
        pruned = forget_missing(memory, failing)
    except Exception as exc:
        log.debug("cannot read the state for notifications: %s", exc)
        return memory or Memory()
    finally:
        reader.close()
    if pruned != memory:
        save(state_dir, pruned)
    return pruned


def save(state_dir: Path, memory: Memory) -> None:
    """Write ``memory`` (atomically, private to the user). Raises OSError."""
    path = state_dir / NOTIFIED_NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(memory.to_json(), f)
    os.replace(tmp, path)


def totals(state_dir: Path) -> Totals | None:
    """The state's counts (what ``status`` shows), or None when there is no state."""
    reader = StateReader(state_dir)
    try:
        if not reader.exists:
            return None
        s = reader.summary()
    finally:
        reader.close()
    return Totals(backed_up=s["backed_up"], total=s["total"], failed=s["failed"])
