"""Folders a pass could not back up: an include folder that is not there (a USB disk or a
share not mounted yet), or a folder the service cannot read.

A backup tool must never say "✓ Backup complete" while one of these holds, and must not
take a folder that went away for "every file in it was deleted". The pass finds them
(:func:`classify`), the state keeps the current list (:func:`merge` after each pass, as
JSON in its meta table), and ``status``, the service's status line, ``once`` and
``check`` show them. Pure: no I/O here.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from ..bilingual import Alt, Msg
from ..i18n import N_, _, ngettext

__all__ = ["ABSENT", "EMPTY", "META_KEY", "FolderProblem", "ProblemKind", "classify", "dumps",
           "headline", "line", "loads", "merge", "os_error_reason", "os_reason"]

META_KEY = "folder_problems"
ABSENT = "absent"
EMPTY = "empty"


class ProblemKind(StrEnum):
    MISSING = "missing"  # an include folder that is not there, or empty where files were
    UNREADABLE = "unreadable"  # permission denied, an I/O error


class FolderProblem(NamedTuple):
    """``path`` as a string; ``detail`` says why: for a missing folder "absent" or
    "empty" (a mount point without its disk), else the errno's name ("EACCES")."""

    path: str
    kind: ProblemKind
    detail: str


def classify(path: Path | str, err: OSError, *, is_root: bool) -> FolderProblem:
    """What a failure to read the folder ``path`` means for the user. A root that does
    not exist is *missing* (waited for); anything else that cannot be read is
    *unreadable* (a problem to fix). A subfolder that vanished during the walk is not a
    problem at all: return a problem of kind MISSING only for roots, and callers drop
    vanished subfolders (see :func:`is_vanished`)."""
    if err.errno in (errno.ENOENT, errno.ENOTDIR) and is_root:
        return FolderProblem(str(path), ProblemKind.MISSING, ABSENT)
    code = errno.errorcode.get(err.errno or 0, "EIO")
    return FolderProblem(str(path), ProblemKind.UNREADABLE, code)


def is_vanished(err: OSError, *, is_root: bool) -> bool:
    """A subfolder deleted or renamed between its listing and its own read: gone, not a
    problem (its files are handled as deleted)."""
    return not is_root and err.errno in (errno.ENOENT, errno.ENOTDIR)


def merge(old: Iterable[FolderProblem], found: Iterable[FolderProblem], *,
          scope: Iterable[Path] | None) -> list[FolderProblem]:
    """The problems after a pass that looked at ``scope`` (folders and trees; None: a
    full pass, everything) and found ``found``: what it found, plus the old problems of
    folders it did not look at. Sorted by path, one per path."""
    out = {p.path: p for p in found}
    if scope is not None:
        looked = [Path(s) for s in scope]
        for problem in old:
            path = Path(problem.path)
            seen = any(path == s or s in path.parents or path in s.parents for s in looked)
            if not seen:
                out.setdefault(problem.path, problem)
    return [out[k] for k in sorted(out)]


def dumps(problems: Iterable[FolderProblem]) -> str:
    return json.dumps([{"path": p.path, "kind": str(p.kind), "detail": p.detail}
                       for p in problems])


def loads(text: str | None) -> list[FolderProblem]:
    """The problems stored by :func:`dumps`; [] for nothing or anything unreadable."""
    try:
        items = json.loads(text) if text else []
        return [FolderProblem(str(i["path"]), ProblemKind(i["kind"]), str(i.get("detail", "")))
                for i in items]
    except (ValueError, TypeError, KeyError):
        return []


def os_reason(code: str) -> Msg:
    """Why a file or folder could not be read, for people: ``code`` is the errno's name
    (``EACCES``). The common ones in words; others as "read error (EIO)", never the
    C library's English ``strerror`` in a translated line."""
    if code in ("EACCES", "EPERM"):
        return Msg(N_("permission denied"))
    if code == "ELOOP":
        return Msg(N_("too many levels of links"))
    if code in ("ENOENT", "ENOTDIR"):
        return Msg(N_("does not exist"))
    if code == "EISDIR":
        return Msg(N_("is a folder, not a file"))
    return Msg(N_("read error ({code})"), code=code)


def os_error_reason(exc: OSError) -> Alt:
    """``exc`` as a reason: its ``strerror`` in English (as logs have always shown it),
    :func:`os_reason` of its errno when translated."""
    code = errno.errorcode.get(exc.errno or 0, "EIO")
    return Alt(exc.strerror or str(exc), os_reason(code))


def _reason(problem: FolderProblem) -> str:
    return os_reason(problem.detail).translated()


def line(problem: FolderProblem, shown: str | None = None, *, symbol: bool = True) -> str:
    """One line for people about ``problem``; ``shown`` is the path as displayed.
    ``symbol``: lead with ⏸ (waited for) or ✗ (needs the user), as ``status`` does."""
    path = shown or problem.path
    if problem.kind is ProblemKind.MISSING:
        text = (_("Waiting for {path} (empty: not mounted?)") if problem.detail == EMPTY
                else _("Waiting for {path} (not mounted)")).format(path=path)
        return "⏸ " + text if symbol else text
    text = _("Cannot read {path}: {reason}").format(path=path, reason=_reason(problem))
    return "✗ " + text if symbol else text


def headline(problems: list[FolderProblem], *, symbol: bool = True) -> tuple[str, str] | None:
    """(state, first line) when folders are not backed up, else None. Unreadable folders
    come first (they need the user); missing ones are waited for."""
    unreadable = [p for p in problems if p.kind is ProblemKind.UNREADABLE]
    missing = [p for p in problems if p.kind is ProblemKind.MISSING]
    if unreadable:
        state, mark, text = "failed", "✗ ", (
            line(unreadable[0], symbol=False) if len(unreadable) == 1 else
            ngettext("Cannot read {n} folder", "Cannot read {n} folders",
                     len(unreadable)).format(n=len(unreadable)))
    elif missing:
        state, mark, text = "waiting", "⏸ ", (
            line(missing[0], symbol=False) if len(missing) == 1 else
            ngettext("Waiting for {n} folder (not mounted)",
                     "Waiting for {n} folders (not mounted)", len(missing)).format(n=len(missing)))
    else:
        return None
    return state, mark + text if symbol else text
