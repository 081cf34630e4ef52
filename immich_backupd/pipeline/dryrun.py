"""``once --dry-run``: what a pass would do, from the folders and the state alone.

Contract: nothing is written — the state is opened read-only (``query_only``), no hash
is computed, and the server gets only read requests (``GET`` of version, media types,
the key's permissions, the user and the album list). In particular the server is not
asked which files it already has (``bulk-upload-check`` is a ``POST``): a new or changed
file is reported as "to check and upload", an upper bound — the real pass uploads only
what the server does not have.

The walk and the plan are the pass's own (``scan.walk``, ``plan.plan_dir``), so a dry
run sees what a pass would: the same exclusions, the same change rule, the same retry
times and the same album names. Stacks and tags are counted for the files to upload,
by the pass's own rules (``stacks.stacks_in_folder``, ``AlbumRules.tags_for``): a stack
counted is one that a file to upload is part of, made or made again unless the server
turns out to have the files already stacked. iPhone bursts are not counted: they are
found by the burst id inside each file (``appleburst``), and a dry run reads no file;
with bursts on, the photos backed up before whose id the next pass would read
(pipeline/burstread.py) are counted from the state.

When the per-folder settings changed since the last pass (their meta), the files backed
up before that would go to another album (and the albums it would create for them), the
tags they would get and the tags that would come off are counted too, by the pass's own
rules (``followups``), from one read of the state (:func:`settings_followups`); with
unchanged settings, none. So are the tags wanted and not yet seen to hold, which every
pass sets (again: the check that sets a lost one again, tagging.py).

The key's permissions, which ``connect`` reads anyway, say whether those stacks and tags
would be made at all (``lacking``): the pass goes on without them where the key may not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..media.appleburst import BURST_EXTENSIONS
from ..media.kinds import MediaTypes
from ..media.stacks import stacks_in_folder
from ..scan import folder_problems
from ..scan.folder_problems import FolderProblem
from ..scan.rules import AlbumRules
from ..scan.walk import DirListing, KnownFn, walk
from ..state import FileRecord
from ..state.preview import UpgradedCopy
from .followups import (
    ALBUM_SETTINGS_KEY,
    TAG_SETTINGS_KEY,
    FileAlbum,
    Removal,
    added_tags,
    album_settings_text,
    moved_albums,
    removals_due,
    tag_settings_text,
    unwanted_tags,
)
from .plan import plan_dir

# The records of some files of a folder (those listed new or changed), by name.
RecordsFn = Callable[[Path, list[str]], Mapping[str, FileRecord]]


@dataclass
class DryRunReport:
    """What a pass would do now. ``to_upload``: (path, size, kind) of the files it would
    check with the server and upload unless the server has them."""

    seen: int = 0
    backed_up: int = 0
    to_upload: list[tuple[Path, int, str]] = field(default_factory=list)
    retry_later: int = 0  # failed before; their next try is not due yet
    left_out: int = 0  # trashed or deleted in Immich, or a type the server refused
    placeholders: int = 0  # cloud files not on this disk, left out
    albums: dict[str, int] = field(default_factory=dict)  # album -> files it would get
    new_albums: list[str] = field(default_factory=list)  # albums it would create
    stacks: int = 0  # stacks a file to upload is part of
    tags: dict[str, int] = field(default_factory=dict)  # tag -> files to upload it goes on
    bursts_to_read: int = 0  # photos backed up before whose burst id is to be read
    # Settings changed: album -> files backed up before it would get; tag -> files it
    # would come off.
    album_moves: dict[str, int] = field(default_factory=dict)
    new_move_albums: list[str] = field(default_factory=list)  # of those, to create
    untags: dict[str, int] = field(default_factory=dict)
    # Tags: tag -> files backed up before it would add it to (the settings changed, or
    # not set yet); tag -> files it set it on before and would set it on again as the check that it
    # held (the server can lose a tag set after an upload; see tagging.py).
    added_tags: dict[str, int] = field(default_factory=dict)
    tags_to_check: dict[str, int] = field(default_factory=dict)
    # Include folders not there (not mounted) or not readable, as the pass finds them:
    # nothing below them is counted, and the pass would not be complete.
    folder_problems: list[FolderProblem] = field(default_factory=list)
    # Optional permissions the key lacks (``stack.create``, ``tag.create``, ``tag.asset``):
    # the stacks and tags counted above would not be made. Empty when the server does
    # not tell a key's permissions (the pass then learns it from a refusal).
    lacking: tuple[str, ...] = ()
    # The state was of an earlier release: this report read an upgraded copy of it (the
    # real one stays as it was until a pass upgrades it). None: the state itself.
    upgraded: UpgradedCopy | None = None

    @property
    def bytes(self) -> int:
        return sum(size for _, size, _ in self.to_upload)

    def count(self, kind: str) -> int:
        return sum(1 for _, _, k in self.to_upload if k == kind)


def plan_listings(
    listings: Iterable[DirListing],
    records_for: RecordsFn,
    rules: AlbumRules,
    *,
    album_sync: bool,
    existing_albums: Iterable[str],
    ignore_placeholders: bool,
    now: float,
    stacks: tuple[bool, bool] = (False, False),
) -> DryRunReport:
    """Fold the pass's plan of every folder into a report (no I/O of its own beyond
    ``records_for``). ``stacks``: ``backup.stacks``' (raw_jpeg, bursts)."""
    report = DryRunReport()
    for listing in listings:
        report.seen += len(listing.files) + len(listing.unchanged)
        report.backed_up += len(listing.unchanged)
        if not listing.files:
            continue
        album = rules.album_name_for(listing.path / "_")
        records = records_for(listing.path, [st.name for st in listing.files])
        plan = plan_dir(listing.path, listing.files, listing.kinds, listing.sidecars,
                        records, album, now, pairs=listing.pairs,
                        ignore_placeholders=ignore_placeholders)
        report.seen -= plan.placeholders
        report.placeholders += plan.placeholders
        report.backed_up += plan.done
        report.left_out += plan.skipped
        report.retry_later += plan.waiting
        uploading: set[str] = set()
        for unit in plan.units:
            for cand in unit.members:
                report.to_upload.append((cand.path, cand.stat.size, cand.kind))
                uploading.add(cand.path.name)
                if album_sync and cand.album:
                    report.albums[cand.album] = report.albums.get(cand.album, 0) + 1
                for tag in rules.tags_for(cand.path):
                    report.tags[tag] = report.tags.get(tag, 0) + 1
        if any(stacks) and uploading:
            names = [st.name for st in listing.files] + list(listing.unchanged)
            report.stacks += sum(
                1 for g in stacks_in_folder(names, raw_jpeg=stacks[0], bursts=stacks[1])
                if uploading.intersection(g.members))
    known = set(existing_albums)
    report.new_albums = sorted(a for a in report.albums if a not in known)
    return report


