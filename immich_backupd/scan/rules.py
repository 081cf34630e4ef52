"""Which folders are backed up and to which album: include roots, exclusions, album names.

Pure: decides from path strings alone, so the scanner, the watcher and the config
validator share one answer, and the rules are property-tested without files. Patterns
are compiled once; the scanner asks about every entry it meets, so the per-entry check
(:meth:`AlbumRules.is_excluded_entry`) is a few set probes and at most two regex matches.

Exclude entries, in the order they are recognised:

* a glob (contains ``*``, ``?`` or ``[``), with gitignore-like semantics against the full
  absolute path: ``**`` spans any number of folders, ``*`` and ``?`` never cross ``/``;
  a glob not starting with ``/`` or ``**`` matches at any depth (it is ``**/<glob>``);
  a glob without ``/`` is matched against each name; a trailing ``/`` restricts it to
  folders; a glob that matches a folder excludes everything below it;
* an absolute path: that file, or that folder and everything below it;
* a bare name without ``/``: any folder or file of that name, at any depth;
* a relative path with ``/`` but no wildcard (``Private/raw``): like the glob ``**/Private/raw``.

Bare names and relative globs match at any depth of the *absolute* path, above the
include root too: excluding ``tmp`` while including ``/tmp/photos`` excludes it all.
:meth:`AlbumRules.wholly_excluded_roots` lets the config check report such a mistake.
Matching is case-sensitive. An exclusion always wins over an inclusion.

Album names follow each include folder's :class:`AlbumNaming` (``albums.include`` entries
written as mappings): the folder's own name (the default), its path below the include
folder, one fixed name, or no album at all.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

_MAGIC = frozenset("*?[")


class AlbumNaming(enum.Enum):
    """How the album of a file below one include folder is named."""

    FOLDER = "folder"  # the name of the folder the file is in (``Rome``)
    PATH = "path"  # the folder's path below the include folder (``2019/2019-07-14 Rome``)
    FIXED = "fixed"  # one name for everything below the include folder
    NONE = "none"  # no album


class FolderNaming(NamedTuple):
    """The album and tag settings of one include folder (``root``): ``name`` is the
    fixed album's (FIXED only); ``tags`` go on every file below it, and with
    ``folder_as_tags`` the folder path below ``root`` too (``Trips/2024/Rome``)."""

    root: Path
    album: AlbumNaming
    name: str = ""
    tags: tuple[str, ...] = ()
    folder_as_tags: bool = False


if TYPE_CHECKING:  # only for the type checker: not worth its start-up time

    class AlbumSource(Protocol):
        """What the rules are built from: the config's ``albums`` section
        (``config.AlbumSettings``), named by shape so this module imports nothing above
        it."""

        @property
        def include(self) -> Sequence[Path]: ...

        @property
        def exclude(self) -> Sequence[str]: ...

        @property
        def naming(self) -> Sequence[FolderNaming]: ...


def _norm(path: Path | str) -> str:
    """Return ``path`` as a '/'-separated string, the form every rule is matched against."""
    s = os.fspath(path)
    if os.sep != "/":  # pragma: no cover - Windows
        s = s.replace(os.sep, "/")
    return s


def _ancestors(s: str) -> Iterator[str]:
    """Yield ``s`` and each of its parents up to the file-system root."""
    while True:
        yield s
        parent = os.path.dirname(s)
        if parent == s:
            return
        s = parent


def _class_to_regex(body: str) -> str:
    """Translate the inside of a ``[...]`` glob class; it never matches ``/``."""
    neg = body[:1] in ("!", "^")
    if neg:
        body = body[1:]
    body = body.replace("\\", "\\\\")
    body = re.sub(r"([&~|\[\]])", r"\\\1", body)  # literal ] and future set operators
    if body.startswith("^"):
        body = "\\" + body
    return f"[^/{body}]" if neg else f"(?!/)[{body}]"


def glob_to_regex(pattern: str) -> str:
    """Translate a gitignore-like glob to a regex (without anchors).

    ``**/`` at the start or after ``/`` is zero or more folders, a trailing ``/**`` is
    everything below, any other ``**`` is a ``*``. ``*`` is ``[^/]*`` and ``?`` is
    ``[^/]``; ``[...]`` and ``[!...]`` are classes; ``\\`` escapes the next character.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if j - i >= 2 and whole:
                if j == n:
                    out.append(".*")
                else:
                    out.append("(?:.*/)?")
                    j += 1  # the '/' is part of the group
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '['
                out.append(re.escape(c))
                i += 1
            else:
                out.append(_class_to_regex(pattern[i + 1 : j]))
                i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _compile(regexes: list[str]) -> re.Pattern[str] | None:
    if not regexes:
        return None
    return re.compile("|".join(f"(?:{r})" for r in regexes), re.DOTALL)


