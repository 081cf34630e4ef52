"""Cloud placeholders: files a sync client shows whose photo is not on this disk.

Which ones exist, as the clients themselves make them:

- **macOS** iCloud Drive and File Provider clients: "dataless" files (``SF_DATALESS`` in
  ``st_flags``); **Windows** cloud files (recall/offline attributes). Reading one makes
  the client download it. (Read by :func:`immich_backupd.scan.changes.is_placeholder`.)
- **Nextcloud / ownCloud desktop on Linux, virtual files "suffix" mode**: ``IMG_1.jpg``
  is shown as ``IMG_1.jpg.nextcloud`` (``.owncloud``), a file of one byte (a space)
  with the photo's mtime. The photo is nowhere on the disk and reading the stub gives
  that byte: only the client brings it ("make available offline").
- **Nextcloud desktop on Linux, virtual files "xattr" mode** (experimental): the file
  keeps its name, holds one byte (a space) and carries the extended attribute
  ``user.nextcloud.hydrate_exec`` (the client's executable). Reading gives the byte.
- **onedriver** (OneDrive as a FUSE filesystem, type ``fuse.onedriver``): each file is
  fetched when it is opened, and every file reports 0 blocks, cached or not. A file
  there with a size and no blocks counts as a placeholder; reading it downloads it.

What is *not* a placeholder, decided per filesystem type: a file with ``st_blocks == 0``
on a local filesystem (ext4, xfs, btrfs, tmpfs, ...) is sparse or stored inline, and its
bytes (zeros) are real; on NFS or SMB the blocks are the server's, and a sparse file
there is real too. ``rclone mount`` reports blocks computed from the size, so a file
it has not fetched yet looks like any other: it is read (downloaded) like any file.
The Dropbox and abraunegg ``onedrive`` clients for Linux keep no online-only files
(everything they sync is on the disk).

Placeholders that reading would download are read (with progress) when
``ignore_cloud_placeholders`` is false; the Nextcloud ones never are (reading them gives
one byte, not the photo). Skipped ones are listed in the state (``META_KEY``) for
``status``, ``failed`` and ``once``. Pure: no I/O here; :mod:`immich_backupd.scan.walk`
reads the stat, the filesystem type and, for one-byte files only, the xattrs.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from pathlib import Path

from ..i18n import _, ngettext

__all__ = ["HYDRATE_XATTR", "META_KEY", "ON_DEMAND_TYPES", "SUFFIXES", "PlaceholderKind",
           "advice", "detect", "downloads_on_read", "dumps", "headline", "loads", "merge",
           "reason", "skipped", "suffix_target", "suspect"]

META_KEY = "cloud_placeholders"
SUFFIXES = (".nextcloud", ".owncloud")
"""The suffix virtual-file names of the Nextcloud and ownCloud desktop clients."""
HYDRATE_XATTR = "user.nextcloud.hydrate_exec"
STUB_SIZE = 1
"""Both Nextcloud modes write one space into the placeholder."""
ON_DEMAND_TYPES = frozenset({"fuse.onedriver"})
"""FUSE filesystems that fetch a file when it is opened and report no blocks for it."""


class PlaceholderKind(StrEnum):
    DATALESS = "dataless"  # macOS dataless / Windows cloud file: reading downloads it
    NEXTCLOUD_SUFFIX = "nextcloud-suffix"  # IMG.jpg.nextcloud: the photo is not here
    NEXTCLOUD_XATTR = "nextcloud-xattr"  # IMG.jpg of one byte + user.nextcloud.hydrate_exec
    ON_DEMAND_FS = "on-demand-fs"  # onedriver: fetched when opened


_DOWNLOADS = frozenset({PlaceholderKind.DATALESS, PlaceholderKind.ON_DEMAND_FS})


def suffix_target(name: str) -> str | None:
    """The name of the file ``name`` stands for when it is a suffix virtual file
    (``IMG.jpg.nextcloud`` -> ``IMG.jpg``), else None. Case as the clients write it."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def suspect(size: int, blocks: int) -> bool:
    """Whether a candidate's stat is worth a closer look (the filesystem type, and the
    xattrs when it has one byte): a one-byte file, or one with bytes and no blocks.
    Two comparisons: the walk asks this of every new or changed file."""
    return size == STUB_SIZE or (blocks == 0 and size > 0)


