"""Change the config file the way a person would: keep its comments and layout.

The dashboard's write screens go through here. One change is made to the YAML document
with ruamel.yaml's round-trip mode (comments, key order, quoting and blank lines stay), the
result is validated by the very loader the daemon uses (``config.parse_settings``, so the
same checks and the same messages as ``immich-backupd check``), and only a valid result is
written, atomically: a temporary file in the same folder, flushed to disk, renamed over the
old one. An invalid change raises ``ConfigError`` and leaves the file byte for byte as it was.

The indentation of re-emitted blocks is that of ``config.example.yaml`` (mappings by 2,
list items by 4 with the dash at 2); a file laid out otherwise keeps its content and
comments but may see its list indentation normalized.
"""

from __future__ import annotations

import contextlib
import enum
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from immich_backupd.bilingual import Line, Msg
from immich_backupd.config import Settings, parse_settings
from immich_backupd.errors import ConfigError
from immich_backupd.i18n import N_


class FolderList(enum.Enum):
    """The two folder lists under ``albums``."""

    INCLUDE = "include"
    EXCLUDE = "exclude"


class ListOp(enum.Enum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True)
class FolderEdit:
    """Add ``entry`` to, or remove it from, ``albums.<which>``. ``entry`` is kept as
    given (``~`` and ``$VARS`` are expanded by the loader, as for a hand-written entry)."""

    which: FolderList
    op: ListOp
    entry: str


@dataclass(frozen=True)
class ValueEdit:
    """Set the key at ``path`` (``("backup", "metered", "videos")``) to ``value`` (a bool,
    int or str as YAML would hold it); missing sections on the way are created."""

    path: tuple[str, ...]
    value: bool | int | str


Edit = FolderEdit | ValueEdit


def _yaml() -> YAML:
    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never re-wrap a user's long line
    return y


def edited_text(text: str, edit: Edit, label: str = "<string>") -> str:
    """Return ``text`` with ``edit`` made, comments and layout kept. Pure: no I/O.

    Raise ``ConfigError`` (one line saying what and where) if ``text`` is not a YAML
    mapping, a section in the way is not a mapping or list, an entry to add is already
    there or an entry to remove is not."""
    y = _yaml()
    try:
        doc = y.load(text) if text.strip() else CommentedMap()
    except YAMLError as exc:
        raise ConfigError([Line(f"{label}:", Msg(N_("the config file is not valid YAML: {reason}"),
                                                 reason=str(exc).splitlines()[0]))]) from None
    if not isinstance(doc, CommentedMap):
        raise ConfigError([Line(f"{label}:", Msg(N_("the config file is not a YAML mapping")))])
    if isinstance(edit, FolderEdit):
        _edit_folders(doc, edit, label)
    else:
        section = doc
        for depth, name in enumerate(edit.path[:-1]):
            section = _child_map(section, name, label, ".".join(edit.path[:depth + 1]))
        section[edit.path[-1]] = edit.value
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _child_map(doc: CommentedMap, name: str, label: str, dotted: str) -> CommentedMap:
    if name not in doc or doc[name] is None:
        doc[name] = CommentedMap()
    section = doc[name]
    if not isinstance(section, CommentedMap):
        raise ConfigError([Line(f"{label}: {dotted}:", Msg(N_("must be a mapping of keys")))])
    return section


def _edit_folders(doc: CommentedMap, edit: FolderEdit, label: str) -> None:
    albums = _child_map(doc, "albums", label, "albums")
    key = edit.which.value
    where = f"{label}: albums.{key}:"
    if key not in albums or albums[key] is None:
        albums[key] = CommentedSeq()
    entries = albums[key]
    if not isinstance(entries, CommentedSeq):
        raise ConfigError([Line(where, Msg(N_("must be a list")))])
    present = [_entry_text(e) for e in entries]
    if edit.op is ListOp.ADD:
        if edit.entry in present:
            raise ConfigError([Line(where, Msg(N_("{entry} is already listed"),
                                               entry=edit.entry))])
        entries.append(edit.entry)
    else:
        if edit.entry not in present:
            raise ConfigError([Line(where, Msg(N_("{entry} is not listed"), entry=edit.entry))])
        del entries[present.index(edit.entry)]


def listed_folders(text: str) -> dict[FolderList, list[str]]:
    """The entries of ``albums.include`` and ``albums.exclude`` as written in ``text``
    (before ``~`` expansion); an absent or malformed list is empty."""
    try:
        doc = _yaml().load(text) if text.strip() else None
    except YAMLError:
        doc = None
    albums = doc.get("albums") if isinstance(doc, CommentedMap) else None
    out = {}
    for which in FolderList:
        entries = albums.get(which.value) if isinstance(albums, CommentedMap) else None
        out[which] = [_entry_text(e) for e in entries] if isinstance(entries, list) else []
    return out


def _entry_text(entry: object) -> str:
    """A list entry as written: an include entry that is a mapping (``{path, album}``)
    by its ``path``, so it is listed, found and removed like a plain one."""
    if isinstance(entry, CommentedMap):
        return str(entry.get("path", ""))
    return str(entry)


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old file or the new one,
    never a part: a temporary file beside it (same mode as the old one), fsynced, renamed
    over it, then the folder fsynced. On failure the old file is untouched."""
    path = Path(path)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def apply_edit(path: Path, edit: Edit, env: Mapping[str, str] | None = None) -> Settings:
    """Make ``edit`` to the config file at ``path``, validate the result as the daemon's
    loader would, and write it atomically. Return the new ``Settings``.

    Raise ``ConfigError`` (the loader's own problems, naming file, line and key) if the
    edited file would not load; the file is then left unchanged."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    new = edited_text(text, edit, label=str(path))
    settings = parse_settings(new, source=str(path), env=env,
                              base_dir=path.absolute().parent)
    atomic_write(path, new)
    return settings

