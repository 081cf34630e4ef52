"""One backup pass: scan and plan → hash → check → upload → record; albums, stacks, tags.

A bounded pipeline (restic's archiver): the scanner feeds hash workers through a small
queue, hashed units are checked with the server in batches, and accepted ones go to a
fixed number of upload workers. A full queue slows the stage before it, so memory stays
flat on huge trees, and hashing overlaps with checking and uploading.

This module wires the stages, each a module of its own: scanning.py (walk and plan),
hash.py, check.py, upload.py and record.py, the server behind server.py's one retry
layer; then albums, stacks (after the one-time read of burst ids, burstread.py) and
tags. It turns the errors that end a pass (quota, key, server gone, state) into the
pass's outcome (see docs/architecture.md).

Exactly once: every outcome is committed to the state as soon as it is known. A crash
between the server's answer and that commit is harmless: the next pass finds the
content with ``bulk-upload-check`` (or the server answers "duplicate" to the checksum
header) and records it, without a second upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import (
    AuthError,
    BackupdError,
    QuotaExceededError,
    ServerUnavailableError,
    StateError,
)
from ..hashing.hasher import Hasher
from ..immich.errors import ApiError, TransportError
from ..media import placeholders
from ..model import REACHED_END, PassOutcome
from ..report.progress import Progress, Reporter
from ..scan import folder_problems
from ..scan.folder_problems import FolderProblem
from ..scan.rules import AlbumRules
from ..state import (
    PassStats,
    StateStore,
    WorkerReads,
)
from .albums import follow_album_settings, sync_albums
from .burstread import CatchUp, catch_up_bursts, forget_catch_up
from .check import CheckStage
from .connect import ServerInfo
from .hash import KEEP_MAX as KEEP_MAX  # re-exported: tests size files by it
from .hash import HashStage, KeptBytes
from .jobpause import META_KEY as PAUSED_QUEUES_KEY
from .jobpause import JobPause, resume_leftovers, should_pause
from .pacer import Pacer
from .plan import END
from .record import Recorder
from .scanning import WHOLE_PASS as WHOLE_PASS  # re-exported: what callers pass
from .scanning import Hold as Hold
from .scanning import PassScope as PassScope
from .scanning import ScanStage
from .scanning import ScanTargets as ScanTargets
from .server import PassServer, Retrying, ServerWait, retry_policy, stop_aware_pause
from .settling import SettleQueue
from .stacking import sync_stacks
from .tagging import sync_tags
from .upload import UploadStage

log = logging.getLogger("immich_backupd.pipeline")


def state_error(path: Path, exc: BaseException) -> StateError:
    """The one-line error for a state database that cannot be written."""
    return StateError(
        f"cannot write the state database {path}: {exc}; make room (or fix the "
        "permissions) there and run again: the next pass goes on where this one stopped, "
        "and uploads nothing twice")


@dataclass(slots=True)
class PassResult:
    outcome: PassOutcome
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
        client: PassServer,
        store: StateStore,
        server: ServerInfo,
        *,
        reporter: Reporter | None = None,
        hasher: Hasher | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        scope: PassScope = WHOLE_PASS,
    ) -> None:
        """``client``: the server (``ImmichClient``, or a fake: the pass needs only
        :class:`PassServer`); the stages get it wrapped once in :class:`Retrying`.
        ``clock``: the wall time the pass reads; ``sleep``: the wait between tries and
        while the server is gone (None: asyncio's, cut short by a stop). Tests pass a
        fake clock's, so no retry really sleeps.
        ``scope``: where the pass looks, what it may upload, what it holds and how long
        it waits for files still being written (:class:`PassScope`; the default: a
        whole pass that leaves them for later)."""
        self.settings = settings
        self.client = client
        self.store = store
        self.server = server
        self.reporter = reporter or Reporter()
        self.hasher = hasher or Hasher()
        self._own_hasher = hasher is None
        self.clock = clock
        self._sleep = sleep
        self.scope = scope
        self._settling = SettleQueue(settings.backup.settle_time)
        self.rules = AlbumRules.from_settings(settings.albums)
        backup = settings.backup
        self.policy = retry_policy(backup.retry)
        self.progress = Progress()
        self.stats = PassStats()
        self._stop = asyncio.Event()
        # The server calls of the stages, retried in one place (server.py); when the
        # tries run out because the server went away, the pass waits for it (files are
        # not marked failed: they are simply backed up next time).
        self.server_wait = ServerWait(client.ping, client.api_url, self.policy,
                                      stopping=lambda: self.stopping,
                                      pause=sleep or stop_aware_pause(self._stop),
                                      on_waiting=self._waiting_for_server, clock=clock)
        self.api: PassServer = Retrying(client, self.policy, wait=self.server_wait,
                                        sleep=sleep)
        # The stages' reads in their own threads (state.WorkerReads: read-only, one
        # connection a thread); the writes go through ``store`` in the record stage.
        self._reads = WorkerReads(store.path)
        # Stage 2: hashing (hash.py), with the budget of file bytes kept for the uploads.
        self._kept = KeptBytes(lambda: self.stopping)
        # Stage 5: every outcome is written, counted and reported there (record.py).
        self._rec = Recorder(store, self.progress, self.reporter,
                             give_back=self._kept.give_back, clock=clock)
        self._hash = HashStage(self.hasher, self._reads, self._rec, self._kept,
                               stopping=lambda: self.stopping,
                               bursts=settings.backup.stacks.bursts)
        # Stage 1: the walk and the plan (scanning.py); what it found is its ``result``.
        self._scanner = ScanStage(
            settings, self.rules, server.media, self._reads, self._rec, self._hash,
            stop=self._stop, settling=self._settling, clock=clock, scope=scope)
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
            fail_pass=self._fail_pass,
            pace=Pacer(table) if table.capped else None)

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
        if not self.settings.backup.stacks.bursts:  # it records photos without burst ids
            await forget_catch_up(self.store)
        if await self.store.get_meta(PAUSED_QUEUES_KEY):
            # A pass killed while the server's queues were paused: resume them first.
            with contextlib.suppress(ApiError, TransportError):
                await resume_leftovers(self.client, self.store)
        scan = self._scanner.result
        outcome = PassOutcome.COMPLETE
        error: BackupdError | None = None
        cancelled = False
        try:
            try:
                await self._pipeline()
            finally:
                if self._rec.waiting:  # ended early (quota, offline)
                    with contextlib.suppress(sqlite3.Error):
                        await self._rec.flush()
            await self._scanner.note_late_sidecars()
            if not self.stopping:
                # Still gone at the end? Asked in a thread: a hung mount must not stop
                # the loop (the watchdog pings, SIGTERM), one exists() a file.
                await self.store.forget_many(await asyncio.to_thread(
                    lambda: [p for p in scan.gone if not p.exists()]))
            # After the uploads: retried, but not waiting for a server gone (as before).
            after = Retrying(self.client, self.policy, sleep=self._sleep)
            if not self.stopping and self.settings.backup.album_sync:
                self.progress.phase = "albums"
                self._notify()
                await follow_album_settings(self.store, self.rules, self.server.media)
                await sync_albums(after, self.store, user_id=self.server.user_id)
            stacks = self.settings.backup.stacks
            if not self.stopping:  # also for the folders whose stacking failed before
                caught = await catch_up_bursts(self.store, stopping=lambda: self.stopping
                                               ) if stacks.bursts else CatchUp()
                await sync_stacks(after, self.store, stacks,
                                  self._rec.stack_dirs | caught.folders)
            if not self.stopping and (self.rules.has_tags or await self.store.has_tags()):
                await sync_tags(after, self.store, self.rules, self._rec.stack_dirs,
                                self.clock(), arrived=self._rec.arrived)
        except* QuotaExceededError as group:
            outcome, error = PassOutcome.QUOTA, group.exceptions[0]
        except* ServerUnavailableError as group:
            outcome, error = PassOutcome.OFFLINE, group.exceptions[0]
        except* AuthError as group:
            outcome, error = PassOutcome.AUTH, group.exceptions[0]
        except* BackupdError as group:  # a server this release cannot use, the state
            outcome, error = _outcome_of(group.exceptions[0]), group.exceptions[0]
        except* sqlite3.Error as group:
            outcome, error = PassOutcome.STATE, state_error(self.store.path, group.exceptions[0])
        except* asyncio.CancelledError:
            outcome, cancelled = PassOutcome.ABORTED, True
        finally:
            if self._jobs.paused:
                with contextlib.suppress(ApiError, TransportError, sqlite3.Error):
                    await self._jobs.resume()
            if self._own_hasher:
                self.hasher.close()
            self._reads.close()
        settle_at = self._settling.next_at()
        settling = self._settling.paths()
        held = scan.held + self._hash.held + self._upload.held + settling
        self.progress.skipped += len(settling)
        if outcome is PassOutcome.COMPLETE:
            if self.stopping:
                outcome = PassOutcome.STOPPED
            elif self.progress.failed or scan.folder_problems:
                outcome = PassOutcome.PARTIAL
        if outcome in REACHED_END:
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
        self.progress.phase = "done" if outcome in REACHED_END else str(outcome)
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
                          held=held, held_by_condition=scan.held_by_condition,
                          folder_problems=scan.folder_problems, settle_at=settle_at,
                          cloud_placeholders=scan.cloud_placeholders,
                          new_versions=self._rec.new_versions)

    async def _save_folder_problems(self) -> None:
        """Keep the current list: what this pass found, and the earlier problems of the
        folders it did not look at (a partial pass)."""
        t = self.scope.targets
        scope = None if t is None else t.folders | t.trees
        old = folder_problems.loads(await self.store.get_meta(folder_problems.META_KEY))
        new = folder_problems.merge(old, self._scanner.result.folder_problems, scope=scope)
        await self.store.set_meta(folder_problems.META_KEY, folder_problems.dumps(new))

    async def _save_placeholders(self) -> None:
        """Keep the list of skipped placeholders, as for folder problems."""
        t = self.scope.targets
        old = placeholders.loads(await self.store.get_meta(placeholders.META_KEY))
        found = self._scanner.result.cloud_placeholders
        new = placeholders.merge(old, {str(p): k for p, k in found.items()},
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
                tg.create_task(self._scanner.run(hash_q, check_q, hash_workers))
                hashers = [tg.create_task(self._hash.run(hash_q, check_q))
                           for _ in range(hash_workers)]
                tg.create_task(self._close_after(hashers, check_q, 1))
                tg.create_task(self._check.run(check_q, upload_q, upload_workers))
        except* (BackupdError, sqlite3.Error) as group:
            self._fail_pass(group.exceptions[0])
            for _ in range(upload_workers - self._check.ends_sent):  # the checker's, not sent
                await upload_q.put(END)

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
            await q.put(END)

    def _waiting_for_server(self, waiting: bool) -> None:
        self.progress.waiting_for = "Waiting for the server" if waiting else None
        self._notify()

    # -- stage 3: ask the server in batches ----------------------------------------
    def _queued(self, to_upload: int) -> Awaitable[None] | None:
        """Bulk-import mode: pause the server's job queues once enough files go up."""
        server = self.settings.server
        if should_pause(server.pause_jobs_during_import, to_upload,
                        server.pause_jobs_threshold) and not self._jobs.refused:
            return self._jobs.pause()
        return None


def _outcome_of(error: BackupdError) -> PassOutcome:
    """The outcome of a pass ended by ``error`` other than quota, a server gone or a
    refused key: the state that cannot be written, else the server (one this release
    cannot use), as its exit code says (not "auth", which would advise a new key)."""
    return PassOutcome.STATE if isinstance(error, StateError) else PassOutcome.OFFLINE
