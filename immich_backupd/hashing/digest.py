"""A file's content digests: SHA-1 (the server's checksum) and BLAKE3 (our own identity)
in one read, on the calling thread (``hasher.Hasher`` runs this off the event loop).

SHA-1 is what Immich dedupes by and what ``x-immich-checksum`` carries; BLAKE3 is a
strong local identity that survives SHA-1's weakness. Reading a file is the expensive
part, so both are fed from the same buffer in a single pass. The file is stat'ed before
and after (Syncthing's rule): a file that moved under us is reported, never uploaded
with a checksum of bytes that no longer exist.

A file no larger than a chunk is read with one ``read`` (open, fstat, read, fstat,
close: every syscall gives up the GIL and waits to get it back, so they are what a
small file costs). On large buffers both hashes release the GIL, so BLAKE3 runs on a
helper thread while this one does SHA-1 of the same bytes: the pair costs about what
SHA-1 alone does (BLAKE3 is twice as fast).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_mod
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from immich_backupd.scan.changes import FileStat

__all__ = ["CPUS", "FileChangedError", "FileDigest", "Progress", "hash_file"]

DEFAULT_CHUNK = 1 << 20
"""1 MiB: large enough that hashlib and blake3 release the GIL, small enough to stay cheap."""

_PARALLEL_MIN = 256 << 10
"""Below this, BLAKE3 runs on this thread: handing a buffer to the helper and waiting for
it costs more than hashing it here."""

# The helper pays only with a core to spare: with as many threads hashing large buffers
# as there are cores, helpers just take turns with them (measured on 2 cores, two files
# at once: 2.2 GB/s with helpers, 2.5 without).
try:
    CPUS = len(os.sched_getaffinity(0))
except AttributeError:  # not on Linux
    CPUS = os.cpu_count() or 1
_busy = 0  # threads hashing a large buffer right now
_busy_lock = threading.Lock()

Progress = Callable[[int], None]
"""Called from the hashing thread after each chunk with the bytes read so far; may raise
to abort the hash (the exception propagates)."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
    # A FIFO swapped in for a file would block open() forever; for regular files it is a no-op.
    | getattr(os, "O_NONBLOCK", 0)
)
_O_NOATIME = getattr(os, "O_NOATIME", 0)
# Files up to this size (by the scan's stat) are read before their stat is checked: the
# read costs what the check does. Larger ones are refused before a byte is read when
# they changed since the scan.
CHECK_FIRST_MIN = 64 << 10


