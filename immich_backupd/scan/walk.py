"""The file-system walk: list the candidate media files under the include folders.

I/O at the edge, but synchronous and free of asyncio: the daemon runs it in a thread and
consumes the listings one folder at a time. It is built for a million files: one
``scandir`` per folder and one ``stat`` per candidate file (none for names that cannot
be media), a stack instead of recursion (deep trees), and a generator that yields each
folder as soon as it is read, so memory stays flat however big the tree. Deciding what
changed is :mod:`.changes`; what counts as media is :mod:`immich_backupd.media.kinds`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat as stat_mod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from immich_backupd.media.kinds import (
    Kind,
    MediaTypes,
    is_ignored_dir,
    live_photo_pairs,
    match_sidecars,
)
from immich_backupd.media.placeholders import (
    STUB_SIZE,
    SUFFIXES,
    PlaceholderKind,
    detect,
    downloads_on_read,
    suffix_target,
    suspect,
)
from immich_backupd.scan.changes import FileStat, differs
from immich_backupd.scan.mounts import LocalDisks
from immich_backupd.scan.rules import AlbumRules

__all__ = ["DirListing", "ErrorHandler", "FileStat", "walk", "walk_targets"]

log = logging.getLogger("immich_backupd.scan")

ErrorHandler = Callable[[Path, OSError], None]
# Given a folder, the (size, mtime_ns, ino) of its files that need nothing as long as
# their stat stays exactly that (from the state): the walk lists them as ``unchanged``.
KnownFn = Callable[[str], Mapping[str, tuple[int, int, int]]]


@dataclass(slots=True)
class DirListing:
    """The candidates of one folder.

    ``files`` are the image and video files (sorted by name); ``kinds`` maps each of
    their names to ``"image"`` or ``"video"``; ``sidecars`` maps a media name to the
    ``.xmp`` beside it. ``root`` is the include folder the folder belongs to (the
    deepest one when includes are nested). ``unchanged`` names the files whose stat
    matched the caller's ``known`` one exactly: they are in ``kinds`` but not in
    ``files`` (no :class:`FileStat` is built for them: most of a rescan). A live photo
    is listed whole: when one half is in ``files``, so is the other, even unchanged
    (from the walk's own stat: it is planned as done, and links the pair); such
    unchanged halves are named in ``partners`` too.
    ``placeholders`` maps the names of cloud placeholders (see
    :mod:`immich_backupd.media.placeholders`) to their kind: those that reading downloads are
    also in ``files`` (marked ``is_placeholder``), the others (Nextcloud's) nowhere else.
    ``pairs`` maps the still of each live photo (``media.kinds.live_photo_pairs`` of
    ``kinds``) to its video; found once, and only for a folder with ``files`` (the
    plan's and the settle queue's): empty for a folder where nothing changed.
    """

    path: Path
    root: Path
    files: list[FileStat]
    sidecars: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    placeholders: dict[str, PlaceholderKind] = field(default_factory=dict)
    pairs: dict[str, str] = field(default_factory=dict)
    partners: list[str] = field(default_factory=list)


def _log_error(path: Path, err: OSError) -> None:
    log.warning("cannot read %s: %s", path, err)


def walk(
    rules: AlbumRules,
    media: MediaTypes,
    *,
    follow_symlinks: bool = False,
    on_error: ErrorHandler | None = None,
    known: KnownFn | None = None,
) -> Iterator[DirListing]:
    """Yield a :class:`DirListing` for every folder under the include roots with candidates.

    Skipped: folders and files that are excluded, ignored folders (hidden, ``@eaDir``,
    recycle bins, ...) and names (hidden, partial downloads, ...), extensions the server
    does not take, and anything that is not a regular file (FIFOs, sockets, devices).
    A nested include folder is walked once, as its own root. Symlinks are skipped unless
    ``follow_symlinks``; then every folder is entered at most once (by device and inode),
    which stops symlink loops and walks a folder reached by two links only once, and a
    link whose target is excluded (by its real path) is not followed.

    Errors reading a folder (permission, a folder that vanished or became a file) go to
    ``on_error`` (default: a logged warning) and the walk goes on. A file that vanishes
    between listing and ``stat`` is skipped silently: it is gone, not failed.
    ``known`` (see :data:`KnownFn`) is asked once per folder, just before it is listed.
    """
    report = on_error or _log_error
    roots: list[tuple[Path, os.stat_result]] = []
    for root in rules.roots:
        if rules.is_excluded(root, is_dir=True):
            continue
        try:
            st = os.stat(root)  # the root itself may be a link: the user named it
        except OSError as err:
            report(root, err)
            continue
        if not stat_mod.S_ISDIR(st.st_mode):
            report(root, NotADirectoryError(errno.ENOTDIR, "not a folder", str(root)))
            continue
        roots.append((root, st))
    # Folders entered so far, by (device, inode); only needed when links are followed.
    # Every root is in it from the start, so a link into a root is not followed: the root
    # is walked as itself, with its own album names.
    visited = {(st.st_dev, st.st_ino) for _, st in roots} if follow_symlinks else set()
    walked_roots: set[tuple[int, int]] = set()
    disks = LocalDisks()  # filesystem types, read at the first file that may need one

    for root, st in roots:
        root_s = str(root)
        key = (st.st_dev, st.st_ino)
        if key in walked_roots and st.st_ino:  # one folder named twice (a link, a mount)
            continue
        walked_roots.add(key)

        stack = [root_s]
        while stack:
            dir_s = stack.pop()
            subdirs: list[str] = []
            listing = _scan_dir(dir_s, root, rules, media, follow_symlinks, subdirs, report,
                                known, disks)
            if listing is not None:
                yield listing
            subdirs.sort(reverse=True)  # pop() then visits them in name order
            if follow_symlinks:
                for sub in subdirs:
                    try:
                        sst = os.stat(sub)
                    except OSError as err:
                        report(Path(sub), err)
                        continue
                    key = (sst.st_dev, sst.st_ino)
                    if key not in visited:
                        visited.add(key)
                        stack.append(sub)
            else:
                stack.extend(subdirs)


def walk_targets(
    rules: AlbumRules,
    media: MediaTypes,
    folders: Iterable[Path],
    trees: Iterable[Path] = (),
    *,
    on_error: ErrorHandler | None = None,
    known: KnownFn | None = None,
) -> Iterator[DirListing]:
    """Yield listings of some folders only: each of ``folders`` alone, each of ``trees``
    with everything below it. For the daemon, which knows from file events where things
    changed and need not walk the whole library for one new photo.

    A target outside every include root, excluded, or inside an ignored folder is
    skipped, so an event can never widen what the configuration backs up. A folder that
    is both a target and inside a target tree is listed once. Symlinks are not followed
    here (the periodic full walk does that when configured).
    """
    report = on_error or _log_error
    disks = LocalDisks()
    seen: set[str] = set()
    jobs = [(t, True) for t in sorted(set(trees))] + [(f, False) for f in sorted(set(folders))]
    for target, recursive in jobs:
        root = rules.root_of(target)
        if root is None or not _inside_allowed(target, root, rules):
            continue
        stack = [str(target)]
        while stack:
            dir_s = stack.pop()
            if dir_s in seen:
                continue
            seen.add(dir_s)
            subdirs: list[str] = []
            listing = _scan_dir(dir_s, rules.root_of(Path(dir_s)) or root, rules, media, False,
                                subdirs, report, known, disks)
            if listing is not None:
                yield listing
            if recursive:
                stack.extend(sorted(subdirs, reverse=True))


def _inside_allowed(target: Path, root: Path, rules: AlbumRules) -> bool:
    """True when ``target`` is a folder the full walk would enter below ``root``."""
    rel = target.relative_to(root).parts
    current = root
    for part in rel:
        current = current / part
        if is_ignored_dir(part) or rules.is_excluded(current, is_dir=True):
            return False
    return not rules.is_excluded(root, is_dir=True) and target.is_dir()


def _scan_dir(
    dir_s: str,
    root: Path,
    rules: AlbumRules,
    media: MediaTypes,
    follow_symlinks: bool,
    subdirs: list[str],
    report: ErrorHandler,
    known_fn: KnownFn | None = None,
    disks: LocalDisks | None = None,
) -> DirListing | None:
    """List one folder: append the folders to enter to ``subdirs``, return its candidates."""
    disks = disks or LocalDisks()
    try:
        it = os.scandir(dir_s)
    except OSError as err:
        report(Path(dir_s), err)
        return None
    known = known_fn(dir_s) if known_fn is not None else {}
    unchanged: list[str] = []
    # The stats that found them unchanged (by position), kept while this folder is
    # listed, for the unchanged half of a live photo whose other half changed: one list
    # append (~10 ns) a file, and ~600 bytes a file of this folder until the walk
    # moves on (none of them beyond it).
    unchanged_stats: list[os.stat_result] = []

    candidate = media.candidate
    excluded = rules.is_excluded_entry
    is_root = rules.is_root
    check_files = rules.has_file_patterns
    from_stat = FileStat.from_stat_result
    files: list[FileStat] = []
    kinds: dict[str, Kind] = {}
    sidecar_names: list[str] = []
    placeholders: dict[str, PlaceholderKind] = {}

    with it:
        try:
            for entry in it:
                name = entry.name
                try:
                    st: os.stat_result | None = None
                    if entry.is_dir(follow_symlinks=False):
                        is_dir = True
                    elif entry.is_file(follow_symlinks=False):
                        is_dir = False
                    elif follow_symlinks and entry.is_symlink():
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue  # dangling link
                        is_dir = stat_mod.S_ISDIR(st.st_mode)
                        if not is_dir and not stat_mod.S_ISREG(st.st_mode):
                            continue
                        # A link must not smuggle in what the user excluded by its real path.
                        if rules.is_excluded(os.path.realpath(entry.path), is_dir=is_dir):
                            continue
                    else:
                        continue  # FIFO, socket, device, or a link we do not follow
                    if is_dir:
                        path = entry.path
                        if not (
                            is_ignored_dir(name) or excluded(path, name, True) or is_root(path)
                        ):
                            subdirs.append(path)
                        continue
                    kind = candidate(name)
                    if kind is None:
                        if name.endswith(SUFFIXES):  # IMG.jpg.nextcloud
                            ph = _suffix_placeholder(entry, name, candidate,
                                                     excluded if check_files else None)
                            if ph is not None:
                                placeholders[name] = ph
                        continue
                    if check_files and excluded(entry.path, name, False):
                        continue
                    if kind == "sidecar":
                        sidecar_names.append(name)
                        continue
                    if st is None:
                        st = entry.stat(follow_symlinks=False)
                    kinds[name] = kind
                    if known and (k := known.get(name)) is not None and (
                            k == (st.st_size, st.st_mtime_ns, st.st_ino)  # the common case
                            or differs(st.st_size, st.st_mtime_ns, st.st_ino, *k) is None):
                        unchanged.append(name)
                        unchanged_stats.append(st)
                        continue
                    fs = from_stat(name, st)
                    if fs.is_placeholder or (_HAS_BLOCKS and suspect(st.st_size, st.st_blocks)):
                        ph = _placeholder(entry.path, st, fs.is_placeholder, disks)
                        if ph is not None:
                            placeholders[name] = ph
                            if not downloads_on_read(ph):
                                del kinds[name]  # reading gives a stub, never the photo
                                continue
                            fs = fs._replace(is_placeholder=True)
                    files.append(fs)
                except FileNotFoundError:
                    continue  # vanished between listing and stat
                except OSError as err:
                    report(Path(entry.path), err)
        except OSError as err:  # reading the folder failed part-way (it went away)
            report(Path(dir_s), err)

    if not files and not unchanged and not placeholders:
        return None
    pairs = live_photo_pairs(kinds) if files else {}
    partners: list[str] = []
    if pairs and unchanged:
        unchanged, partners = _list_whole(pairs, files, unchanged, unchanged_stats)
    files.sort(key=lambda f: f.name)
    sidecars = match_sidecars(kinds, sidecar_names) if sidecar_names else {}
    return DirListing(Path(dir_s), root, files, sidecars, kinds, unchanged, placeholders,
                      pairs, partners)


def _list_whole(pairs: Mapping[str, str], files: list[FileStat], unchanged: list[str],
                stats: list[os.stat_result]) -> tuple[list[str], list[str]]:
    """Add to ``files`` the unchanged half of each live photo whose other half is in
    it, built from the walk's own ``stats`` of ``unchanged`` (by position); return the
    names left unchanged and those added."""
    changed = {f.name for f in files}
    wanted = {other for still, video in pairs.items()
              if (still in changed) != (video in changed)
              for other in (still, video) if other not in changed}
    if not wanted:
        return unchanged, []
    left: list[str] = []
    added: list[str] = []
    for name, st in zip(unchanged, stats, strict=True):
        if name in wanted:
            files.append(FileStat.from_stat_result(name, st))
            added.append(name)
        else:
            left.append(name)
    return left, added


_HAS_BLOCKS = hasattr(os.stat_result, "st_blocks")  # not on Windows
_HAS_XATTRS = hasattr(os, "listxattr")  # Linux


def _placeholder(path: str, st: os.stat_result, dataless: bool,
                 disks: LocalDisks) -> PlaceholderKind | None:
    """The placeholder kind of a candidate whose stat looked suspect (or that the
    platform flags): its filesystem type from the mount table, its xattrs only when it
    holds one byte (Nextcloud's stub)."""
    xattrs: list[str] = []
    if st.st_size == STUB_SIZE and _HAS_XATTRS:
        with contextlib.suppress(OSError):  # no xattrs on this filesystem, or it went away
            xattrs = os.listxattr(path)
    blocks = st.st_blocks if _HAS_BLOCKS else 1
    return detect(size=st.st_size, blocks=blocks, fs_type=disks.fs_type(st.st_dev),
                  xattrs=xattrs, dataless=dataless)


def _suffix_placeholder(entry: os.DirEntry[str], name: str,
                        candidate: Callable[[str], Kind | None],
                        excluded: Callable[[str, str, bool], bool] | None,
                        ) -> PlaceholderKind | None:
    """``IMG.jpg.nextcloud``: a Nextcloud/ownCloud suffix placeholder when ``IMG.jpg``
    would be a candidate here and the stub has the client's size."""
    target = suffix_target(name)
    if target is None or candidate(target) not in ("image", "video"):
        return None
    if excluded is not None and excluded(entry.path[: -len(name)] + target, target, False):
        return None
    st = entry.stat(follow_symlinks=False)
    return detect(size=st.st_size, blocks=0, fs_type=None, suffix=True)
