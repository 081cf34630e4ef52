"""Which files of one folder belong together as a stack on the server: RAW+JPEG pairs and
bursts, by their names (and the Apple burst ids read from the files, passed in).

Pure: names in, groups out; never touches the file system. A stack never spans folders:
:func:`stacks_in_folder` takes the names of one folder (pipeline/stacking.py asks it
folder by folder). A file is in at most one stack (an asset has one stack on
the server). Groups of one are no stack (the server takes two ids or more).

- **RAW+JPEG** (``StackKind.RAW_JPEG``): a RAW file and a JPEG or HEIC with the same stem,
  compared case-insensitively (``IMG_1234.CR2`` + ``IMG_1234.JPG``, an iPhone's
  ``IMG_1234.DNG`` + ``IMG_1234.HEIC``); the JPEG is the cover, else the HEIC. A Google
  Pixel's pair is named differently and found by its own naming:
  ``PXL_20231207_032111247.RAW-01.COVER.jpg`` + ``PXL_20231207_032111247.RAW-02.ORIGINAL.dng``,
  with Motion Photo on (its default) ``PXL_….RAW-01.MP.COVER.jpg``, and ``PXL_….RAW-01.jpg``
  (no role: the JPEG is the cover).
- **Bursts** (``StackKind.BURST``), by the naming of the cameras that mark them:

  ===========================================  ==============================================
  Huawei, Honor, Xiaomi, older Samsung          ``IMG_20231014_183246_BURST001_COVER.jpg``,
                                                ``IMG_20231014_183246_BURST002.jpg``
                                                (``_Burst01`` too: case does not matter)
  Google Camera (Nexus, early Pixel), Sony      ``00015IMG_00015_BURST20171111030039_COVER.jpg``,
  Xperia                                        ``00001IMG_00001_BURST20171111030039.jpg``,
                                                ``DSC_0052_BURST20230709220904977_COVER.JPG``
  Samsung (One UI)                              ``20231207_101605_001.jpg``, ``…_002.jpg``
  Google Pixel (Top Shot, long exposure, …)     ``PXL_20230330_184138390.MOTION-01.COVER.jpg``,
                                                ``PXL_20230330_184138390.MOTION-02.ORIGINAL.jpg``
  ===========================================  ==============================================

  The file marked ``COVER`` is the cover; where none is marked (Samsung), the first of
  the burst.
- **Apple bursts** (``StackKind.BURST`` too): an iPhone names its frames like any photo
  (``IMG_1234.HEIC``) and marks the burst inside each file (the maker note's burst id,
  :mod:`.appleburst`). The caller passes the ids it read (``burst_ids``: name → id);
  files with the same id in one folder are a burst. Apple marks no cover in the file
  (the frame the user picked is kept in the Photos library), so the first by name is
  the cover: the frame taken first, as an iPhone numbers them.

:func:`stack_requests` decides what to send given what the server has and which stacks
were made before (see its docstring for why a stack is never sent twice).

When bursts are stacked, a burst's RAW files (same burst name, RAW extension) are in
the burst's stack; otherwise the RAW+JPEG pairs inside it are stacked on their own.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from .kinds import DEFAULT_MEDIA_TYPES, RAW_EXTENSIONS, extension, stem

JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe"})
HEIC_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
COVER_EXTENSIONS = JPEG_EXTENSIONS | HEIC_EXTENSIONS


class StackKind(enum.Enum):
    """Why files are stacked; each has its own switch (``raw_jpeg``, ``bursts``)."""

    RAW_JPEG = "raw_jpeg"
    BURST = "burst"


@dataclass(frozen=True)
class StackGroup:
    """Files of one folder to stack: ``members`` holds every name, the cover first.

    ``key`` names the group within its folder (its kind and shared name part, lower
    case), stable across passes, so a state can remember which groups are stacked.
    """

    kind: StackKind
    key: str
    cover: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class BurstName:
    """What a name says about the burst it is part of."""

    kind: StackKind
    key: str  # shared by the burst's files in one folder (lower case)
    index: int  # its place in the burst (0 when the name does not say)
    is_cover: bool


# Google Pixel: <radical>[.<MODE>...].<KIND>-NN[.<ROLE>...].<ext>: no role, or several
# (with Motion Photo on, its default: ``PXL_….RAW-01.MP.COVER.jpg``).
_PIXEL = re.compile(
    r"^(?P<key>[^.]+?)(?:\.[A-Z_]+)*?\.(?P<kind>[A-Z_]+)-(?P<idx>\d{2})"
    r"(?P<roles>(?:\.[A-Z_]+)*)\.[^.]+$")
# Google Camera / Sony Xperia: ..._BURST<timestamp>[_COVER].<ext>
_BURST_ID = re.compile(r"^(?P<idx>\d{5})?.*?_(?P<key>BURST\d{14,17})(?P<cover>_COVER)?\.[^.]+$",
                       re.I)
# Huawei, Honor, Xiaomi, older Samsung: <radical>_BURST<NNN>[_COVER].<ext>
_BURST_SEQ = re.compile(r"^(?P<key>.+?)_BURST(?P<idx>\d{1,3})(?P<cover>_COVER)?\.[^.]+$", re.I)
# Samsung One UI: YYYYMMDD_HHMMSS_NNN.<ext>
_SAMSUNG = re.compile(r"^(?P<key>\d{8}_\d{6})_(?P<idx>\d{3})\.[^.]+$")
# Every name one of the above can match matches this one search (a superset): the pass
# groups every folder it backed up a file in, so most names are ruled out in one probe.
_MAYBE_NAMED = re.compile(r"burst|\.[a-z_]+-\d\d\.|^\d{8}_\d{6}_\d{3}\.", re.I)


def parse_burst(name: str) -> BurstName | None:
    """The burst (or Pixel RAW pair) a file name marks it part of, or None."""
    m = _PIXEL.match(name)
    if m is not None:
        kind = StackKind.RAW_JPEG if m["kind"] == "RAW" else StackKind.BURST
        return BurstName(kind, f"pixel:{m['key'].lower()}.{m['kind'].lower()}",
                         int(m["idx"]), "COVER" in m["roles"].split("."))
    m = _BURST_ID.match(name)
    if m is not None:
        return BurstName(StackKind.BURST, f"burst:{m['key'].lower()}", int(m["idx"] or 0),
                         m["cover"] is not None)
    m = _BURST_SEQ.match(name)
    if m is not None:
        return BurstName(StackKind.BURST, f"burst:{m['key'].lower()}", int(m["idx"]),
                         m["cover"] is not None)
    m = _SAMSUNG.match(name)
    if m is not None:
        return BurstName(StackKind.BURST, f"burst:{m['key']}", int(m["idx"]), False)
    return None


def _cover_rank(name: str) -> tuple[int, str]:
    ext = extension(name)
    return (0 if ext in JPEG_EXTENSIONS else 1 if ext in HEIC_EXTENSIONS else 2, name)


def apple_burst_key(burst_id: str) -> str:
    """The group key of the Apple burst ``burst_id`` (see :class:`StackGroup`)."""
    return f"apple:{burst_id.lower()}"


def _named_groups(names: list[str], raw_jpeg: bool, bursts: bool,
                  burst_ids: Mapping[str, str]) -> list[StackGroup]:
    parsed: dict[str, list[tuple[BurstName, str]]] = {}
    maybe = _MAYBE_NAMED.search
    for index, name in enumerate(names):  # sorted: an Apple burst's frames by name
        burst = parse_burst(name) if maybe(name) else None
        if burst is None and bursts and burst_ids:
            found = burst_ids.get(name)
            if found and extension(name) not in RAW_EXTENSIONS:
                burst = BurstName(StackKind.BURST, apple_burst_key(found), index, False)
        if burst is None:
            continue
        if (burst.kind is StackKind.BURST and not bursts) or (
                burst.kind is StackKind.RAW_JPEG and not raw_jpeg):
            continue
        parsed.setdefault(burst.key, []).append((burst, name))
    out = []
    for key, found in parsed.items():
        if len(found) < 2:
            continue
        covers = [n for b, n in found if b.is_cover and extension(n) not in RAW_EXTENSIONS]
        ordered = sorted(found, key=lambda f: (f[0].index, _cover_rank(f[1])))
        cover = min(covers, key=_cover_rank) if covers else next(
            (n for _, n in ordered if extension(n) not in RAW_EXTENSIONS), ordered[0][1])
        members = (cover, *(n for _, n in ordered if n != cover))
        out.append(StackGroup(found[0][0].kind, key, cover, members))
    return out


def _raw_jpeg_groups(names: Iterable[str]) -> list[StackGroup]:
    names = list(names)
    if not any(extension(n) in RAW_EXTENSIONS for n in names):
        return []  # no RAW, no pair: the common folder of a phone
    by_stem: dict[str, list[str]] = {}
    for name in names:
        ext = extension(name)
        if ext in RAW_EXTENSIONS or ext in COVER_EXTENSIONS:
            by_stem.setdefault(stem(name).lower(), []).append(name)
    out = []
    for key, group in by_stem.items():
        raws = sorted(n for n in group if extension(n) in RAW_EXTENSIONS)
        covers = sorted((n for n in group if extension(n) in COVER_EXTENSIONS), key=_cover_rank)
        if raws and covers:
            out.append(StackGroup(StackKind.RAW_JPEG, f"raw:{key}", covers[0],
                                  (*covers, *raws)))
    return out


def stacks_in_folder(names: Iterable[str], *, raw_jpeg: bool = True, bursts: bool = False,
                     images: frozenset[str] = DEFAULT_MEDIA_TYPES.image,
                     burst_ids: Mapping[str, str] | None = None) -> list[StackGroup]:
    """The stacks among the files ``names`` of one folder (names, not paths), with the
    kinds switched on; only names with an extension in ``images`` are considered.
    ``burst_ids``: the Apple burst id of those names that have one (with ``bursts``).
    Sorted by cover name."""
    pool = sorted({n for n in names if extension(n) in images})
    groups = _named_groups(pool, raw_jpeg, bursts, burst_ids or {})
    taken = {m for g in groups for m in g.members}
    if raw_jpeg:
        groups += _raw_jpeg_groups(n for n in pool if n not in taken)
    return sorted(groups, key=lambda g: g.cover)


# --- What to send ----------------------------------------------------------------------

class KnownStack(NamedTuple):
    """A stack on the server as the state remembers it: one this client made, or found
    there already (its members' files were stacked before the state knew them)."""

    stack_id: str
    primary_id: str
    asset_ids: frozenset[str]


def by_asset(stacks: Iterable[KnownStack]) -> dict[str, KnownStack]:
    """Asset id → the known stack it is in: what :func:`stack_requests` looks a group's
    files up in, by their ids on the server rather than their paths, so that a folder
    renamed (its files keep their ids) or a group named another way finds its stack."""
    return {asset: stack for stack in stacks for asset in stack.asset_ids}


@dataclass(frozen=True)
class StackRequest:
    """One ``POST /stacks`` to send: ``asset_ids`` with the cover's first (it becomes the
    primary). ``replaces``: the known stack the server will delete when it makes this one
    (because it lists that stack's primary), or None. ``known``: whether the state
    remembers a stack of any of them; when not, the caller asks the server whether they
    are stacked already (a stack made before the state knew the files) before sending."""

    key: str
    asset_ids: tuple[str, ...]
    replaces: str | None
    known: bool = False


def stack_requests(groups: Iterable[StackGroup], remote_ids: Mapping[str, str | None],
                   known: Mapping[str, KnownStack]) -> list[StackRequest]:
    """The stacks to create for one folder's ``groups``, given the server ids of its
    files that are on the server (``remote_ids``: name → id) and the stacks known to be
    on the server (``known``: asset id → its stack, see :func:`by_asset`).

    Real servers replace a stack when it is made again (a new id; the old one deleted,
    and with it what the user changed, such as its cover) and move a listed member out
    of any other stack, so nothing is sent for a group whose files on the server are all
    in one known stack already, wherever they were when it was made. A group is stacked
    once its cover and at least one other file are on the server; a file that reaches
    the server later (or under a new id) has the stack made again with every file, which
    replaces the old one. A file gone from the folder changes nothing on the server.
    """
    out = []
    for group in groups:
        ids = [remote_ids.get(name) for name in group.members]
        present = list(dict.fromkeys(i for i in ids if i))
        if not ids[0] or len(present) < 2:
            continue  # the cover must be the primary; two ids at least
        stacks = {known[i] for i in present if i in known}
        if len(stacks) == 1 and set(present) <= next(iter(stacks)).asset_ids:
            continue
        replaces = next((s.stack_id for s in sorted(stacks) if s.primary_id in present), None)
        out.append(StackRequest(group.key, tuple(present), replaces, bool(stacks)))
    return out