class FileChangedError(OSError):
    """The file is not what was scanned: it changed since, or while it was being hashed.

    Not a failure of the file: the caller should re-stat it and try again later.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"changed while hashing ({reason})")
        self.strerror = f"changed while hashing ({reason})"
        self.filename = os.fspath(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


@dataclass(frozen=True, slots=True)
class FileDigest:
    """The two digests of a file's content and the number of bytes they cover.

    ``data`` holds the very bytes that were hashed when the caller asked to keep them
    (``keep_max``), so they can be sent without reading the file again; else None.
    """

    sha1: bytes
    blake3: bytes
    size: int
    data: bytes | None = field(default=None, repr=False, compare=False)


def _open(path: Path | str) -> int:
    """Open read-only, without updating atime where allowed (it saves a write per file).

    O_NOATIME is refused with EPERM for files we do not own (and are not root for); then
    open normally. EACCES is a real permission problem and propagates.
    """
    if _O_NOATIME:
        try:
            return os.open(path, _OPEN_FLAGS | _O_NOATIME)
        except PermissionError as err:
            if err.errno != errno.EPERM:
                raise
    return os.open(path, _OPEN_FLAGS)


def _changed(before: os.stat_result, after: os.stat_result) -> str | None:
    if after.st_size != before.st_size:
        return f"size {before.st_size} -> {after.st_size}"
    if after.st_mtime_ns != before.st_mtime_ns:
        return "mtime moved"
    return None


_local = threading.local()


def _buffers(chunk: int) -> tuple[memoryview, memoryview]:
    """Two read buffers per thread, reused: allocating (and zeroing) 1 MiB for every file
    cost three times the hashing of a small photo. Two, so the next chunk can be read
    while the helper still hashes the previous one."""
    bufs: tuple[memoryview, memoryview] | None = getattr(_local, "bufs", None)
    if bufs is None or len(bufs[0]) != chunk:
        bufs = _local.bufs = (memoryview(bytearray(chunk)), memoryview(bytearray(chunk)))
    return bufs


def _helper() -> ThreadPoolExecutor:
    """This thread's BLAKE3 helper, created on first use. It goes away with the thread:
    the thread-local is dropped, and an executor nobody holds stops its worker."""
    ex: ThreadPoolExecutor | None = getattr(_local, "helper", None)
    if ex is None:
        ex = _local.helper = ThreadPoolExecutor(1, thread_name_prefix="immich-b3")
    return ex


def _submit(b3: blake3.blake3, data: bytes | memoryview) -> Future[object] | None:
    """BLAKE3 of ``data`` on this thread's helper, or None (hash it here) when no core is
    spare or no thread can be started (the interpreter is shutting down)."""
    if _busy >= CPUS:
        return None
    try:
        return _helper().submit(b3.update, data)
    except RuntimeError:
        return None


def _enter() -> None:
    global _busy
    with _busy_lock:
        _busy += 1


def _leave() -> None:
    global _busy
    with _busy_lock:
        _busy -= 1


def _settle(pending: Future[object] | None) -> None:
    """Wait until the helper is done with a buffer, without raising: for the way out on
    an error, which must not let the next file overwrite bytes BLAKE3 still reads."""
    if pending is not None:
        pending.exception()


def _read_whole(fd: int, size: int) -> bytes:
    """The file's bytes, one more than ``size`` asked for: ``size`` bytes back means it
    was all read and nothing follows (a regular file reads short only at its end), more
    means it grew, fewer that it shrank."""
    data = os.read(fd, size + 1)
    if 0 < len(data) < size:
        # Short of the size and not at the end (0): some network or FUSE file systems
        # do this. Read on until the end or past the size, so it is not taken for a change.
        parts = [data]
        got = len(data)
        while got <= size and (more := os.read(fd, size + 1 - got)):
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


def _hash_bytes(data: bytes) -> tuple[hashlib._Hash, blake3.blake3]:
    """SHA-1 and BLAKE3 of one buffer; BLAKE3 on the helper when it is large and a core
    is free."""
    if len(data) < _PARALLEL_MIN:
        return hashlib.sha1(data, usedforsecurity=False), blake3.blake3(data)
    _enter()
    try:
        b3 = blake3.blake3()
        pending = _submit(b3, data)
        if pending is None:
            b3.update(data)
            return hashlib.sha1(data, usedforsecurity=False), b3
        try:
            sha1 = hashlib.sha1(data, usedforsecurity=False)
        except BaseException:
            _settle(pending)
            raise
        pending.result()
        return sha1, b3
    finally:
        _leave()


def _hash_chunks(
    fd: int, chunk: int, progress: Progress | None
) -> tuple[hashlib._Hash, blake3.blake3, int]:
    """Read ``fd`` to its end in ``chunk``-sized pieces into two alternating buffers: the
    helper does BLAKE3 of piece k while this thread does SHA-1 of it, and then reads
    piece k+1 into the other buffer (when a core is free; else both here). Never returns or
    raises with BLAKE3 still running."""
    bufs = _buffers(chunk)
    sha1 = hashlib.sha1(usedforsecurity=False)
    b3 = blake3.blake3()
    pending: Future[object] | None = None
    total = k = 0
    _enter()
    try:
        with open(fd, "rb", buffering=0, closefd=False) as f:
            while n := f.readinto(view := bufs[k & 1]):
                part = view if n == chunk else view[:n]
                if pending is not None:
                    pending.result()  # BLAKE3 of the previous piece, in the other buffer
                    pending = None
                if n >= _PARALLEL_MIN:
                    pending = _submit(b3, part)
                if pending is None:
                    b3.update(part)
                sha1.update(part)
                total += n
                k += 1
                if progress is not None:
                    progress(total)
        if pending is not None:
            pending.result()
            pending = None
    finally:
        _settle(pending)  # an error on the way: the buffer is free before anyone reuses it
        _leave()
    return sha1, b3, total


def hash_file(
    path: Path | str,
    expected: FileStat | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    *,
    keep_max: int = 0,
) -> FileDigest:
    """Return the SHA-1 and BLAKE3 of ``path``, read once.

    A file of at most ``chunk`` bytes, or at most ``keep_max``, is read with a single
    read; a larger one in ``chunk``-sized pieces (``progress`` is called after each).
    When ``0 < size <= keep_max`` the bytes hashed are returned in ``FileDigest.data``.

    Raise :class:`FileChangedError` if the open file's size or mtime differ from
    ``expected`` (the scan's stat; its inode too, when both are known), if they move
    while it is read, or if the bytes read differ from the size. FileNotFoundError and
    PermissionError propagate as they are; IsADirectoryError or OSError(EINVAL) for
    anything that is not a regular file.
    """
    if expected is not None and expected.size <= CHECK_FIRST_MIN:
        return _hash_small(path, expected, progress, keep_max)
    fd = _open(path)
    try:
        before = os.fstat(fd)
        _regular(before, path)
        size = before.st_size
        if expected is not None:
            reason = _differs(expected, before)
            if reason is not None:
                raise FileChangedError(path, reason)

        data: bytes | None = None
        if size <= chunk or size <= keep_max:
            data = _read_whole(fd, size)
            total = len(data)
            sha1, b3 = _hash_bytes(data)
            if progress is not None and total:
                progress(total)
        else:
            sha1, b3, total = _hash_chunks(fd, chunk, progress)
        after = os.fstat(fd)
    finally:
        os.close(fd)

    reason = _changed(before, after)
    if reason is None and total != size:
        reason = f"read {total} bytes of {size}"
    if reason is not None:
        raise FileChangedError(path, reason)
    keep = data if 0 < total <= keep_max else None
    return FileDigest(sha1.digest(), b3.digest(), total, keep)


def _hash_small(
    path: Path | str, expected: FileStat, progress: Progress | None, keep_max: int
) -> FileDigest:
    """:func:`hash_file` of a file the scan saw at most CHECK_FIRST_MIN bytes long: read
    at once, and one ``fstat`` after the read, compared with the scan's, says whether
    the bytes are the file's. A third fewer system calls than checking before too, for
    the case that is most of a library adopted (each call gives the GIL up and must
    get it back); a file that changed since the scan costs one small read."""
    fd = _open(path)
    try:
        try:
            data = _read_whole(fd, expected.size)
        except OSError:
            _regular(os.fstat(fd), path)  # a folder or a FIFO says so, not EISDIR/EAGAIN
            raise
        after = os.fstat(fd)
    finally:
        os.close(fd)
    _regular(after, path)
    reason = _differs(expected, after)
    if reason is None and len(data) != expected.size:
        reason = f"read {len(data)} bytes of {expected.size}"
    if reason is not None:
        raise FileChangedError(path, reason)
    sha1, b3 = _hash_bytes(data)
    total = len(data)
    if progress is not None and total:
        progress(total)
    return FileDigest(sha1.digest(), b3.digest(), total,
                      data if 0 < total <= keep_max else None)


def _regular(st: os.stat_result, path: Path | str) -> None:
    """Raise unless ``st`` is a regular file's."""
    if not stat_mod.S_ISREG(st.st_mode):
        if stat_mod.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", os.fspath(path))
        raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))


def _differs(expected: FileStat, st: os.stat_result) -> str | None:
    """Why ``st`` is not the file the scan saw (size, mtime, or inode when both are
    known), or None."""
    if st.st_size != expected.size:
        return f"size {expected.size} -> {st.st_size}"
    if st.st_mtime_ns != expected.mtime_ns:
        return "mtime moved since the scan"
    if expected.ino and st.st_ino and st.st_ino != expected.ino:
        return "replaced since the scan"
    return None
