"""The scan stage: walk the include folders, plan each folder, feed the hashers.

The first stage of a pass. In a thread, the walk (``scan/walk.py``) and the state's rows of
each folder are read together: a file whose stat matches its backed-up record exactly
is only counted (most of a rescan); the rest come with their records (:class:`Scanned`)
and are planned (``plan.py``) into units. What this pass leaves for later or reports
is the stage's own :class:`ScanResult`: files of a kind the conditions hold back, the
caller's holds (the daemon's file events), cloud placeholders, folders that cannot be
read or are not mounted, late sidecars, and records whose file is gone. Files still
being written wait in the settle queue (``settling.py``) and go up within
``settle_wait`` when they settle. Groups of small files are hashed by the
scanning task itself (see SMALL_FILE); the rest go to the hash workers' queue, ended
by one END per worker on a normal end.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..config import Settings
from ..media import placeholders
from ..media.kinds import MediaTypes
from ..scan import folder_problems
from ..scan.changes import FileStat
from ..scan.folder_problems import FolderProblem, ProblemKind
from ..scan.rules import AlbumRules
from ..scan.walk import DirListing, KnownFn, walk, walk_targets
from ..state import DirKnown, FileRecord, WorkerReads
from .gonefolders import folder_gone, is_empty, record_paths
from .hash import HashStage
from .plan import END, Unit, plan_dir
from .record import Recorder
from .settling import HeldFolder, SettleQueue, wait_for_settled
from .sidecars import LateSidecar, check_folder

log = logging.getLogger("immich_backupd.pipeline")

GROUP_FILES = 512  # units handed to a hash worker at once ...
GROUP_BYTES = 8 << 20  # ... or this many bytes, so large files still stream through
# A group whose files average at most this size is hashed by the scanning task itself,
# not by the hash workers: for small files the cost is the syscalls, each of which gives
# up the GIL and waits to get it back; two threads doing that at once wait for each
# other. Larger files hash with the GIL released and gain from the parallel workers.
SMALL_FILE = 64 << 10
SCAN_BATCH_FILES = 4096  # files the scanning thread walks before it hands them over


@dataclass(frozen=True, slots=True)
class ScanTargets:
    """Where a partial pass looks: folders alone, and trees with everything below."""

    folders: frozenset[Path] = frozenset()
    trees: frozenset[Path] = frozenset()


class Hold(StrEnum):
    """The caller's verdict on a file about to be planned (the daemon's file events)."""

    HOLD = "hold"  # still being written: leave it for a later pass (listed in ``held``)
    SETTLED = "settled"  # seen written, closed and quiet: no need to wait for its mtime
    UNKNOWN = "unknown"  # no events about it: the settle_time rule decides (settling.py)


HoldFn = Callable[[Path, FileStat], Hold]


@dataclass(frozen=True, slots=True)
class PassScope:
    """What one pass looks at and what it leaves for later, as its caller decides (the
    daemon, ``once``); the default is a whole pass that leaves files still being
    written for later.

    ``targets``: where a partial pass looks (None: every include folder).
    ``kinds``: the kinds it may upload (None: images and videos; else only these: the
    conditions hold the rest, in ``ScanResult.held_by_condition``).
    ``hold``: the caller's verdict on a file by its events (None: the settle_time rule
    alone decides).
    ``settle_wait``: how long the pass waits, after its scan, for files still being
    written to settle, and backs them up (``once``); 0 leaves them in
    ``PassResult.held`` (the daemon comes back for them)."""

    targets: ScanTargets | None = None
    kinds: frozenset[str] | None = None
    hold: HoldFn | None = None
    settle_wait: float = 0.0


#: Every include folder, every kind, files still being written left for later.
WHOLE_PASS = PassScope()


@dataclass(slots=True)
class Scanned:
    """One folder as the scanning thread hands it over: its listing, the records of the
    files in ``listing.files`` that have one, and the paths of records whose file is no
    longer there."""

    listing: DirListing
    records: dict[str, FileRecord]
    gone: list[Path]


@dataclass(slots=True)
class ScanResult:
    """What the scan found for the pass to report or act on, filled as it goes (the
    folder problems from the scanning thread): read it once the stage has ended, also
    when it ended early (a stop, another stage's error)."""

    # The files the caller held (``Hold.HOLD``: still being written, by its events).
    held: list[Path] = field(default_factory=list)
    # The files of a kind the conditions hold back, with their kind ("video", "image").
    held_by_condition: dict[Path, str] = field(default_factory=dict)
    # Include folders not there (not mounted) and folders that cannot be read.
    folder_problems: list[FolderProblem] = field(default_factory=list)
    # Cloud placeholders left out (their photo is not on this disk), with their kind.
    cloud_placeholders: dict[Path, str] = field(default_factory=dict)
    # The photos of the folders compared for late sidecars (see sidecars.py).
    late_sidecars: list[LateSidecar] = field(default_factory=list)
    # Paths with a record but no file now: forgotten at the end of the pass if still
    # gone (a file moved within the pass still needs its old record until then).
    gone: list[Path] = field(default_factory=list)


class ScanStage:
    """Walks and plans for one pass; what it leaves for later or reports is in
    ``result`` (a :class:`ScanResult` of its own). ``media``: the server's media types."""

    def __init__(self, settings: Settings, rules: AlbumRules, media: MediaTypes,
                 reads: WorkerReads, recorder: Recorder, hash_stage: HashStage, *,
                 stop: asyncio.Event, settling: SettleQueue,
                 clock: Callable[[], float], scope: PassScope) -> None:
        self.settings = settings
        self.rules = rules
        self.media = media
        self._reads = reads
        self.rec = recorder
        self.hash = hash_stage
        self.stop = stop
        self._settling = settling
        self.clock = clock
        self.scope = scope
        self.result = ScanResult()
        self._unavailable_roots: set[Path] = set()  # empty now, files known: not mounted
        self._walked: set[str] | None = None  # the folders listed, once the walk ended

    def _listings(self, known: KnownFn) -> Iterator[DirListing]:
        def on_error(path: Path, exc: OSError) -> None:
            is_root = self.rules.is_root(path)
            if folder_problems.is_vanished(exc, is_root=is_root):
                log.debug("folder %s vanished during the scan", path)
                return
            problem = folder_problems.classify(path, exc, is_root=is_root)
            problems = self.result.folder_problems
            if any(p.path == problem.path for p in problems):
                return  # found missing before the walk
            problems.append(problem)
            if problem.kind is ProblemKind.MISSING:
                log.warning("include folder %s is not there (not mounted?): not backed up "
                            "this time; nothing of it is forgotten", path)
            else:
                log.warning("cannot read folder %s: %s", path, exc.strerror or exc)

        self._find_unmounted()

        targets = self.scope.targets
        if targets is not None:
            return walk_targets(self.rules, self.media, targets.folders, targets.trees,
                                on_error=on_error, known=known)
        return walk(self.rules, self.media, known=known,
                    follow_symlinks=self.settings.backup.follow_symlinks, on_error=on_error)

    def _scanned(self) -> Iterator[Scanned]:
        """Walk and read the state together, in the scanning thread: a file whose stat
        matches its backed-up record exactly is only counted (most of a rescan); the
        rest come with their records. A folder's rows are read once: the few columns
        the walk compares, for all of them, before it is listed (``dir_known``); then
        the full records of only the files listed new or changed that have one."""
        known_here = DirKnown({}, [])
        visited: set[str] = set()  # the folders listed, for the folders gone
        unlisted: str | None = None  # the last folder read that had records, until listed

        def known(directory: str) -> dict[str, tuple[int, int, int]]:
            nonlocal known_here, unlisted
            if unlisted is not None:  # it had records and listed nothing
                self._forget_unlisted(unlisted, known_here)
            known_here = self._reads.dir_known(directory)
            visited.add(directory)
            unlisted = directory if (known_here.on_server or known_here.others) else None
            return known_here.on_server

        late_dirs = self._reads.late_dirs()  # compared even with no sidecar left
        for listing in self._listings(known):
            unlisted = None
            if listing.root in self._unavailable_roots:
                continue  # a mount point without its disk: nothing there is "deleted"
            # The photos not uploaded again: the unchanged, and the unchanged halves of
            # live photos listed with their changed other half (planned as done).
            same = (listing.unchanged + listing.partners if listing.partners
                    else listing.unchanged)
            if (listing.sidecars or str(listing.path) in late_dirs) and same:
                self.result.late_sidecars += check_folder(
                    self._reads, listing.path, same, listing.sidecars,
                    self.settings.backup.follow_symlinks)
            on_server, others = known_here
            # Every unchanged file is one of ``on_server``: when they are all the folder
            # has, and nothing else changed, there is nothing more to read.
            if not listing.files and not others and len(on_server) == len(listing.unchanged):
                yield Scanned(listing, {}, [])
                continue
            listed = {st.name for st in listing.files}
            # Records of files no longer here (deleted, moved, no longer candidates) are
            # dropped at the end of the pass (a moved file found later in this pass still
            # needs its old record), so counts stay true. The server keeps its copy: this
            # is a backup, not a sync.
            wanted = [name for name in listed if name in on_server] if on_server else []
            gone = [listing.path / name for name in others if name not in listed]
            if len(on_server) > len(listing.unchanged) + len(wanted):  # some are not here
                present = listed.union(listing.unchanged)
                gone += [listing.path / name for name in on_server if name not in present]
            if others:
                wanted += [name for name in others if name in listed]
            records = self._reads.dir_records(str(listing.path), wanted) if wanted else {}
            yield Scanned(listing, records, gone)
        # The walk has ended (a stopped pass never gets here).
        if unlisted is not None:
            self._forget_unlisted(unlisted, known_here)
        self._walked = visited  # the folders gone are looked for once the files are planned

    def _forget_unlisted(self, folder: str, known: DirKnown) -> None:
        """A folder with records that listed nothing: its files are gone, unless it is
        empty (maybe a disk's mount point) or in an include folder taken as not mounted
        (see gonefolders)."""
        if self.rules.root_of(Path(folder)) in self._unavailable_roots or is_empty(folder):
            return
        self.result.gone += record_paths(folder, known)

    def _forget_folders_gone(self, visited: set[str]) -> None:
        """After the walk and the wait for files being written: the folders with records
        in or below what it looked at (every include folder, or a partial pass's
        targets) that it did not enter and that are not there any more (see
        gonefolders). A partial pass needs this as much as a full one: the daemon's pass
        for a deleted folder has that folder (gone, so not walked) or its parent
        (walked, but not below) as its targets. Not in a pass that leaves files for a
        later one (still being written, held by the conditions): they may be these
        folders' files, moved (a folder renamed), which that pass finds by inode through
        their records, so that their tags and albums follow them."""
        if len(self._settling) or self.result.held or self.result.held_by_condition:
            return
        done: set[str] = set()
        targets = self.scope.targets
        scopes = (list(self.rules.roots) if targets is None
                  else sorted({*targets.folders, *targets.trees}))
        for scope in scopes:
            root = scope if targets is None else self.rules.root_of(scope)
            if root is None or root in self._unavailable_roots or not root.is_dir():
                continue
            root_s = str(root)
            for folder in self._reads.record_dirs_below(str(scope)):
                if folder in visited or folder in done:
                    continue
                done.add(folder)
                if (self.rules.root_of(Path(folder)) == root
                        and folder_gone(folder, root_s)):
                    self.result.gone += record_paths(folder, self._reads.dir_known(folder))

    def _find_unmounted(self) -> None:
        """An include folder that is empty now although files were backed up from it is
        a mount point whose disk is not there: treat it as missing, so that its files
        are not taken for deleted (the scanning thread, before the walk)."""
        targets = self.scope.targets
        scope = None if targets is None else {*targets.trees, *targets.folders}
        for root in self.rules.roots:
            if scope is not None and root not in scope:
                continue
            try:
                with os.scandir(root) as it:
                    empty = next(it, None) is None
            except OSError as err:  # a partial pass does not walk roots: say it here
                if scope is not None:
                    self.result.folder_problems.append(
                        folder_problems.classify(root, err, is_root=True))
                continue
            if empty and self._reads.has_records_below(str(root)):
                self._unavailable_roots.add(root)
                self.result.folder_problems.append(folder_problems.FolderProblem(
                    str(root), ProblemKind.MISSING, folder_problems.EMPTY))
                log.warning("include folder %s is empty, but files were backed up from it: "
                            "taken as not mounted; nothing of it is forgotten", root)

    async def run(self, hash_q: asyncio.Queue[object], check_q: asyncio.Queue[object],
                  n_workers: int) -> None:
        """Walk, plan and feed the hashers; then wait for files still being written
        (``settle_wait``); then end ``hash_q`` for each of the ``n_workers``."""
        try:
            it = self._scanned()
            while not self.stop.is_set():
                batch = await asyncio.to_thread(_take, it, SCAN_BATCH_FILES)
                if not batch:
                    break
                units: list[Unit] = []
                for scanned in batch:
                    units += self._plan_listing(scanned)
                self.rec.notify()
                await self._feed(units, hash_q, check_q)
            self.rec.progress.scanning = False
            await self._wait_for_settling(hash_q, check_q)
            if self._walked is not None and not self.stop.is_set():
                await asyncio.to_thread(self._forget_folders_gone, self._walked)
        finally:
            self.rec.progress.scanning = False
        # Only on a normal end: when the pass is torn down (another stage failed and the
        # task group cancels us), the consumers are gone, and a full queue would block
        # this put, and with it the whole pass, for ever.
        for _ in range(n_workers):
            await hash_q.put(END)

    async def _feed(self, units: list[Unit], hash_q: asyncio.Queue[object],
                    check_q: asyncio.Queue[object]) -> None:
        """Hand planned units on: small files hashed here, the rest by the workers."""
        for group in _groups(units):
            if self.stop.is_set():
                break
            members = [c for u in group for c in u.members]
            if sum(c.stat.size for c in members) <= SMALL_FILE * len(members):
                await self.hash.digest_and_pass(group, check_q)
            else:
                await hash_q.put(group)

    async def _wait_for_settling(self, hash_q: asyncio.Queue[object],
                                 check_q: asyncio.Queue[object]) -> None:
        """Back up the files still being written that settle within ``settle_wait``."""
        async def settled(held: HeldFolder, files: list[FileStat]) -> None:
            if not self.stop.is_set():
                await self._feed(self._plan(held, files), hash_q, check_q)

        await wait_for_settled(self._settling, clock=self.clock,
                               until=self.clock() + self.scope.settle_wait, stop=self.stop,
                               follow_symlinks=self.settings.backup.follow_symlinks,
                               on_settled=settled)

    def _held_back(self, where: HeldFolder, files: list[FileStat]) -> list[FileStat]:
        """The files of a folder this pass works on now; the rest wait: for the
        conditions (their kind), until they settle (still being written: see
        settling.py), or for the caller's ``hold``."""
        keep = files
        kinds, hold = self.scope.kinds, self.scope.hold
        if kinds is not None:
            keep = []
            for st in files:
                kind = where.kinds.get(st.name)
                if kind not in kinds:
                    self.result.held_by_condition[where.path / st.name] = kind or "image"
                    self.rec.progress.skipped += 1  # waiting for the network to allow its kind
                    continue
                keep.append(st)
        vouched: list[FileStat] = []
        if hold is not None:
            files, keep = keep, []
            for st in files:
                verdict = hold(where.path / st.name, st)
                if verdict is Hold.HOLD:
                    self.result.held.append(where.path / st.name)
                    self.rec.progress.skipped += 1
                elif verdict is Hold.SETTLED:
                    vouched.append(st)
                else:
                    keep.append(st)
        # Files the events vouch for go now: a photo written and closed a second ago
        # goes up within trigger_delay, not after settle_time.
        return vouched + self._settling.hold_recent(where, keep, self.clock())

    def _plan_listing(self, scanned: Scanned) -> list[Unit]:
        listing = scanned.listing
        self.result.gone += scanned.gone
        p = self.rec.progress
        p.seen += len(listing.files) + len(listing.unchanged)
        p.backed_up += len(listing.unchanged)
        if listing.placeholders:
            self._note_placeholders(listing)
        if not listing.files:
            return []
        album = self.rules.album_name_for(listing.path / "_")
        where = HeldFolder(listing.path, listing.kinds, listing.sidecars, scanned.records,
                           album, listing.pairs)
        return self._plan(where, self._held_back(where, listing.files))

    async def note_late_sidecars(self) -> None:
        """Record (and log) the photos whose sidecar the scan found changed since their
        upload: Immich cannot take it now (see sidecars.py)."""
        late = self.result.late_sidecars
        for item in late:
            if item.late:
                log.warning("%s: its sidecar was added or changed after the upload; Immich "
                            "takes a sidecar only with the upload, so it did not get it",
                            item.path, extra={"path": str(item.path)})
        await self.rec.store.set_late_sidecars([(i.late, i.dir_key, i.name)
                                                for i in late])

    def _note_placeholders(self, listing: DirListing) -> None:
        """List the placeholders this pass leaves out; count those not in ``files``
        (Nextcloud's, never read: ``plan_dir`` counts the others)."""
        ignore = self.settings.backup.ignore_cloud_placeholders
        for name, kind in listing.placeholders.items():
            if placeholders.skipped(kind, ignore=ignore):
                self.result.cloud_placeholders[listing.path / name] = kind
            if not placeholders.downloads_on_read(kind):
                self.rec.progress.seen += 1
                self.rec.progress.skipped += 1

    def _plan(self, where: HeldFolder, files: list[FileStat]) -> list[Unit]:
        """Plan files of one folder (``where`` gives its kinds, sidecars and records)."""
        p = self.rec.progress
        plan = plan_dir(where.path, files, where.kinds, where.sidecars, where.records,
                        where.album, self.clock(), pairs=where.pairs,
                        ignore_placeholders=self.settings.backup.ignore_cloud_placeholders)
        p.backed_up += plan.done
        p.skipped += plan.skipped + plan.waiting + plan.placeholders
        members = [c for u in plan.units for c in u.members]
        p.planned += len(members)
        p.bytes_planned += sum(c.stat.size for c in members)
        return plan.units


def _take(it: Iterator[Scanned], files: int) -> list[Scanned]:
    """The next folders of ``it``, until they hold ``files`` files (or it ends)."""
    out: list[Scanned] = []
    n = 0
    for scanned in it:
        out.append(scanned)
        n += len(scanned.listing.files) + len(scanned.listing.unchanged)
        if n >= files:
            break
    return out


def _groups(units: list[Unit]) -> Iterator[list[Unit]]:
    """Split units into groups of at most GROUP_FILES units or GROUP_BYTES."""
    group: list[Unit] = []
    size = 0
    for unit in units:
        group.append(unit)
        m = unit.members
        size += m[0].stat.size if len(m) == 1 else sum(c.stat.size for c in m)
        if len(group) >= GROUP_FILES or size >= GROUP_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group
