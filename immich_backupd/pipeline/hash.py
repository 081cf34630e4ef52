"""The hash stage: digests of new and changed files, and what needs no server.

Between the scan and the check. Groups of units come through the hash queue (ended by
END); each group costs one hop to a hashing thread, where the digests of files moved on
this disk are taken from their records, the other new files are hashed, and the state
is asked which of the group's contents some path already has on the server: adopting a
library of small photos is bound by those hops, not by hashing. The scanning task hashes
groups of small files itself (:meth:`HashStage.digest_and_pass`).

Settled here, through the record stage: empty files (refused), files gone or unreadable
since the scan, and content already on the server under another path (a duplicate).
Files that changed while read are held (``held``). The rest go on to the check queue.

New files up to KEEP_MAX are read once: hashed, their bytes kept, and sent from memory,
as long as what is kept at once stays within KEEP_BUDGET (:class:`KeptBytes`), so
hashing runs no further ahead of uploading than that budget.

With ``bursts`` (``backup.stacks.bursts``), the Apple burst id of each JPEG/HEIC hashed
is read in the same hop (``appleburst.read_burst``): from the kept bytes, else from the
headers just read; a moved file keeps its record's. An unchanged file is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from ..hashing.hasher import FileChangedError, FileDigest, Hasher
from ..media.appleburst import may_have_burst, read_burst
from ..model import Outcome
from ..report.progress import Upload
from ..state import DUPLICATE, UNSUPPORTED, WorkerReads
from .budget import ByteBudget
from .plan import END, Candidate, Unit, unfinished_units
from .record import Done, Recorder

log = logging.getLogger("immich_backupd.pipeline")

KEEP_MAX = 16 << 20  # new files up to this size are read once: hashed, kept, sent ...
KEEP_BUDGET = 32 << 20  # ... as long as what is kept at once stays within this


class KeptBytes:
    """The bytes of files kept in memory between hashing and uploading: a ByteBudget
    that can be waited for. ``stopping()``: a wait ends when the pass stops."""

    def __init__(self, stopping: Callable[[], bool], total: int = KEEP_BUDGET) -> None:
        self.total = total
        self.stopping = stopping
        self._budget = ByteBudget(total)
        self._freed = asyncio.Event()  # set when kept bytes are given back

    def give_back(self, n: int) -> None:
        self._budget.give_back(n)
        self._freed.set()

    async def reserve(self, n: int) -> int:
        """Take ``n`` bytes for a group, waiting (polling every 50 ms, which also
        notices a stop) until they are free; 0 when they never can be, or the pass
        stops: the group is then read twice."""
        if n == 0 or n > self.total:
            return 0
        while not self.stopping():
            if self._budget.try_take(n):
                return n
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await self._freed.wait()
        return 0


class HashStage:
    """Hashes groups of units (shared by the pass's hash workers and its scanner).

    ``reads``: the state read from the hashing threads. ``held``: the files that
    changed while read, left for a later pass (the pass reads it at its end)."""

    def __init__(self, hasher: Hasher, reads: WorkerReads, recorder: Recorder,
                 kept: KeptBytes, *, stopping: Callable[[], bool],
                 bursts: bool = False) -> None:
        self.hasher = hasher
        self._reads = reads
        self.rec = recorder
        self.kept = kept
        self.stopping = stopping
        self.held: list[Path] = []
        self.bursts = bursts

    async def run(self, hash_q: asyncio.Queue[object], check_q: asyncio.Queue[object]
                  ) -> None:
        """Take a group of units: digests, then what the state knows.

        A group costs one hop to a hashing thread (the moved-file lookup, the hashing
        and the content lookup run there together) and one write, not a few per file:
        adopting a library of small photos is bound by those hops, not by hashing.
        """
        while (item := await hash_q.get()) is not END:
            assert isinstance(item, list)
            if self.stopping():
                continue
            await self.digest_and_pass(item, check_q)

    async def digest_and_pass(self, group: list[Unit], check_q: asyncio.Queue[object]) -> None:
        await self.digest_group(group)
        left = unfinished_units(group)
        if left:
            await check_q.put(left)

    async def digest_group(self, units: list[Unit]) -> None:
        """Fill in the digests of a group; record what needs no server: empty files, gone
        or unreadable ones, and content some other path already has on the server."""
        dropped: set[int] = set()
        new: list[Candidate] = []
        empty: list[Done] = []
        for cand in (c for u in units for c in u.members):
            if cand.stat.size == 0:
                # The server refuses it ("File is empty") after keeping an orphan on its
                # disk: say so here instead, once, until the file changes.
                empty.append(Outcome(cand, UNSUPPORTED, None,
                              "empty file (0 bytes): nothing to back up"))
                dropped.add(id(cand))
            elif cand.needs_digest:
                new.append(cand)
        await self.rec.now_many(empty)
        ready = [c for u in units for c in u.members if id(c) not in dropped]
        keep = [c for c in new if c.stat.size <= KEEP_MAX and not c.stat.is_placeholder]
        reserved = await self.kept.reserve(sum(c.stat.size for c in keep))
        kept = {id(c) for c in keep} if reserved else set()
        try:
            digests, cloud, known = await self.hasher.call(self._digest_job, new, ready, kept)
        finally:
            # What was reserved and not kept (moved files, errors) goes back at once.
            self.kept.give_back(reserved - sum(len(c.data) for c in keep if c.data is not None))
        if cloud:
            got = [(cand, await self._read_placeholder(cand)) for cand in cloud]
            if self.bursts:  # just downloaded: its headers are on this disk now
                await self.hasher.call(self._read_bursts, got)
            digests += got
        hashed = 0
        for cand, digest in digests:
            if isinstance(digest, FileDigest):
                cand.sha1, cand.blake3 = digest.sha1, digest.blake3
                hashed += 1
            else:
                await self._unreadable(cand, digest)
                dropped.add(id(cand))
        self.rec.progress.hashed += hashed
        if dropped:
            for unit in units:
                unit.members[:] = [c for c in unit.members if id(c) not in dropped]
        ready = [c for u in units for c in u.members if c.blake3 and c.outcome is None]
        if cloud:  # read here, after the job's content lookup
            known.update(await self.hasher.call(
                self._reads.remotes_for_contents, [c.blake3 for c in cloud if c.blake3]))
        await self.rec.now_many([Outcome(c, DUPLICATE, known[c.blake3]) for c in ready
                                 if c.blake3 in known])
        moved = [c.moved_from for c in ready if c.moved_from is not None]
        await self.rec.store.forget_many(moved)  # their old records now live at the new paths

    def _digest_job(
        self, new: list[Candidate], ready: list[Candidate], keep: set[int]
    ) -> tuple[list[tuple[Candidate, FileDigest | OSError]], list[Candidate], dict[bytes, str]]:
        """In a hashing thread, for a group: take the digests of moved files from their
        records, hash the other new files, and look up which of the group's contents
        some path has on the server. Returns (candidate, digest or error) for those
        hashed, the cloud placeholders left to read (on the loop, with progress), and
        that lookup. The candidates in ``keep`` (ids) get the bytes read (``data``)."""
        to_hash = self._reuse_moved(new)
        cloud = [c for c in to_hash if c.stat.is_placeholder]
        if cloud:
            to_hash = [c for c in to_hash if not c.stat.is_placeholder]
        kept = [c for c in to_hash if id(c) in keep]
        rest = [c for c in to_hash if id(c) not in keep]
        results = self.hasher.hash_batch([(c.path_str, c.stat) for c in kept],
                                         keep_max=KEEP_MAX)
        results += self.hasher.hash_batch([(c.path_str, c.stat) for c in rest])
        digests = list(zip(kept + rest, results, strict=True))
        for cand, digest in digests[:len(kept)]:
            if isinstance(digest, FileDigest):
                cand.data = digest.data
        if self.bursts:
            self._read_bursts(digests)
        blake3s = [d.blake3 for _, d in digests if isinstance(d, FileDigest)]
        blake3s += [c.blake3 for c in ready if c.blake3 is not None]
        return digests, cloud, self._reads.remotes_for_contents(blake3s)

    @staticmethod
    def _read_bursts(digests: list[tuple[Candidate, FileDigest | OSError]]) -> None:
        """In a hashing thread: the Apple burst id of each JPEG/HEIC just hashed ("" for
        none), from its kept bytes or its headers (read a moment ago, so cached). One
        that cannot be read now stays unknown (None)."""
        for cand, digest in digests:
            if isinstance(digest, FileDigest) and may_have_burst(cand.stat.name):
                try:
                    cand.burst = read_burst(cand.path_str, cand.data) or ""
                except OSError:
                    cand.burst = None

    def _reuse_moved(self, cands: list[Candidate]) -> list[Candidate]:
        """Take the digests of files moved on this disk (same inode, size and mtime as a
        record whose path is gone) without reading them; return the rest, to hash."""
        if not cands:
            return []
        records = self._reads.find_by_inodes(
            [(c.stat.ino, c.stat.size, c.stat.mtime_ns) for c in cands])
        rest: list[Candidate] = []
        for cand in cands:
            st = cand.stat
            old = records.get((st.ino, st.size, st.mtime_ns))
            if old is not None and old.path != cand.path and not old.path.exists():
                cand.sha1, cand.blake3, cand.burst = old.sha1, old.blake3, old.burst
                cand.moved_from = old.path
            else:
                rest.append(cand)
        return rest

    async def _read_placeholder(self, cand: Candidate) -> FileDigest | OSError:
        """Hash a cloud placeholder (ignore_cloud_placeholders: false): reading it makes
        the sync client download it, which takes a while; show it as it goes."""
        loop = asyncio.get_running_loop()
        path = str(cand.path)
        entry = self.rec.progress.downloads[path] = Upload(path, cand.stat.size)
        log.info("reading %s from the cloud (it is not on this disk yet)", cand.path)

        def on_read(total: int) -> None:  # in the hashing thread
            loop.call_soon_threadsafe(_advance, total)

        def _advance(total: int) -> None:
            entry.sent = min(total, entry.size)
            self.rec.notify()

        self.rec.notify()
        try:
            return await self.hasher.hash(cand.path, expected=cand.stat, progress=on_read)
        except OSError as exc:
            return exc
        finally:
            self.rec.progress.downloads.pop(path, None)
            self.rec.notify()

    async def _unreadable(self, cand: Candidate, exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            await self.rec.vanished(cand)
        elif isinstance(exc, PermissionError):
            await self.rec.fail(cand, "permission denied", retry=True)
        elif isinstance(exc, FileChangedError):
            # Still being written: not an error, it is picked up when it settles.
            log.info("%s changed while hashing; it will be picked up when it settles",
                     cand.path)
            self.held.append(cand.path)
            self.rec.progress.finish(cand.stat.size)
            self.rec.progress.skipped += 1
        else:
            await self.rec.fail(cand, f"cannot read: {exc.strerror or exc}", retry=True)
