"""The record stage: the one way an outcome of a pass reaches the state, and its counters.

Every file the pass finishes with goes through a :class:`Recorder`: uploaded, already on
the server, in the trash, refused, failed or vanished. It writes the state, counts the
outcome in the pass's :class:`~immich_backupd.report.progress.Progress`, logs it and
tells the reporter, and gives the file's kept bytes back to the byte budget.

Commits are batched, off the path of the stages that find the outcomes:

- :meth:`Recorder.soon` (uploads): committed with the next batch, RECORD_BATCH at a time
  or every RECORD_WAIT (a commit per file costs as much as a tenth of a first backup).
  An upload whose record a crash loses is found by the next pass's bulk check and
  recorded then, never uploaded twice.
- :meth:`Recorder.later` (bulk check answers): CHECK_RECORD_BATCH at a time or every
  CHECK_RECORD_WAIT; nothing is lost in a crash (the next pass asks again), and the
  content index takes random inserts, so few large commits adopt a library faster. More
  than CHECK_RECORD_MAX waiting: the caller waits for the disk.
- :meth:`Recorder.now` / :meth:`Recorder.fail` / :meth:`Recorder.vanished`: committed
  before they return.

:meth:`Recorder.run` is the task that commits the batches while the producers run; when
they are done it commits the rest. ``clock`` (wall time, for a failure's next try) and
``monotonic`` (batch ages) are passed in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..model import VANISHED, FileOutcome, FileStatus, Outcome
from ..report.progress import Progress, Reporter
from ..state import (
    DUPLICATE,
    FAILED,
    ON_SERVER,
    UNSUPPORTED,
    UPLOADED,
    FileRecord,
    StateStore,
    file_row,
    split_path,
)
from .plan import Candidate, failed_passes, retry_due

log = logging.getLogger("immich_backupd.pipeline")

RECORD_BATCH = 32  # upload outcomes committed together ...
RECORD_WAIT = 0.1  # ... or after this many seconds
CHECK_RECORD_BATCH = 4096  # check outcomes committed together ...
CHECK_RECORD_WAIT = 1.0  # ... or after this many seconds
CHECK_RECORD_MAX = 4 * CHECK_RECORD_BATCH  # waiting, before the checker waits for the disk

Done = Outcome[Candidate]


class Recorder:
    """Writes a pass's outcomes to ``store`` and counts them in ``progress``.

    ``give_back(n)``: hand ``n`` kept bytes back to the byte budget (a file's bytes are
    not needed once it is recorded). After the pass, ``new_versions`` holds the files
    uploaded again because they changed since their last backup, ``stack_dirs`` the
    folders with a file recorded on the server, and ``arrived`` the assets of files moved
    on this disk (``Candidate.moved_from``)."""

    def __init__(self, store: StateStore, progress: Progress, reporter: Reporter, *,
                 give_back: Callable[[int], None],
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.progress = progress
        self.reporter = reporter
        self._give_back = give_back
        self.clock = clock
        self.monotonic = monotonic
        self.new_versions: list[Path] = []
        self.stack_dirs: set[Path] = set()  # their stacks and tags are made after the pass
        # Assets of files moved on this disk (a folder renamed): the tags of their old
        # folder come off after the pass (tagging.py).
        self.arrived: set[str] = set()
        self._pending: list[Done] = []
        self._pending_checks: list[list[Done]] = []
        self._more = asyncio.Event()  # set when a batch is ready to commit
        self._checks_since = 0.0  # when the oldest check batch waiting came (monotonic)

    @property
    def waiting(self) -> bool:
        """Whether outcomes wait for their commit."""
        return bool(self._pending or self._pending_checks)

    # -- the reporter ----------------------------------------------------------------
    def notify(self) -> None:
        """Tell the reporter the progress changed (a reporter never fails a backup)."""
        try:
            self.reporter.progress(self.progress)
        except Exception:
            log.exception("progress reporter failed")

    def file_done(self, path: Path | str, outcome: FileOutcome, detail: str = "") -> None:
        try:
            self.reporter.file_done(path if isinstance(path, str) else str(path), outcome,
                                    detail)
        except Exception:
            log.exception("file reporter failed")

    def drop_data(self, cand: Candidate) -> None:
        """Give the kept bytes of a file back to the budget (its upload is over)."""
        if cand.data is not None:
            self._give_back(len(cand.data))
            cand.data = None

    # -- batched commits -------------------------------------------------------------
    def soon(self, cand: Candidate, status: FileStatus, remote_id: str) -> None:
        """Record an upload's outcome with the next batch. The outcome is known at once
        (``cand.outcome``: a live photo's still is linked to its video by it)."""
        cand.outcome = status
        self._pending.append(Outcome(cand, status, remote_id))
        if len(self._pending) >= RECORD_BATCH:
            self._more.set()

    async def later(self, outcomes: list[Done]) -> None:
        """Record a bulk check's outcomes with a later batch, so that the checker sends
        the next check instead of waiting for the commit. Their outcome is known at once
        and their kept bytes go back at once (they are not uploaded)."""
        if not outcomes:
            return
        freed = 0
        for o in outcomes:
            cand = o.subject
            cand.outcome = o.status
            if cand.data is not None:
                freed += len(cand.data)
                cand.data = None
        if freed:
            self._give_back(freed)
        if not self._pending_checks:
            self._checks_since = self.monotonic()
        self._pending_checks.append(outcomes)
        waiting = sum(map(len, self._pending_checks))
        if waiting >= CHECK_RECORD_BATCH:
            self._more.set()
        if waiting > CHECK_RECORD_MAX:  # the disk is behind: wait for it
            await self.flush()

    def checks_due(self) -> bool:
        """Whether the waiting check outcomes are many enough, or old enough, to commit."""
        return bool(self._pending_checks) and (
            sum(map(len, self._pending_checks)) >= CHECK_RECORD_BATCH
            or self.monotonic() - self._checks_since >= CHECK_RECORD_WAIT)

    async def flush(self, *, checks: bool = True) -> None:
        """Commit the upload outcomes waiting and (``checks``) the check outcomes, in
        one transaction. When the commit fails or is cancelled, they wait again (the
        pass's last flush commits them)."""
        check_batches: list[list[Done]] = []
        if checks:
            check_batches, self._pending_checks = self._pending_checks, []
        uploads, self._pending = self._pending, []
        try:
            await self.now_many([o for b in check_batches for o in b] + uploads)
        except BaseException:
            self._pending_checks[:0] = check_batches
            self._pending[:0] = uploads
            raise

    async def run(self, producers: list[asyncio.Task[None]]) -> None:
        """Commit batches while ``producers`` run (at least every RECORD_WAIT), the
        rest once they are all done."""
        running = set(producers)
        while running:
            more = asyncio.ensure_future(self._more.wait())
            try:
                await asyncio.wait({*running, more}, timeout=RECORD_WAIT,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                more.cancel()
            running = {t for t in running if not t.done()}
            self._more.clear()
            await self.flush(checks=self.checks_due())
        await self.flush()

    # -- commits now -----------------------------------------------------------------
    async def now(self, cand: Candidate, status: FileStatus, *, remote_id: str | None = None,
                  error: str | None = None) -> None:
        await self.now_many([Outcome(cand, status, remote_id, error)])

    async def now_many(self, outcomes: list[Done]) -> None:
        """Commit outcomes (one transaction for all), then count and report them."""
        if not outcomes:
            return
        await self.store.put_rows([_row(o) for o in outcomes],
                                  [_sidecar_row(o.subject) for o in outcomes
                                   if o.status == UPLOADED and not o.subject.hidden],
                                  hidden_videos=[o.subject.video_in_album for o in outcomes
                                                 if o.status == UPLOADED
                                                 and o.subject.video_in_album])
        quiet = len(outcomes) > 1  # a batch of duplicates gets one summary line
        debug = quiet and log.isEnabledFor(logging.DEBUG)
        duplicates = 0
        for o in outcomes:
            duplicates += self._counted(o, quiet=quiet, debug=debug)
        if quiet and duplicates:
            log.info("%d file%s already on the server", duplicates,
                     "s" if duplicates != 1 else "")
        self.notify()

    def _counted(self, o: Done, *, quiet: bool, debug: bool = False) -> bool:
        """Count one recorded outcome; True for a duplicate. ``quiet``: one of a batch,
        whose duplicates are logged only at debug level (``debug``: it is enabled)."""
        cand, status, remote_id, error = o
        cand.outcome = status
        if cand.data is not None:
            self.drop_data(cand)
        p = self.progress
        p.finish(cand.stat.size)
        path = cand.path_str
        if status == UPLOADED:
            p.uploaded += 1
            p.backed_up += 1
            prev = cand.record
            if prev is not None and prev.status in ON_SERVER and prev.blake3 != cand.blake3:
                self.new_versions.append(cand.path)
                log.info("uploaded %s: a new version (it changed after its last backup; the "
                         "server keeps the earlier one too)", path,
                         extra={"path": path, "asset_id": remote_id})
            else:
                log.info("uploaded %s", path, extra={"path": path, "asset_id": remote_id})
        elif status == DUPLICATE:
            p.duplicates += 1
            p.backed_up += 1
            if not quiet or debug:
                (log.debug if quiet else log.info)("already on the server: %s", path,
                                                   extra={"path": path, "asset_id": remote_id})
        elif status == UNSUPPORTED:  # not on the server: a failure the user must see
            p.failed += 1
            log.warning("%s: %s", path, error or status, extra={"path": path})
        else:
            p.skipped += 1
            log.warning("%s: %s", path, error or status, extra={"path": path})
        self.file_done(path, status, error or "")
        if remote_id and status in (UPLOADED, DUPLICATE):
            self.stack_dirs.add(cand.path.parent)
            if cand.moved_from is not None:
                self.arrived.add(remote_id)
        return status == DUPLICATE

    async def fail(self, cand: Candidate, reason: str, *, retry: bool) -> None:
        """Record a failed file: its tries over all passes, and when it is tried again
        (``retry``: whether a later try can succeed)."""
        prev = cand.record
        again = prev is not None and prev.status == FAILED
        # The tries of all passes (what ``failed`` shows); the wait grows by the passes.
        attempts = (prev.attempts if again else 0) + max(1, cand.tries)
        passes = (failed_passes(prev.next_attempt_at, prev.updated_at) if again else 0) + 1
        st = cand.stat
        due = retry_due(passes, self.clock(), retryable=retry)
        await self.store.put(FileRecord(
            path=cand.path, size=st.size, mtime_ns=st.mtime_ns, ino=st.ino, status=FAILED,
            blake3=cand.blake3, sha1=cand.sha1, album=cand.album, error=reason,
            attempts=attempts, next_attempt_at=due, burst=cand.burst,
        ))
        cand.outcome = FAILED
        self.drop_data(cand)
        self.progress.finish(cand.stat.size)
        self.progress.failed += 1
        log.warning("upload failed: %s: %s", cand.path, reason, extra={"path": str(cand.path)})
        self.file_done(cand.path, FAILED, reason)
        self.notify()

    async def vanished(self, cand: Candidate) -> None:
        """A file deleted between scan and read: not a failure, just gone."""
        await self.store.forget(cand.path)
        cand.outcome = VANISHED
        self.drop_data(cand)
        self.progress.finish(cand.stat.size)
        self.progress.skipped += 1
        log.info("%s vanished before it was backed up", cand.path)
        self.file_done(cand.path, VANISHED)


def _row(o: Done) -> tuple[object, ...]:
    """The state's record of an outcome (see StateStore.put_rows): no FileRecord is
    built, a library adopted is 100,000 of them."""
    cand, status, remote_id, error = o
    st = cand.stat
    prev = cand.record
    album_done = (prev is not None and prev.remote_id == remote_id
                  and prev.album == cand.album and prev.album_done)
    dir_key, name = (cand.dir_key, os.fsencode(st.name)) if cand.dir_key else \
        split_path(cand.path)
    return file_row(dir_key, name, st.size, st.mtime_ns, st.ino, cand.blake3, cand.sha1,
                    status, remote_id, cand.album, album_done, error, burst=cand.burst)


def _sidecar_row(cand: Candidate) -> tuple[bytes, bytes, int | None, int | None]:
    """What went up with an upload, for the state (see sidecars.py): its sidecar's size
    and mtime_ns, or None when it went up without one."""
    dir_key, name = (cand.dir_key, os.fsencode(cand.stat.name)) if cand.dir_key else \
        split_path(cand.path)
    size, mtime_ns = cand.sidecar_sent or (None, None)
    return dir_key, name, size, mtime_ns
