"""Hashing off the event loop: :class:`Hasher` runs :func:`digest.hash_file` (SHA-1 and
BLAKE3 in one read, "changed while hashing") in a small thread pool so the event loop
never blocks on disk reads, a few nice steps below the loop (:data:`HASH_NICE`) so that
it yields the CPU to the uploads.

The digest's names (``FileDigest``, ``FileChangedError``, ``hash_file``, ``Progress``)
are re-exported here for the callers of the pool.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from immich_backupd.hashing import digest
from immich_backupd.hashing.digest import (
    CHECK_FIRST_MIN,
    DEFAULT_CHUNK,
    FileChangedError,
    FileDigest,
    Progress,
    hash_file,
)
from immich_backupd.scan.changes import FileStat

__all__ = [
    "CHECK_FIRST_MIN",
    "DEFAULT_CHUNK",
    "FileChangedError",
    "FileDigest",
    "Hasher",
    "HasherClosedError",
    "Progress",
    "hash_file",
]

T = TypeVar("T")


HASH_NICE = 5
"""How much lower the hashing threads run than the rest of the process (nice steps).

Hashing is read-ahead: it only has to stay a little ahead of uploading, and it is
CPU-bound. The event loop carries the uploads, the watchdog pings and the answer to
SIGTERM. At equal priority a hashing thread (and its BLAKE3 helper) takes a core from
the loop whenever the machine is busy, and every upload waits for it; a few nice steps
lower, it takes what the loop leaves. Measured on 2 cores, the first backup of 1,000
photos against a stand-in on the same machine, with two hashing threads: ~10 % shorter.
With one (:func:`default_workers` on 2 cores) the difference is within the noise; it
matters where two threads hash beside the loop (see docs/performance.md).
"""


def default_workers() -> int:
    """Hashing threads for a pass: one per core beyond the event loop's, at most two.

    On two cores a second hashing thread only takes turns with the first, with the
    event loop that uploads, and (in the benchmark) with the server: measured on 2 cores,
    one thread (with its BLAKE3 helper) made a first backup of 1,000 photos ~7 % shorter
    and adopting 100,000 small files ~4 % shorter than two. More than two only makes a
    spinning disk seek.
    """
    return max(1, min(2, digest.CPUS - 1))


def lower_priority() -> None:
    """Make the calling thread :data:`HASH_NICE` steps nicer than the process's main
    thread (not than its creator, so it is the same however the thread was started).

    Linux only: there the nice value is a thread's own (setpriority(2) with a thread
    id); elsewhere the call takes a process id and would renice another process.
    Threads this one starts inherit it (the BLAKE3 helper). A refusal is ignored: it
    only costs speed.
    """
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    try:
        base = os.getpriority(os.PRIO_PROCESS, os.getpid())
        os.setpriority(os.PRIO_PROCESS, tid, min(19, base + HASH_NICE))
    except OSError:
        pass


class HasherClosedError(RuntimeError):
    """The :class:`Hasher` was closed before or while this file was hashed."""


class _Cancelled(Exception):
    """Raised inside a worker thread to stop a hash nobody waits for any more."""


class Hasher:
    """Hash files off the event loop, at most ``workers`` at a time.

    A few threads are enough: hashlib and blake3 release the GIL on large buffers, and
    more parallel reads only make a spinning disk seek. Calls beyond ``workers`` wait
    in the pool's queue. Cancelling :meth:`hash` stops the read at the next chunk.
    ``files_hashed`` and ``bytes_hashed`` count completed hashes, so tests can prove an
    unchanged file is never read.
    """

    def __init__(self, workers: int | None = None, *, chunk: int = DEFAULT_CHUNK) -> None:
        if workers is None:
            workers = default_workers()
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.chunk = chunk
        self.files_hashed = 0
        self.bytes_hashed = 0
        self.in_flight = 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="immich-hash",
                                        initializer=lower_priority)
        self._stop = threading.Event()
        self._closed = False
        self._count_lock = threading.Lock()  # counts kept by jobs in the pool threads

    def __repr__(self) -> str:
        return (
            f"<Hasher workers={self.workers} in_flight={self.in_flight} "
            f"files_hashed={self.files_hashed} bytes_hashed={self.bytes_hashed}>"
        )

    async def hash(
        self,
        path: Path | str,
        expected: FileStat | None = None,
        progress: Progress | None = None,
    ) -> FileDigest:
        """Run :func:`hash_file` in the pool; same result and exceptions.

        ``progress`` is called from the worker thread, not the event loop.
        """
        if self._closed:
            raise HasherClosedError("Hasher is closed")
        cancel = threading.Event()
        stop = self._stop

        def check(total: int) -> None:
            if cancel.is_set() or stop.is_set():
                raise _Cancelled
            if progress is not None:
                progress(total)

        loop = asyncio.get_running_loop()
        with self._count_lock:
            self.in_flight += 1
        try:
            digest = await loop.run_in_executor(
                self._pool, hash_file, path, expected, self.chunk, check
            )
        except asyncio.CancelledError:
            cancel.set()
            task = asyncio.current_task()
            if self._stop.is_set() and task is not None and not task.cancelling():
                # close() dropped the queued job: not a cancellation of the caller
                raise HasherClosedError("Hasher closed before hashing") from None
            raise
        except _Cancelled:
            raise HasherClosedError("Hasher closed while hashing") from None
        finally:
            with self._count_lock:
                self.in_flight -= 1
        with self._count_lock:
            self.files_hashed += 1
            self.bytes_hashed += digest.size
        return digest

    def hash_batch(
        self, jobs: Sequence[tuple[Path | str, FileStat | None]], keep_max: int = 0
    ) -> list[FileDigest | OSError]:
        """Hash several files in order, in a job already running in the pool (see
        :meth:`call`): one hop to a thread for a folder of small photos, not one each.
        Returns a digest or the OSError of each; counted. Files of at most ``keep_max``
        bytes keep their bytes in ``data``."""
        stop = self._stop

        def check(total: int) -> None:
            if stop.is_set():
                raise _Cancelled

        out: list[FileDigest | OSError] = []
        hashed = nbytes = 0
        with self._count_lock:
            self.in_flight += len(jobs)
        try:
            for path, expected in jobs:
                if stop.is_set():
                    raise _Cancelled
                try:
                    digest = hash_file(path, expected, self.chunk, check, keep_max=keep_max)
                except OSError as exc:
                    out.append(exc)
                    continue
                out.append(digest)
                hashed += 1
                nbytes += digest.size
        finally:
            with self._count_lock:
                self.in_flight -= len(jobs)
                self.files_hashed += hashed
                self.bytes_hashed += nbytes
        return out

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the hashing pool: a job that hashes (:meth:`hash_batch`)
        together with the reads that decide what to hash, in one hop off the loop.
        A job stopped by :meth:`close` raises :class:`HasherClosedError`."""
        if self._closed:
            raise HasherClosedError("Hasher is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except _Cancelled:
            raise HasherClosedError("Hasher closed while hashing") from None

    def close(self) -> None:
        """Stop: queued and running hashes end with :class:`HasherClosedError` (running
        ones at their next chunk); this waits for the workers to return."""
        self._closed = True
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> Hasher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
