"""One backup pass: scan → plan → hash → dedupe → check → upload → record → albums.

A bounded pipeline (restic's archiver): the scanner feeds hash workers through a small
queue, hashed units are checked with the server in batches, and accepted ones go to a
fixed number of upload workers. A full queue slows the stage before it, so memory stays
flat on huge trees, and hashing overlaps with checking and uploading.

Exactly once: every outcome is committed to the state as soon as it is known. A crash
between the server's answer and that commit is harmless: the next pass finds the
content with ``bulk-upload-check`` (or the server answers "duplicate" to the checksum
header) and records it, without a second upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from .. import folder_problems, placeholders
from ..changes import FileStat
from ..config import Settings
from ..errors import BackupdError, QuotaExceededError, ServerUnavailableError, StateError
from ..folder_problems import FolderProblem, ProblemKind
from ..hashing import Hasher
from ..immich.client import ImmichClient
from ..immich.errors import ApiError, TransportError
from ..immich.retry import RetryPolicy
from ..report.progress import Progress, Reporter
from ..rules import AlbumRules
from ..scan import DirListing, KnownFn, walk, walk_targets
from ..state import (
    FileRecord,
    PassStats,
    StateStore,
    WorkerReads,
    row_to_record,
)
from .albums import sync_albums
from .check import END, CheckStage
from .connect import ServerInfo
from .hash import KEEP_MAX as KEEP_MAX  # re-exported: tests size files by it
from .hash import HashStage, KeptBytes
from .jobpause import META_KEY as PAUSED_QUEUES_KEY
from .jobpause import JobPause, resume_leftovers, should_pause
from .pacer import Pacer
from .plan import (
    Unit,
    plan_dir,
)
from .record import Recorder
from .server import PassServer, Retrying, ServerWait, stop_aware_pause
from .settling import HeldFolder, SettleQueue, wait_for_settled
from .sidecars import LateSidecar, check_folder
from .stacking import sync_stacks
from .tagging import sync_tags
from .upload import UploadStage

log = logging.getLogger("immich_backupd.pipeline")

_END = END
GROUP_FILES = 512  # units handed to a hash worker at once ...
GROUP_BYTES = 8 << 20  # ... or this many bytes, so large files still stream through
# A group whose files average at most this size is hashed by the scanning task itself,
# not by the hash workers: for small files the cost is the syscalls, each of which gives
# up the GIL and waits to get it back; two threads doing that at once wait for each
# other. Larger files hash with the GIL released and gain from the parallel workers.
SMALL_FILE = 64 << 10
SCAN_BATCH_FILES = 4096  # files the scanning thread walks before it hands them over
T = TypeVar("T")


def state_error(path: Path, exc: BaseException) -> StateError:
    """The one-line error for a state database that cannot be written."""
    return StateError(
        f"cannot write the state database {path}: {exc}; make room (or fix the "
        "permissions) there and run again: the next pass goes on where this one stopped, "
        "and uploads nothing twice")


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


@dataclass(slots=True)
class Scanned:
    """One folder as the scanning thread hands it over: its listing, the records of the
    files in ``listing.files`` that have one, and the paths of records whose file is no
    longer there."""

    listing: DirListing
    records: dict[str, FileRecord]
    gone: list[Path]


@dataclass(slots=True)
class PassResult:
    outcome: str  # complete | partial (some failed) | quota | auth | offline | stopped
    progress: Progress
    error: BackupdError | None = None
    # Files left for later: still being written, or changed while read. The daemon
    # looks at them again when they settle; ``once`` reports them.
    held: list[Path] = field(default_factory=list)
    # The wall time the first of the held files still being written may settle (None:
    # none, or only files that changed while read: look again at once).
    settle_at: float | None = None
    # Files backed up before that changed since, uploaded again as new versions (the
    # server keeps the earlier ones too).
    new_versions: list[Path] = field(default_factory=list)
    # Files of a kind the conditions hold back (videos on a metered network), with it.
    held_by_condition: dict[Path, str] = field(default_factory=dict)
    # Folders not backed up: include folders not there (not mounted), unreadable ones.
    # The state keeps the current list (folder_problems.META_KEY).
    folder_problems: list[FolderProblem] = field(default_factory=list)
    # Cloud placeholders left out (their photo is not on this disk), with their kind.
    # The state keeps the current list (placeholders.META_KEY).
    cloud_placeholders: dict[Path, str] = field(default_factory=dict)


class BackupPass:
    """One pass over the configured folders. Build, then ``await run()`` once."""

    def __init__(
        self,
        settings: Settings,
        client: ImmichClient,
        store: StateStore,
        server: ServerInfo,
        *,
        reporter: Reporter | None = None,
        hasher: Hasher | None = None,
        clock: Callable[[], float] = time.time,
        targets: ScanTargets | None = None,
        hold: HoldFn | None = None,
        kinds: frozenset[str] | None = None,
        settle_wait: float = 0.0,
    ) -> None:
        """``settle_wait``: how long the pass waits, after its scan, for files still
        being written to settle and backs them up (``once``); 0 leaves them in
        ``PassResult.held`` (the daemon comes back for them)."""
        self.settings = settings
        self.client = client
        self.store = store
        self.server = server
        self.reporter = reporter or Reporter()
        self.hasher = hasher or Hasher()
        self._own_hasher = hasher is None
        self.clock = clock
        self.targets = targets
        self.hold = hold
        self.kinds = kinds  # None: images and videos; else only these (metered network)
        self.held: list[Path] = []
        self.held_by_condition: dict[Path, str] = {}  # path -> its kind ("video", "image")
        self._settling = SettleQueue(settings.backup.settle_time)
        self.settle_wait = settle_wait
        self.folder_problems: list[FolderProblem] = []  # appended from the scanning thread
        self.cloud_placeholders: dict[Path, str] = {}  # skipped: path -> kind
        self._unavailable_roots: set[Path] = set()  # empty now, files known: not mounted
        self._gone: list[Path] = []
        # Photos whose sidecar changed after their upload, or back (see sidecars.py).
        self.late_sidecars: list[LateSidecar] = []
        self.rules = AlbumRules.from_settings(settings.albums)
        backup = settings.backup
        self.policy = RetryPolicy(backup.retry.max_attempts, backup.retry.initial,
                                  backup.retry.max)
        self.progress = Progress()
        self.stats = PassStats()
        self._stop = asyncio.Event()
        # The server calls of the stages, retried in one place (server.py); when the
        # tries run out because the server went away, the pass waits for it (files are
        # not marked failed: they are simply backed up next time).
        self.server_wait = ServerWait(client.ping, client.api_url, self.policy,
                                      stopping=lambda: self.stopping,
                                      pause=stop_aware_pause(self._stop),
                                      on_waiting=self._waiting_for_server, clock=clock)
        self.api: PassServer = Retrying(client, self.policy, wait=self.server_wait)
        self._reads = WorkerReads(store.path)
        # Stage 2: hashing (hash.py), with the budget of file bytes kept for the uploads.
        self._kept = KeptBytes(lambda: self.stopping)
        # Stage 5: every outcome is written, counted and reported there (record.py).
        self._rec = Recorder(store, self.progress, self.reporter,
                             give_back=self._kept.give_back, clock=clock)
        self._hash = HashStage(self.hasher, self._reads, self._rec, self._kept,
                               stopping=lambda: self.stopping, held=self.held)
        # The error that ends the pass (quota, key, offline, state), raised once the
        # uploads in flight have finished and been recorded (see _pipeline).
        self._fatal: BaseException | None = None
        # Bulk-import mode: the server's job queues paused once this many files go up.
        self._jobs = JobPause(client, store)
        # Stage 3: the check (check.py).
        self._check = CheckStage(self.api, self._rec,
                                 batch_size=settings.backup.check_batch_size,
                                 stopping=lambda: self.stopping, on_queued=self._queued)
        # Stage 4: the uploads (upload.py), under the bandwidth cap shared by all of them.
        table = backup.bandwidth_table
        self._upload = UploadStage(
            self.api, self._rec, quota=server.quota, stopping=lambda: self.stopping,
            fail_pass=self._fail_pass, held=self.held,
            pace=Pacer(table) if any(s.rate for s in table.slots) else None)

    # -- control -------------------------------------------------------------------
    def request_stop(self) -> None:
        """Take no new work; uploads in flight finish; then the pass ends as stopped."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _notify(self) -> None:
        self._rec.notify()

    # -- the pass ------------------------------------------------------------------
    async def run(self) -> PassResult:
        """Run the pass. Every upload the server finished is recorded before it ends, also
        on a quota answer, a rejected key, a server gone or a stop; the pass row is closed
        with the outcome, also when the pass is cancelled ("aborted", then re-raised)."""
        pass_id = await self.store.start_pass()
        if await self.store.get_meta(PAUSED_QUEUES_KEY):
            # A pass killed while the server's queues were paused: resume them first.
            with contextlib.suppress(ApiError, TransportError):
                await resume_leftovers(self.client, self.store)
        outcome = "complete"
        error: BackupdError | None = None
        cancelled = False
        try:
            try:
                await self._pipeline()
            finally:
                if self._rec.waiting:  # ended early (quota, offline)
                    with contextlib.suppress(sqlite3.Error):
                        await self._rec.flush()
            await self._note_late_sidecars()
            if not self.stopping:
                await self.store.forget_many(p for p in self._gone if not p.exists())
            if not self.stopping and self.settings.backup.album_sync:
                self.progress.phase = "albums"
                self._notify()
                # Albums are retried, but do not wait for a server gone (as before).
                await sync_albums(Retrying(self.client, self.policy), self.store,
                                  user_id=self.server.user_id)
            if not self.stopping:  # also for the folders whose stacking failed before
                await sync_stacks(self.client, self.store, self.policy,
                                  self.settings.backup.stacks, self._rec.stack_dirs)
            if not self.stopping and self.rules.has_tags:
                await sync_tags(self.client, self.store, self.policy, self.rules,
                                self._rec.stack_dirs, self.clock())
        except* QuotaExceededError as group:
            outcome, error = "quota", group.exceptions[0]
        except* ServerUnavailableError as group:
            outcome, error = "offline", group.exceptions[0]
        except* BackupdError as group:
            outcome, error = "auth", group.exceptions[0]
        except* sqlite3.Error as group:
            outcome, error = "state", state_error(self.store.path, group.exceptions[0])
        except* asyncio.CancelledError:
            outcome, cancelled = "aborted", True
        finally:
            if self._jobs.paused:
                with contextlib.suppress(ApiError, TransportError, sqlite3.Error):
                    await self._jobs.resume()
            if self._own_hasher:
                self.hasher.close()
            self._reads.close()
        settle_at = self._settling.next_at()
        settling = self._settling.paths()
        self.held += settling
        self.progress.skipped += len(settling)
        if outcome == "complete":
            if self.stopping:
                outcome = "stopped"
            elif self.progress.failed or self.folder_problems:
                outcome = "partial"
        if outcome in ("complete", "partial"):
            with contextlib.suppress(sqlite3.Error):
                await self._save_folder_problems()
                await self._save_placeholders()
        self.stats.seen = self.progress.seen
        self.stats.hashed = self.progress.hashed
        self.stats.uploaded = self.progress.uploaded
        self.stats.duplicates = self.progress.duplicates
        self.stats.failed = self.progress.failed
        self.stats.bytes = self.progress.bytes_uploaded
        with contextlib.suppress(Exception):
            await self.store.finish_pass(pass_id, self.stats, outcome)
        if cancelled:
            raise asyncio.CancelledError
        self.progress.phase = "done" if outcome in ("complete", "partial") else outcome
        self.progress.scanning = False
        try:
            self.reporter.pass_done(self.progress, outcome)
        except Exception:
            log.exception("pass reporter failed")
        if isinstance(error, StateError):
            # Not an outcome of the files but of the machine, like a held lock: raised,
            # so that every caller (once, the daemon) reports it and tries again later.
            raise error
        return PassResult(outcome=outcome, progress=self.progress, error=error,
                          held=self.held, held_by_condition=self.held_by_condition,
                          folder_problems=self.folder_problems, settle_at=settle_at,
                          cloud_placeholders=self.cloud_placeholders,
                          new_versions=self._rec.new_versions)

    async def _save_folder_problems(self) -> None:
        """Keep the current list: what this pass found, and the earlier problems of the
        folders it did not look at (a partial pass)."""
        scope = None if self.targets is None else self.targets.folders | self.targets.trees
        old = folder_problems.loads(await self.store.get_meta(folder_problems.META_KEY))
        new = folder_problems.merge(old, self.folder_problems, scope=scope)
        await self.store.set_meta(folder_problems.META_KEY, folder_problems.dumps(new))

    async def _save_placeholders(self) -> None:
        """Keep the list of skipped placeholders, as for folder problems."""
        t = self.targets
        old = placeholders.loads(await self.store.get_meta(placeholders.META_KEY))
        new = placeholders.merge(old, {str(p): k for p, k in self.cloud_placeholders.items()},
                                 folders=None if t is None else t.folders,
                                 trees=None if t is None else t.trees)
        if new != old:
            await self.store.set_meta(placeholders.META_KEY, placeholders.dumps(new))

    async def _pipeline(self) -> None:
        hash_q: asyncio.Queue[object] = asyncio.Queue(maxsize=256)
        check_q: asyncio.Queue[object] = asyncio.Queue(maxsize=8)  # groups
        upload_q: asyncio.Queue[object] = asyncio.Queue(maxsize=64)
        hash_workers = max(1, self.hasher.workers)
        upload_workers = self.settings.backup.concurrency
        self.progress.phase = "scanning"
        async with asyncio.TaskGroup() as tg:
            feeders = tg.create_task(self._feeders(hash_q, check_q, upload_q, hash_workers,
                                                   upload_workers))
            uploaders = [tg.create_task(self._upload.run(upload_q))
                         for _ in range(upload_workers)]
            tg.create_task(self._rec.run([feeders, *uploaders]))
        if self._fatal is not None:
            raise self._fatal

    async def _feeders(self, hash_q: asyncio.Queue[object], check_q: asyncio.Queue[object],
                       upload_q: asyncio.Queue[object], hash_workers: int,
                       upload_workers: int) -> None:
        """Scan, hash and check, feeding the uploaders. An error that ends the pass here
        (a rejected key, the server gone, the state) stops the pass the way a stop does:
        the uploads in flight finish and are recorded, then the error is raised."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._scan(hash_q, check_q, hash_workers))
                hashers = [tg.create_task(self._hash.run(hash_q, check_q))
                           for _ in range(hash_workers)]
                tg.create_task(self._close_after(hashers, check_q, 1))
                tg.create_task(self._check.run(check_q, upload_q, upload_workers))
        except* (BackupdError, sqlite3.Error) as group:
            self._fail_pass(group.exceptions[0])
            for _ in range(upload_workers - self._check.ends_sent):  # the checker's, not sent
                await upload_q.put(_END)

    def _fail_pass(self, exc: BaseException) -> None:
        """End the pass with ``exc`` (the first such error wins) once the uploads in
        flight are done: take no new work."""
        if self._fatal is None:
            self._fatal = exc
        self._stop.set()

    @staticmethod
    async def _close_after(tasks: list[asyncio.Task[None]], q: asyncio.Queue[object],
                           n: int) -> None:
        await asyncio.gather(*tasks)
        for _ in range(n):
            await q.put(_END)

    def _waiting_for_server(self, waiting: bool) -> None:
        self.progress.waiting_for = "Waiting for the server" if waiting else None
        self._notify()

    # -- stage 1: scan and plan ----------------------------------------------------
    def _listings(self, known: KnownFn) -> Iterator[DirListing]:
        def on_error(path: Path, exc: OSError) -> None:
            is_root = self.rules.is_root(path)
            if folder_problems.is_vanished(exc, is_root=is_root):
                log.debug("folder %s vanished during the scan", path)
                return
            problem = folder_problems.classify(path, exc, is_root=is_root)
            if any(p.path == problem.path for p in self.folder_problems):
                return  # found missing before the walk
            self.folder_problems.append(problem)
            if problem.kind is ProblemKind.MISSING:
                log.warning("include folder %s is not there (not mounted?): not backed up "
                            "this time; nothing of it is forgotten", path)
            else:
                log.warning("cannot read folder %s: %s", path, exc.strerror or exc)

        self._find_unmounted()

        if self.targets is not None:
            return walk_targets(self.rules, self.server.media, self.targets.folders,
                                self.targets.trees, on_error=on_error, known=known)
        return walk(self.rules, self.server.media, known=known,
                    follow_symlinks=self.settings.backup.follow_symlinks, on_error=on_error)

    def _scanned(self) -> Iterator[Scanned]:
        """Walk and read the state together, in the scanning thread: a file whose stat
        matches its backed-up record exactly is only counted (most of a rescan); the
        rest come with their records."""
        records_in_dir = 0

        def known(directory: str) -> dict[str, tuple[int, int, int]]:
            nonlocal records_in_dir
            found, records_in_dir = self._reads.dir_known(directory)
            return found

        late_dirs = self._reads.late_dirs()  # compared even with no sidecar left
        for listing in self._listings(known):
            if listing.root in self._unavailable_roots:
                continue  # a mount point without its disk: nothing there is "deleted"
            if (listing.sidecars or str(listing.path) in late_dirs) and listing.unchanged:
                self.late_sidecars += check_folder(
                    self._reads, listing.path, listing.unchanged, listing.sidecars,
                    self.settings.backup.follow_symlinks)
            # Every unchanged file has a record: when they are all the folder has, and
            # nothing else changed, its full rows are not needed.
            if not listing.files and records_in_dir == len(listing.unchanged):
                yield Scanned(listing, {}, [])
                continue
            rows = self._reads.dir_rows(str(listing.path))
            present = set(listing.unchanged)
            present.update(st.name for st in listing.files)
            # Records of files no longer here (deleted, moved, no longer candidates) are
            # dropped at the end of the pass (a moved file found later in this pass still
            # needs its old record), so counts stay true. The server keeps its copy: this
            # is a backup, not a sync.
            gone = [listing.path / name for name in rows if name not in present]
            if listing.files and listing.unchanged:
                self._restat_partners(listing)
            records = {st.name: row_to_record(rows[st.name]) for st in listing.files
                       if st.name in rows}
            yield Scanned(listing, records, gone)

    def _find_unmounted(self) -> None:
        """An include folder that is empty now although files were backed up from it is
        a mount point whose disk is not there: treat it as missing, so that its files
        are not taken for deleted (the scanning thread, before the walk)."""
        scope = (None if self.targets is None
                 else {*self.targets.trees, *self.targets.folders})
        for root in self.rules.roots:
            if scope is not None and root not in scope:
                continue
            try:
                with os.scandir(root) as it:
                    empty = next(it, None) is None
            except OSError as err:  # a partial pass does not walk roots: say it here
                if scope is not None:
                    self.folder_problems.append(folder_problems.classify(root, err,
                                                                         is_root=True))
                continue
            if empty and self._reads.has_records_below(str(root)):
                self._unavailable_roots.add(root)
                self.folder_problems.append(folder_problems.FolderProblem(
                    str(root), ProblemKind.MISSING, folder_problems.EMPTY))
                log.warning("include folder %s is empty, but files were backed up from it: "
                            "taken as not mounted; nothing of it is forgotten", root)

    def _restat_partners(self, listing: DirListing) -> None:
        """A live photo is planned as a pair: when one half changed and the other did
        not, list the unchanged half too (it is planned as done, and links the pair)."""
        changed = {st.name for st in listing.files}
        again = {other for still, video in listing.live_pairs().items()
                 if (still in changed) != (video in changed)
                 for other in (still, video) if other not in changed}
        if not again:
            return
        follow = self.settings.backup.follow_symlinks
        for name in sorted(again):
            try:
                st = os.stat(listing.path / name, follow_symlinks=follow)
            except OSError:
                continue  # gone since: planned without its partner
            listing.files.append(FileStat.from_stat_result(name, st))
            listing.unchanged.remove(name)
        listing.files.sort(key=lambda f: f.name)

    async def _scan(self, hash_q: asyncio.Queue[object], check_q: asyncio.Queue[object],
                    n_workers: int) -> None:
        try:
            it = self._scanned()
            while not self.stopping:
                batch = await asyncio.to_thread(_take, it, SCAN_BATCH_FILES)
                if not batch:
                    break
                units: list[Unit] = []
                for scanned in batch:
                    units += self._plan_listing(scanned)
                self._notify()
                await self._feed(units, hash_q, check_q)
            self.progress.scanning = False
            await self._wait_for_settling(hash_q, check_q)
        finally:
            self.progress.scanning = False
        # Only on a normal end: when the pass is torn down (another stage failed and the
        # task group cancels us), the consumers are gone, and a full queue would block
        # this put, and with it the whole pass, for ever.
        for _ in range(n_workers):
            await hash_q.put(_END)

    async def _feed(self, units: list[Unit], hash_q: asyncio.Queue[object],
                    check_q: asyncio.Queue[object]) -> None:
        """Hand planned units on: small files hashed here, the rest by the workers."""
        for group in _groups(units):
            if self.stopping:
                break
            members = [c for u in group for c in u.members]
            if sum(c.stat.size for c in members) <= SMALL_FILE * len(members):
                await self._hash.digest_and_pass(group, check_q)
            else:
                await hash_q.put(group)

    async def _wait_for_settling(self, hash_q: asyncio.Queue[object],
                                 check_q: asyncio.Queue[object]) -> None:
        """Back up the files still being written that settle within ``settle_wait``."""
        async def settled(held: HeldFolder, files: list[FileStat]) -> None:
            if not self.stopping:
                await self._feed(self._plan(held, files), hash_q, check_q)

        await wait_for_settled(self._settling, clock=self.clock,
                               until=self.clock() + self.settle_wait, stop=self._stop,
                               follow_symlinks=self.settings.backup.follow_symlinks,
                               on_settled=settled)

    def _held_back(self, where: HeldFolder, files: list[FileStat]) -> list[FileStat]:
        """The files of a folder this pass works on now; the rest wait: for the
        conditions (their kind), until they settle (still being written: see
        settling.py), or for the caller's ``hold``."""
        keep = files
        if self.kinds is not None:
            keep = []
            for st in files:
                kind = where.kinds.get(st.name)
                if kind not in self.kinds:
                    self.held_by_condition[where.path / st.name] = kind or "image"
                    self.progress.skipped += 1  # waiting for the network to allow its kind
                    continue
                keep.append(st)
        vouched: list[FileStat] = []
        if self.hold is not None:
            files, keep = keep, []
            for st in files:
                verdict = self.hold(where.path / st.name, st)
                if verdict is Hold.HOLD:
                    self.held.append(where.path / st.name)
                    self.progress.skipped += 1
                elif verdict is Hold.SETTLED:
                    vouched.append(st)
                else:
                    keep.append(st)
        # Files the events vouch for go now: a photo written and closed a second ago
        # goes up within trigger_delay, not after settle_time.
        return vouched + self._settling.hold_recent(where, keep, self.clock())

    def _plan_listing(self, scanned: Scanned) -> list[Unit]:
        listing = scanned.listing
        self._gone += scanned.gone
        p = self.progress
        p.seen += len(listing.files) + len(listing.unchanged)
        p.backed_up += len(listing.unchanged)
        if listing.placeholders:
            self._note_placeholders(listing)
        if not listing.files:
            return []
        album = self.rules.album_name_for(listing.path / "_")
        where = HeldFolder(listing.path, listing.kinds, listing.sidecars, scanned.records,
                           album)
        return self._plan(where, self._held_back(where, listing.files))

    async def _note_late_sidecars(self) -> None:
        """Record (and log) the photos whose sidecar the scan found changed since their
        upload: Immich cannot take it now (see sidecars.py)."""
        for item in self.late_sidecars:
            if item.late:
                log.warning("%s: its sidecar was added or changed after the upload; Immich "
                            "takes a sidecar only with the upload, so it did not get it",
                            item.path, extra={"path": str(item.path)})
        await self.store.set_late_sidecars([(i.late, i.dir_key, i.name)
                                            for i in self.late_sidecars])

    def _note_placeholders(self, listing: DirListing) -> None:
        """List the placeholders this pass leaves out; count those not in ``files``
        (Nextcloud's, never read: ``plan_dir`` counts the others)."""
        ignore = self.settings.backup.ignore_cloud_placeholders
        for name, kind in listing.placeholders.items():
            if placeholders.skipped(kind, ignore=ignore):
                self.cloud_placeholders[listing.path / name] = kind
            if not placeholders.downloads_on_read(kind):
                self.progress.seen += 1
                self.progress.skipped += 1

    def _plan(self, where: HeldFolder, files: list[FileStat]) -> list[Unit]:
        """Plan files of one folder (``where`` gives its kinds, sidecars and records)."""
        p = self.progress
        plan = plan_dir(where.path, files, where.kinds, where.sidecars, where.records,
                        where.album, self.clock(),
                        ignore_placeholders=self.settings.backup.ignore_cloud_placeholders)
        p.backed_up += plan.done
        p.skipped += plan.skipped + plan.waiting + plan.placeholders
        members = [c for u in plan.units for c in u.members]
        p.planned += len(members)
        p.bytes_planned += sum(c.stat.size for c in members)
        return plan.units

    # -- stage 3: ask the server in batches ----------------------------------------
    def _queued(self, to_upload: int) -> Awaitable[None] | None:
        """Bulk-import mode: pause the server's job queues once enough files go up."""
        server = self.settings.server
        if should_pause(server.pause_jobs_during_import, to_upload,
                        server.pause_jobs_threshold) and not self._jobs.refused:
            return self._jobs.pause()
        return None

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
