"""What follows when an include folder's settings change after its files were backed up
(issue 18): the decisions, pure, shared by the pass (albums.py, tagging.py,
untagging.py) and a dry run (dryrun.py), which must not import the pass's frameworks.

- Albums: :func:`moved_albums`, the files on the server whose album is another now.
- Tags: :func:`added_tags`, the pairs a folder asks for now that its files backed up
  before lack; :func:`unwanted_tags`, the pairs this client set that no folder asks for
  any more; :func:`removals_due`, when a removal is sent (again).
- The settings as kept in meta, to tell when they changed.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Container, Iterable
from pathlib import Path
from typing import NamedTuple

from ..media.kinds import MediaTypes, live_photo_pairs
from ..scan.rules import AlbumRules
from .plan import LIVE_VIDEO_MAX_BYTES

ALBUM_SETTINGS_KEY = "album_settings"  # meta: the album settings the files' albums follow
TAG_SETTINGS_KEY = "tag_settings"  # meta: the tag settings the wanted pairs were made for
REMOVAL_CHECK_AFTER = 600.0  # seconds: as for a tag set (tagging.CONFIRM_AFTER)


def album_settings_text(rules: AlbumRules) -> str:
    """The album settings as kept in meta ``album_settings``."""
    return json.dumps(rules.album_settings)


def tag_settings_text(rules: AlbumRules) -> str:
    """The tag settings as kept in meta ``tag_settings``."""
    return json.dumps([[str(n.root), list(n.tags), n.folder_as_tags]
                       for n in rules.tag_settings])


class FileAlbum(NamedTuple):
    """A file the state knows, and the album it was put in (None: none)."""

    dir_id: int
    name: bytes
    path: Path
    album: str | None
    size: int
    on_server: bool


def moved_albums(files: Iterable[FileAlbum], rules: AlbumRules, media: MediaTypes
                 ) -> list[tuple[str | None, int, bytes]]:
    """(album now, folder id, name) of the files on the server whose album is another
    under ``rules`` (None: no album). A file no longer below an include folder keeps its
    own, and the video of a live photo none (its still shows it; paired as the pass
    pairs them, :func:`media.kinds.live_photo_pairs`). Pure."""
    by_dir: dict[int, list[FileAlbum]] = defaultdict(list)
    for f in files:
        by_dir[f.dir_id].append(f)
    moved = []
    for folder in by_dir.values():
        # The album depends on the folder alone: asked once, not once a file.
        if rules.root_of(folder[0].path) is None:
            continue
        belongs = rules.album_name_for(folder[0].path)
        differ = [f for f in folder if f.on_server and f.album != belongs]
        if not differ:
            continue
        names = {os.fsdecode(f.name): f for f in folder}
        kinds = {n: k for n in names if (k := media.kind_of(n))}
        hidden = {v for v in live_photo_pairs(kinds).values()
                  if names[v].size <= LIVE_VIDEO_MAX_BYTES}
        for f in differ:
            album = None if os.fsdecode(f.name) in hidden else belongs
            if album != f.album:
                moved.append((album, f.dir_id, f.name))
    return moved


class Removal(NamedTuple):
    """A tag this client set on an asset and takes off again."""

    remote_id: str
    tag: str
    removed_at: float | None  # when the removal was last sent; None: not yet


def unwanted_tags(rows: Iterable[tuple[str, str, Path]], rules: AlbumRules
                  ) -> list[tuple[str, str]]:
    """The (asset, tag) pairs of ``rows`` (asset, tag this client set, a file with that
    asset) that no include folder asks for any more: none of the asset's files below an
    include folder gets the tag from it. Pure."""
    wanted: dict[tuple[str, str], bool] = {}
    for remote_id, tag, path in rows:
        key = (remote_id, tag)
        keep = rules.root_of(path) is None or tag in rules.tags_for(path)
        wanted[key] = wanted.get(key, False) or keep
    return sorted(k for k, keep in wanted.items() if not keep)


def added_tags(files: Iterable[tuple[Path, str]], rules: AlbumRules,
               known: Container[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (asset, tag) pairs that ``files`` ((path, asset) on the server) get from their
    include folder under ``rules`` and ``known`` (the pairs the state keeps) has not:
    what changed tag settings add to files backed up before. Pure."""
    return sorted({(remote_id, tag) for path, remote_id in files
                   for tag in rules.tags_for(path) if (remote_id, tag) not in known})


def removals_due(rows: Iterable[Removal], now: float, *,
                 confirm_after: float = REMOVAL_CHECK_AFTER) -> dict[str, list[str]]:
    """Tag → the assets to send its removal for now: never sent, or sent long enough ago
    for the server's jobs to have put it back if they do. Pure."""
    due: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.removed_at is None or now - row.removed_at >= confirm_after:
            due[row.tag].append(row.remote_id)
    return {tag: sorted(assets) for tag, assets in sorted(due.items())}
