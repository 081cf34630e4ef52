"""The ``albums`` section: include folders, exclusions, and how they combine.

Per-include-folder settings (an entry that is a mapping, not only a path) are read in
``_entry`` here, with their keys in ``keys.INCLUDE_ENTRY_KEYS`` and their fields in
``AlbumSettings`` (``naming``: ``album: path``, a fixed name, ``none``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from immich_backupd.bilingual import Msg
from immich_backupd.i18n import N_
from immich_backupd.scan.rules import AlbumNaming, AlbumRules, FolderNaming

from .fields import (
    _bool,
    _Context,
    _kind,
    _list,
    _path,
    _Problems,
    _required,
    _required_section,
    _string,
    _unknown_key,
)
from .keys import INCLUDE_ENTRY_KEYS
from .model import AlbumSettings
from .paths import _expand_home
from .yamldoc import _MISSING, KeyPath


def _albums(p: _Problems, ctx: _Context, value: Any) -> AlbumSettings | None:
    base: KeyPath = ("albums",)
    sec = _required_section(p, value, "albums")
    if sec is None:
        return None
    naming: list[FolderNaming] = []
    include, include_ok = _include(p, ctx, _required(p, sec, base, "include"), naming)
    exclude, exclude_ok = _exclude(p, ctx, sec.get("exclude", _MISSING))
    # Judge the valid entries even when others are broken: report everything at once.
    if not _include_not_excluded(p, include, exclude) or not (include_ok and exclude_ok):
        return None
    return AlbumSettings(
        include=tuple(path for _, path in include),
        exclude=tuple(entry for _, entry in exclude),
        naming=tuple(naming),
    )


def _include(p: _Problems, ctx: _Context, value: Any,
             naming: list[FolderNaming]) -> tuple[list[tuple[int, Path]], bool]:
    """The valid include folders with their indexes, and whether all of them were valid.
    The settings of entries written as mappings, other than the defaults, are appended
    to ``naming`` (with the root left empty, filled in here)."""
    base: KeyPath = ("albums", "include")
    if value is _MISSING:
        return [], False
    items = _list(p, base, value, Msg(N_("folders")))
    if items is None:
        return [], False
    if not items:
        p.error(base, Msg(N_("must list at least one folder")))
        return [], False
    ok = True
    out: list[tuple[int, Path]] = []
    entries: dict[int, FolderNaming] = {}  # index -> its settings (_DEFAULT: a plain path)
    for index, item in enumerate(items):
        path = (*base, index)
        album: FolderNaming | None = _DEFAULT
        if isinstance(item, dict):
            item, album = _entry(p, path, item)
            path = (*path, "path")
        folder = _path(p, ctx, path, item) if item is not _MISSING else None
        if folder is None or album is None:
            ok = False
            continue
        kind = _kind(p, ctx, path, folder)
        if kind == "missing":
            # A USB disk or a share mounted later: the daemon waits for it, and a pass
            # says it was not backed up (never "complete").
            p.warn(path, Msg(N_("folder does not exist (yet): {path}; it is backed up once it "
                                "is there"), path=folder))
        elif kind is not None and kind != "dir":
            p.error(path, Msg(N_("not a folder: {path}"), path=folder))
        if kind not in ("dir", "missing"):
            ok = False
            continue
        if not _overlap(p, path, index, folder, album, out, entries):
            ok = False
            continue
        out.append((index, folder))
        entries[index] = album
        if album != _DEFAULT:
            naming.append(album._replace(root=folder))
    return out, ok


_ENTRY_KEYS = tuple(key.path for key in INCLUDE_ENTRY_KEYS)
_ALBUM_WORDS = {mode.value: mode for mode in AlbumNaming if mode is not AlbumNaming.FIXED}


_DEFAULT = FolderNaming(Path(), AlbumNaming.FOLDER)


def _entry(p: _Problems, path: KeyPath, item: dict[Any, Any]) -> tuple[Any, FolderNaming | None]:
    """An include entry written as a mapping: its ``path`` (unchecked, or ``_MISSING``
    after saying so) and its settings with an empty root (None when one is invalid,
    said at its key)."""
    for key in item:
        if str(key) not in _ENTRY_KEYS:
            p.error((*path, str(key)), _unknown_key(str(key), "albums.include", _ENTRY_KEYS))
    folder = _required(p, item, path, "path")
    album = _album(p, (*path, "album"), item.get("album", _MISSING))
    tags = _tags(p, (*path, "tags"), item.get("tags", _MISSING))
    as_tags = _bool(p, (*path, "folder_as_tags"), item.get("folder_as_tags", _MISSING), False)
    if album is None or tags is None or as_tags is None:
        return folder, None
    return folder, FolderNaming(Path(), album[0], album[1], tags, as_tags)


def _album(p: _Problems, path: KeyPath, value: Any) -> tuple[AlbumNaming, str] | None:
    if value is _MISSING:
        return AlbumNaming.FOLDER, ""
    if value is None:  # ``album: null`` or ``album: ~``: no album, as ``none``
        return AlbumNaming.NONE, ""
    if isinstance(value, str) and not value.strip():  # ``album: ""``: meant as no album?
        p.error(path, Msg(N_("must not be empty; album: none puts the files into no album")))
        return None
    name = _string(p, path, value)
    if name is None:
        return None
    # The words in any case: ``album: None`` (Python's spelling) or ``Path`` is meant as
    # the mode, not as one album of that name.
    mode = _ALBUM_WORDS.get(name.strip().lower())
    if mode is not None:
        return mode, ""
    return AlbumNaming.FIXED, name.strip()


def _tags(p: _Problems, path: KeyPath, value: Any) -> tuple[str, ...] | None:
    """Tag names; ``/`` makes a tag of a tag (``Trips/Rome``), as on the server."""
    if value is _MISSING or value is None:
        return ()
    items = _list(p, path, value, Msg(N_("tag names")))
    if items is None:
        return None
    out: list[str] = []
    for index, item in enumerate(items):
        text = _string(p, (*path, index), item)
        if text is None:
            return None
        tag = "/".join(part.strip() for part in text.split("/") if part.strip())
        if not tag:
            p.error((*path, index), Msg(N_("must not be empty")))
            return None
        out.append(tag)
    return tuple(dict.fromkeys(out))


def _overlap(
    p: _Problems, path: KeyPath, index: int, folder: Path, settings: FolderNaming,
    earlier: list[tuple[int, Path]], entries: dict[int, FolderNaming],
) -> bool:
    """Say (once) if ``folder`` repeats or nests with an earlier include folder; False when
    that is an error: the same folder listed twice with different album or tag settings,
    where neither could be said to win.

    A repeat with the same settings, or a nested folder, is harmless (every file is backed
    up once) but usually a slip worth mentioning. The files below a nested folder follow
    its own entry (``rules.AlbumRules`` takes the deepest include folder): its album and
    tag settings, a plain path's defaults included, not the outer entry's.
    """
    for other_index, other in earlier:
        if other == folder:
            if entries[other_index] != settings:
                p.error(path, Msg(N_("listed twice with different album or tag settings (also "
                                     "at albums.include[{index}]): {path}; keep one entry"),
                                  index=other_index, path=folder))
                return False
            p.warn(path, Msg(N_("listed twice (also at albums.include[{index}]): {path}"),
                             index=other_index, path=folder))
            return True
    for other_index, other in earlier:
        if other in folder.parents or folder in other.parents:
            inner, outer = (index, other_index) if other in folder.parents else (other_index, index)
            p.warn(path, Msg(N_("albums.include[{inner}] lies inside albums.include[{outer}]; "
                                "the files below it are backed up once, with the album and "
                                "tag settings of albums.include[{inner}]"),
                             inner=inner, outer=outer))
            return True
    return True


_GLOB_CHARS = frozenset("*?[")


def _exclude(p: _Problems, ctx: _Context, value: Any) -> tuple[list[tuple[int, str]], bool]:
    """The valid exclude entries with their indexes, and whether all of them were valid."""
    base: KeyPath = ("albums", "exclude")
    if value is _MISSING or value is None:
        return [], True
    items = _list(p, base, value, Msg(N_("folders or globs")))
    if items is None:
        return [], False
    ok = True
    out: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        path = (*base, index)
        entry = _exclude_entry(p, ctx, path, item)
        if entry is None:
            ok = False
        else:
            out.append((index, entry))
    return out, ok


def _exclude_entry(p: _Problems, ctx: _Context, path: KeyPath, value: Any) -> str | None:
    """One exclude entry, in the dialect of ``rules.AlbumRules``.

    Globs, bare names and relative paths are kept as given (a trailing ``/`` means "folders
    only" there); a leading ``~`` of a glob is expanded, since ``~/Pictures/*/cache`` could
    never match otherwise. Absolute paths (after ``~``/``$VAR`` expansion) are normalized.
    """
    text = _string(p, path, value)
    if text is None:
        return None
    if _GLOB_CHARS & set(text):
        return _expand_home(text, ctx.env) if text.startswith("~") else text
    if text.startswith(("~", "$", "/")):
        absolute = _path(p, ctx, path, text)
        if absolute is None:
            return None
        folders_only = text.endswith("/") and str(absolute) != "/"
        return f"{absolute}/" if folders_only else str(absolute)
    if text.rstrip("/") in (".", ".."):
        p.error(path, Msg(N_("excluding {value} makes no sense; name a folder, a path or a "
                             "glob"), value=repr(text)))
        return None
    return text


def _include_not_excluded(
    p: _Problems, include: list[tuple[int, Path]], exclude: list[tuple[int, str]]
) -> bool:
    """An include folder that an exclusion removes entirely would back up nothing: an error.

    Asks ``AlbumRules`` (the scanner's own matcher) entry by entry, so the message can name
    the culprit, and globs and bare names are judged exactly as the scanner will.
    """
    ok = True
    for index, folder in include:
        for ex_index, entry in exclude:
            if AlbumRules([folder], [entry]).wholly_excluded_roots():
                p.error(("albums", "include", index), Msg(
                    N_("folder {path} is excluded by albums.exclude[{index}] ({entry}), so "
                       "nothing in it would be backed up"),
                    path=folder, index=ex_index, entry=repr(entry)))
                ok = False
                break
    return ok