class AlbumRules:
    """The include folders and the exclusions, compiled for fast repeated matching.

    ``include`` are absolute folder paths; ``exclude`` entries are described in the
    module docstring. Raise ValueError for a relative include.
    """

    __slots__ = (
        "_dir_names",
        "_file_names",
        "_name_dir_re",
        "_name_file_re",
        "_naming",
        "_path_dir_re",
        "_path_file_re",
        "_paths",
        "_root_set",
        "exclude",
        "roots",
    )

    def __init__(self, include: Sequence[Path | str], exclude: Sequence[str] = (),
                 naming: Sequence[FolderNaming] = ()) -> None:
        """``naming`` gives the include folders whose albums are not named after the
        file's folder (the default); an entry for a folder not included is ignored."""
        roots: set[str] = set()
        for inc in include:
            s = os.path.normpath(os.fspath(inc))
            if not os.path.isabs(s):
                raise ValueError(f"include folder must be an absolute path: {inc!r}")
            roots.add(_norm(s))
        self._root_set = frozenset(roots)
        self.roots: tuple[Path, ...] = tuple(Path(r) for r in sorted(roots))
        self.exclude: tuple[str, ...] = tuple(exclude)
        self._naming: dict[str, FolderNaming] = {
            _norm(os.path.normpath(os.fspath(n.root))): n for n in naming}

        file_names: set[str] = set()
        dir_only_names: set[str] = set()
        paths: set[str] = set()
        name_globs: list[tuple[str, bool]] = []  # (regex, dir_only)
        path_globs: list[tuple[str, bool]] = []
        for raw in exclude:
            if not raw:
                continue
            dir_only = raw.endswith("/") and raw.strip("/") != ""
            body = raw.rstrip("/") or "/"
            if not (_MAGIC & set(body)):
                if body.startswith("/") or os.path.isabs(body):
                    paths.add(_norm(os.path.normpath(body)))
                elif "/" not in body:
                    (dir_only_names if dir_only else file_names).add(body)
                else:
                    path_globs.append((glob_to_regex("**/" + body), dir_only))
            elif "/" not in body:
                name_globs.append((glob_to_regex(body), dir_only))
            else:
                anchored = body.startswith(("/", "**"))
                path_globs.append((glob_to_regex(body if anchored else "**/" + body), dir_only))

        self._file_names = frozenset(file_names)
        self._dir_names = frozenset(file_names | dir_only_names)
        self._paths = frozenset(paths)
        self._name_file_re = _compile([r for r, d in name_globs if not d])
        self._name_dir_re = _compile([r for r, _ in name_globs])
        self._path_file_re = _compile([r for r, d in path_globs if not d])
        self._path_dir_re = _compile([r for r, _ in path_globs])

    @classmethod
    def from_settings(
        cls, albums: AlbumSource, *, roots: Sequence[Path] | None = None
    ) -> AlbumRules:
        """The rules of the config's ``albums`` section: the one way the daemon, the pass,
        ``check`` and a dry run build them, so a new per-folder setting is passed on here.

        ``roots`` narrows the include folders to these (``check`` walks one at a time);
        the exclusions are always all of them.
        """
        return cls(albums.include if roots is None else roots, albums.exclude, albums.naming)

    def __repr__(self) -> str:
        roots = [str(r) for r in self.roots]
        return f"AlbumRules(include={roots!r}, exclude={list(self.exclude)!r})"

    @property
    def has_file_patterns(self) -> bool:
        """True when some exclusion can match a file (not only folders).

        When False the scanner may skip the per-file check entirely.
        """
        return bool(self._file_names or self._paths or self._name_file_re or self._path_file_re)

    # --- exclusion -------------------------------------------------------------------------

    def is_excluded_entry(self, path: str, name: str, is_dir: bool) -> bool:
        """Return True if the entry itself matches an exclusion, ignoring its ancestors.

        The scanner's hot path: it calls this for entries of a folder it has already
        found not excluded. ``path`` is the entry's full path string, ``name`` its last
        component.
        """
        if path in self._paths:
            return True
        if is_dir:
            names, name_re, path_re = self._dir_names, self._name_dir_re, self._path_dir_re
        else:
            names, name_re, path_re = self._file_names, self._name_file_re, self._path_file_re
        if name in names:
            return True
        if name_re is not None and name_re.fullmatch(name):
            return True
        return path_re is not None and path_re.fullmatch(path) is not None

    def is_excluded(self, path: Path | str, *, is_dir: bool | None = None) -> bool:
        """Return True if ``path`` or any folder above it matches an exclusion.

        ``is_dir`` says what ``path`` itself is, for folder-only patterns (trailing
        ``/``); None (unknown) lets them match, so a folder is never wrongly walked.
        """
        s = _norm(path)
        entry_is_dir = is_dir is not False
        for cur in _ancestors(s):
            name = cur.rpartition("/")[2]
            if not name:  # the file-system root: only an explicit path excludes it
                return cur in self._paths
            if self.is_excluded_entry(cur, name, entry_is_dir):
                return True
            entry_is_dir = True
        return False

    # --- inclusion -------------------------------------------------------------------------

    def is_root(self, path: Path | str) -> bool:
        """Return True if ``path`` is one of the include folders itself."""
        return _norm(path) in self._root_set

    def root_of(self, path: Path | str) -> Path | None:
        """Return the include folder containing ``path`` (the deepest, when nested), or None.

        Exclusions are not considered (the watcher's ``watch.filtering.accept`` and the
        walk apply them).
        """
        for cur in _ancestors(_norm(path)):
            if cur in self._root_set:
                return Path(cur)
        return None

    def wholly_excluded_roots(self) -> list[Path]:
        """Return the include folders that an exclusion removes entirely (a config mistake)."""
        return [r for r in self.roots if self.is_excluded(r, is_dir=True)]

    # --- albums ----------------------------------------------------------------------------

    def album_name_for(self, path: Path | str) -> str | None:
        """Return the album of a file, or None when its include folder has ``album: none``.

        By default (``album: folder``) the name of the folder it is in: a file directly in
        an include folder goes to an album named after that folder, one in
        ``Trips/2024/Rome`` to ``Rome``. With ``album: path`` it is the folder's path below
        the include folder (the deepest, when they nest), ``Trips/2024/Rome``, so
        same-named folders in different places stay apart; a file directly in the include
        folder still goes to the album named after it. With a fixed name, that name. For
        a file at a drive or file-system root, whose folder has no name, the root itself
        (``/``) is returned.

        An album name is text shown on the server, not a path: bytes of a folder name
        that are not UTF-8 (an old Latin-1 share: ``caf\\xe9``) become ``?``, as they do
        in the file names sent with uploads, instead of surrogates no database or JSON
        takes.
        """
        parent = Path(path).parent
        name = parent.name or str(parent)
        if self._naming:
            root = self.root_of(parent)
            naming = self._naming.get(_norm(root)) if root is not None else None
            if naming is not None:
                if naming.album is AlbumNaming.NONE:
                    return None
                if naming.album is AlbumNaming.FIXED:
                    return naming.name
                assert root is not None
                if naming.album is AlbumNaming.PATH and parent != root:
                    name = parent.relative_to(root).as_posix()
        return _text(name)

    @property
    def album_settings(self) -> tuple[tuple[str, str, str], ...]:
        """(include folder, naming, fixed name) of every include folder, ``folder`` where
        none is set: what the albums of its files follow, to tell when it changed."""
        out = []
        for root in self.roots:
            naming = self._naming.get(_norm(root))
            if naming is None:
                out.append((str(root), AlbumNaming.FOLDER.value, ""))
            else:
                out.append((str(root), naming.album.value, naming.name))
        return tuple(out)

    @property
    def has_tags(self) -> bool:
        """True when some include folder puts tags on its files."""
        return bool(self.tag_settings)

    @property
    def tag_settings(self) -> tuple[FolderNaming, ...]:
        """The include folders that put tags on their files, in path order."""
        return tuple(n for _, n in sorted(self._naming.items())
                     if n.tags or n.folder_as_tags)

    def tags_for(self, path: Path | str) -> tuple[str, ...]:
        """The tags of a file: its include folder's ``tags``, and with ``folder_as_tags``
        the path of its folder below the include folder (``Trips/2024/Rome``, a tag with
        its parents on the server; none for a file directly in the include folder)."""
        if not self._naming:
            return ()
        parent = Path(path).parent
        root = self.root_of(parent)
        naming = self._naming.get(_norm(root)) if root is not None else None
        if naming is None:
            return ()
        assert root is not None
        if naming.folder_as_tags and parent != root:
            return (*naming.tags, _text(parent.relative_to(root).as_posix()))
        return naming.tags


def _text(name: str) -> str:
    """``name`` as text a server takes: bytes that were not UTF-8 become ``?``."""
    if name.isascii():
        return name
    return name.encode("utf-8", "replace").decode("utf-8")