def detect(*, size: int, blocks: int, fs_type: str | None, xattrs: Collection[str] = (),
           dataless: bool = False, suffix: bool = False) -> PlaceholderKind | None:
    """What kind of placeholder a file is, or None when its bytes are on this disk.

    ``fs_type`` is the filesystem type of its device (``/proc/self/mountinfo``; None
    when unknown); ``xattrs`` the names of its extended attributes (read only for
    one-byte files); ``dataless`` the platform's own flag (macOS, Windows); ``suffix``
    that its name ends with one of :data:`SUFFIXES` (the name of a media file before).
    """
    if dataless:
        return PlaceholderKind.DATALESS
    if suffix:
        return PlaceholderKind.NEXTCLOUD_SUFFIX if size == STUB_SIZE else None
    if size == STUB_SIZE and HYDRATE_XATTR in xattrs:
        return PlaceholderKind.NEXTCLOUD_XATTR
    if size > 0 and blocks == 0 and fs_type in ON_DEMAND_TYPES:
        return PlaceholderKind.ON_DEMAND_FS
    return None


def downloads_on_read(kind: PlaceholderKind) -> bool:
    """Reading the file makes its client download it (so it can be backed up)."""
    return kind in _DOWNLOADS


def skipped(kind: PlaceholderKind, *, ignore: bool) -> bool:
    """Whether a pass leaves it out: always when reading cannot bring the photo, else
    as ``ignore_cloud_placeholders`` says."""
    return ignore or not downloads_on_read(kind)


# --- the list kept in the state -------------------------------------------------------

def merge(old: Mapping[str, str], found: Mapping[str, str], *,
          folders: Iterable[Path] | None = None,
          trees: Iterable[Path] | None = None) -> dict[str, str]:
    """The placeholders after a pass: what it found, plus the old ones it did not look
    at. ``folders`` (their files only) and ``trees`` (everything below) say where it
    looked; both None: a full pass, which looked everywhere. Sorted by path."""
    out = dict(found)
    if folders is not None or trees is not None:
        looked = {str(f) for f in folders or ()}
        below = [Path(t) for t in trees or ()]
        for path, kind in old.items():
            p = Path(path)
            if str(p.parent) in looked or any(t == p or t in p.parents for t in below):
                continue
            out.setdefault(path, kind)
    return {k: out[k] for k in sorted(out)}


def dumps(found: Mapping[str, str]) -> str:
    return json.dumps(dict(found), separators=(",", ":"))


def loads(text: str | None) -> dict[str, str]:
    """The placeholders stored by :func:`dumps` (path -> kind); {} for nothing or
    anything unreadable."""
    try:
        items = json.loads(text) if text else {}
        return {str(p): str(PlaceholderKind(k)) for p, k in items.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


# --- for people ------------------------------------------------------------------------

def headline(n: int, shown: str | None = None) -> str:
    """``⏸ 2 files are only in the cloud (not on this disk)``; ``shown`` is ``n`` as
    displayed (the language's thousands separator)."""
    return "⏸ " + ngettext("{n} file is only in the cloud (not on this disk)",
                           "{n} files are only in the cloud (not on this disk)",
                           n).format(n=shown or str(n))


def reason(kind: str) -> str:
    """Why one placeholder was not backed up, and what brings it."""
    if kind in (PlaceholderKind.NEXTCLOUD_SUFFIX, PlaceholderKind.NEXTCLOUD_XATTR):
        return _("a Nextcloud virtual file: make it available offline in the Nextcloud "
                 "client")
    if kind == PlaceholderKind.ON_DEMAND_FS:
        return _("on a filesystem that downloads it when opened")
    return _("only in the cloud: opening it downloads it")


def advice(kinds: Iterable[str]) -> str:
    """What to do about the placeholders of these kinds, in one sentence."""
    kinds = set(kinds)
    if kinds and all(k not in _DOWNLOADS for k in kinds):
        return _("They are not backed up: make them available offline in the sync client "
                 "(the photos are not on this disk).")
    return _("They are not backed up: make them available offline in the sync client, "
             "or set `ignore_cloud_placeholders: false` to download them while backing up.")
