"""Which watcher events are worth reporting, and what polling needs to look at.

Shared by every backend: the rules decide (exclusions win, ignored folders and names,
files the server would not take), the backends only deliver.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from immich_backupd.media.kinds import MediaTypes, is_ignored_dir, is_ignored_name
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.watch.limits import prune_dir

__all__ = ["accept", "scandir_pruned"]


def accept(rules: AlbumRules, media: MediaTypes | None, path: str, is_dir: bool) -> bool:
    """Return True if an event for ``path`` is worth reporting (cheapest tests first):
    below an include root, not in an ignored folder, not excluded, and (for files) a name
    that is not ignored, nor, with ``media``, one the server would refuse."""
    name = os.path.basename(path)
    if is_dir:
        if is_ignored_dir(name):
            return False
    elif media is not None:
        if media.candidate(name) is None:
            return False
    elif is_ignored_name(name):
        return False
    root = rules.root_of(path)
    if root is None:
        return False
    root_s = str(root)
    if len(path) > len(root_s):
        prefix = root_s if root_s.endswith("/") else root_s + "/"
        if any(is_ignored_dir(p) for p in path[len(prefix) :].split("/")[:-1]):
            return False
    return not rules.is_excluded(path, is_dir=is_dir)


def scandir_pruned(rules: AlbumRules, media: MediaTypes | None,
                   path: str | None) -> Iterator[os.DirEntry[str]]:
    """``os.scandir`` for the polling snapshot, minus what :func:`accept` would drop
    anyway, so polling never stats or descends into ignored or excluded entries."""
    with os.scandir(path) as it:
        entries = list(it)
    kept = []
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            if prune_dir(rules, entry.path, name):
                continue
        else:
            unwanted = media.candidate(name) is None if media is not None else is_ignored_name(name)
            if unwanted or rules.is_excluded_entry(entry.path, name, False):
                continue
        kept.append(entry)
    return iter(kept)
