"""How a path is keyed in the state: (folder, name) as bytes.

Paths are stored as bytes (``os.fsencode``) split into folder and name, so names that
are not valid UTF-8 survive, and the scanner can fetch one folder's records with one
query instead of one per file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def split_path(path: Path | str) -> tuple[bytes, bytes]:
    """Return (folder, name) as bytes: the key of a file in the state."""
    return split_paths([path])[0]


def split_paths(paths: Iterable[Path | str]) -> list[tuple[bytes, bytes]]:
    """:func:`split_path` of many paths, encoding each folder once (a batch of records
    is mostly a few folders)."""
    dirs: dict[str, bytes] = {}
    out = []
    for path in paths:
        head, _, tail = os.fspath(path).rpartition("/")
        key = dirs.get(head)
        if key is None:
            key = dirs[head] = os.fsencode(head) or b"/"
        out.append((key, os.fsencode(tail)))
    return out


def join_path(dir_: bytes, name: bytes) -> Path:
    return Path(os.fsdecode(dir_.rstrip(b"/") + b"/" + name))