def dry_run_scan(rules: AlbumRules, media: MediaTypes, records_for: RecordsFn,
                 known: KnownFn | None, *, album_sync: bool, existing_albums: Iterable[str],
                 ignore_placeholders: bool, follow_symlinks: bool,
                 stacks: tuple[bool, bool] = (False, False)) -> DryRunReport:
    """Walk the include folders and plan them (blocking: run it in a thread). A folder
    that cannot be listed is a problem in the report, classified as the pass's scan does
    (an include folder not there: waited for), not a logged OS error."""
    problems: list[FolderProblem] = []

    def on_error(path: Path, exc: OSError) -> None:
        is_root = rules.is_root(path)
        if not folder_problems.is_vanished(exc, is_root=is_root):
            problems.append(folder_problems.classify(path, exc, is_root=is_root))

    report = plan_listings(
        walk(rules, media, known=known, follow_symlinks=follow_symlinks, on_error=on_error),
        records_for, rules, album_sync=album_sync, existing_albums=existing_albums,
        ignore_placeholders=ignore_placeholders, now=time.time(), stacks=stacks)
    report.folder_problems = problems
    return report


class FollowupReads(Protocol):
    """The state's reads :func:`settings_followups` needs (``state.WorkerReads``)."""

    def meta(self, key: str) -> str | None: ...

    def albums_of_files(self) -> list[tuple[int, bytes, Path, str | None, int, bool]]: ...

    def tags_of_files(self) -> list[tuple[str, str, Path]]: ...

    def tag_removals(self) -> list[tuple[str, str, float | None]]: ...

    def on_server_under(self, root: Path) -> list[tuple[Path, str]]: ...

    def open_tags(self) -> list[tuple[str, str, float | None]]: ...

    def tag_pairs(self) -> set[tuple[str, str]]: ...

    def unread_burst_count(self, extensions: Iterable[str]) -> int: ...


def settings_followups(report: DryRunReport, reads: FollowupReads, rules: AlbumRules,
                       media: MediaTypes, *, album_sync: bool, now: float,
                       bursts: bool = False, existing_albums: Iterable[str] = ()) -> None:
    """Count in ``report`` what the next pass would add to albums and take off as tags
    because the per-folder settings changed, and with ``bursts`` the photos whose burst
    id it would read (blocking: run it in a thread). The albums the moves go to that
    neither ``existing_albums`` (the server's) nor the uploads' new albums have are
    the ones it would create for them (``new_move_albums``)."""
    if bursts:
        report.bursts_to_read = reads.unread_burst_count(BURST_EXTENSIONS)
    if album_sync and reads.meta(ALBUM_SETTINGS_KEY) != album_settings_text(rules):
        files = [FileAlbum(*row) for row in reads.albums_of_files()]
        for album, _, _ in moved_albums(files, rules, media):
            if album is not None:
                report.album_moves[album] = report.album_moves.get(album, 0) + 1
        known = set(existing_albums) | set(report.new_albums)
        report.new_move_albums = sorted(a for a in report.album_moves if a not in known)
    pairs: list[tuple[str, str]] = []
    unwanted: set[tuple[str, str]] = set()
    if reads.meta(TAG_SETTINGS_KEY) != tag_settings_text(rules):
        unwanted = set(unwanted_tags(reads.tags_of_files(), rules))
        pairs += unwanted
        files = [f for naming in rules.tag_settings for f in reads.on_server_under(naming.root)]
        for _, tag in added_tags(files, rules, reads.tag_pairs()):
            report.added_tags[tag] = report.added_tags.get(tag, 0) + 1
    due = removals_due([Removal(*r) for r in reads.tag_removals()], now)
    pairs += [(a, tag) for tag, assets in due.items() for a in assets]
    for _, tag in set(pairs):
        report.untags[tag] = report.untags.get(tag, 0) + 1
    for remote_id, tag, set_at in reads.open_tags():  # the pass sends every open pair
        if (remote_id, tag) not in unwanted:
            into = report.added_tags if set_at is None else report.tags_to_check
            into[tag] = into.get(tag, 0) + 1
