"""The folders screen's data: the include and exclude lists as the config file writes
them, and a browser of the folders the daemon can read, with the state's counts.

``listed`` and ``browse`` read the disk and the state; ``tally`` and ``parse_folder_edit``
are pure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config.edit import FolderEdit, FolderList, ListOp, listed_folders
from ..model import ON_SERVER
from ..state import StateReader

__all__ = ["browse", "listed", "parse_folder_edit", "readable_subfolders", "tally"]


def listed(config_path: Path) -> dict[str, list[str]]:
    """``{"include": [...], "exclude": [...]}``, each entry as written in the file."""
    entries = listed_folders(config_path.read_text(encoding="utf-8-sig"))
    return {which.value: entries[which] for which in FolderList}


def parse_folder_edit(body: Any) -> FolderEdit | None:
    """The edit a ``POST /api/v1/folders`` body asks for, or None if it is not one:
    ``{"list": "include"|"exclude", "op": "add"|"remove", "entry": "<one line>"}``."""
    if not isinstance(body, dict) or set(body) != {"list", "op", "entry"}:
        return None
    entry = body["entry"]
    if not isinstance(entry, str) or not entry.strip() or "\n" in entry or "\r" in entry:
        return None
    try:
        return FolderEdit(FolderList(body["list"]), ListOp(body["op"]), entry.strip())
    except ValueError:
        return None


def readable_subfolders(path: Path) -> list[Path]:
    """The folders directly in ``path`` that the daemon may list and enter (symlinks not
    followed), sorted by name. Raise ``OSError`` if ``path`` itself cannot be listed."""
    out = []
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir and os.access(entry.path, os.R_OK | os.X_OK):
                out.append(Path(entry.path))
    return sorted(out, key=lambda p: p.name)


def tally(rows: Iterable[tuple[Path, str, int]],
          folders: Iterable[Path]) -> dict[Path, dict[str, int]]:
    """Files the state knows in and below each of ``folders``: ``total`` and ``backed_up``
    (on the server). ``rows`` are ``StateReader.counts_by_folder()``'s."""
    out = {folder: {"total": 0, "backed_up": 0} for folder in folders}
    for folder, status, n in rows:
        for place in (folder, *folder.parents):
            if place in out:
                out[place]["total"] += n
                if status in ON_SERVER:
                    out[place]["backed_up"] += n
                break
    return out


def browse(path: Path, state_dir: Path) -> dict[str, Any]:
    """What ``GET /api/v1/folders/browse`` answers for the absolute folder ``path``.
    Raise ``OSError`` if it cannot be listed."""
    subfolders = readable_subfolders(path)
    reader = StateReader(state_dir)
    try:
        rows = reader.counts_by_folder()
    finally:
        reader.close()
    counts = tally(rows, subfolders)
    return {
        "path": str(path),
        "parent": str(path.parent) if path.parent != path else None,
        "folders": [{"path": str(p), "name": p.name, **counts[p]} for p in subfolders],
    }
