"""Hashing: one read for SHA-1 and BLAKE3, "changed while hashing", and the bounded Hasher."""

from __future__ import annotations

import asyncio
import builtins
import errno
import hashlib
import os
import random
import threading
import time
from pathlib import Path
from typing import ClassVar

import blake3
import pytest

from immich_backupd.hashing import digest
from immich_backupd.hashing import hasher as hashing
from immich_backupd.hashing.hasher import (
    CHECK_FIRST_MIN,
    FileChangedError,
    FileDigest,
    Hasher,
    HasherClosedError,
    hash_file,
)
from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from immich_backupd.scan.changes import FileStat, needs_hash
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.scan.walk import walk

CHUNK = 4096


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def stat_of(path: Path) -> FileStat:
    return FileStat.from_stat_result(path.name, os.stat(path))


# --- digests ---------------------------------------------------------------------------------


def test_empty_file_known_vectors(tmp_path: Path) -> None:
    d = hash_file(write(tmp_path / "e.jpg", b""))
    assert d.size == 0
    assert d.sha1.hex() == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert d.blake3.hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


@pytest.mark.parametrize("size", [1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17])
@pytest.mark.parametrize("chunk", [CHUNK, hashing.DEFAULT_CHUNK])
def test_matches_hashlib_and_blake3(tmp_path: Path, size: int, chunk: int) -> None:
    data = random.Random(size).randbytes(size)
    d = hash_file(write(tmp_path / "r.bin", data), chunk=chunk)
    assert d == FileDigest(hashlib.sha1(data).digest(), blake3.blake3(data).digest(), size)


def test_progress_reports_bytes_read(tmp_path: Path) -> None:
    p = write(tmp_path / "p.bin", bytes(2 * CHUNK + 1))
    seen: list[int] = []
    hash_file(p, chunk=CHUNK, progress=seen.append)
    assert seen == [CHUNK, 2 * CHUNK, 2 * CHUNK + 1]


def test_expected_stat_that_matches(tmp_path: Path) -> None:
    p = write(tmp_path / "a.jpg", b"abc")
    assert hash_file(p, expected=stat_of(p)).size == 3


# --- changed while hashing -------------------------------------------------------------------


def test_appended_while_hashing(tmp_path: Path) -> None:
    p = write(tmp_path / "grow.mov", bytes(4 * CHUNK))

    def append_once(total: int) -> None:
        if total == CHUNK:
            with open(p, "ab") as f:
                f.write(b"more")

    with pytest.raises(FileChangedError, match="changed while hashing") as info:
        hash_file(p, chunk=CHUNK, progress=append_once)
    assert isinstance(info.value, OSError)
    assert info.value.filename == str(p)


def test_mtime_moved_while_hashing(tmp_path: Path) -> None:
    p = write(tmp_path / "touched.jpg", bytes(3 * CHUNK))
    st = os.stat(p)

    def touch(total: int) -> None:
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    with pytest.raises(FileChangedError, match="mtime"):
        hash_file(p, chunk=CHUNK, progress=touch)


def test_truncated_while_hashing(tmp_path: Path) -> None:
    p = write(tmp_path / "shrink.jpg", bytes(4 * CHUNK))

    def shrink(total: int) -> None:
        if total == CHUNK:
            os.truncate(p, CHUNK)

    with pytest.raises(FileChangedError):
        hash_file(p, chunk=CHUNK, progress=shrink)


@pytest.mark.parametrize(
    "change",
    [{"size": 99}, {"mtime_ns": 1}, {"ino": 123456789}],
    ids=["size", "mtime", "inode"],
)
def test_changed_since_the_scan_is_refused_before_reading(
    tmp_path: Path, change: dict[str, int]
) -> None:
    p = write(tmp_path / "a.mov", bytes(CHECK_FIRST_MIN + 1))
    expected = stat_of(p)._replace(**change)
    seen: list[int] = []
    with pytest.raises(FileChangedError, match=r"size|since the scan"):
        hash_file(p, expected=expected, chunk=CHUNK, progress=seen.append)
    assert seen == []  # not a byte read


@pytest.mark.parametrize(
    "change",
    [{"size": 99}, {"size": 2}, {"mtime_ns": 1}, {"ino": 123456789}],
    ids=["size-larger", "size-smaller", "mtime", "inode"],
)
def test_small_file_changed_since_the_scan_is_refused(
    tmp_path: Path, change: dict[str, int]
) -> None:
    """A small file is read first and its stat checked after: refused all the same,
    with no digest and no progress."""
    p = write(tmp_path / "a.jpg", b"abc")
    expected = stat_of(p)._replace(**change)
    seen: list[int] = []
    with pytest.raises(FileChangedError, match=r"size|since the scan") as info:
        hash_file(p, expected=expected, progress=seen.append, keep_max=1 << 20)
    assert info.value.filename == str(p)
    assert seen == []


def test_small_file_replaced_by_a_folder_or_fifo_since_the_scan(tmp_path: Path) -> None:
    p = write(tmp_path / "a.jpg", b"abc")
    expected = stat_of(p)
    p.unlink()
    p.mkdir()
    with pytest.raises(IsADirectoryError) as folder:
        hash_file(p, expected=expected)
    assert folder.value.filename == str(p)
    p.rmdir()
    os.mkfifo(p)  # no writer: O_NONBLOCK keeps open() and read() from hanging
    with pytest.raises(OSError) as fifo:
        hash_file(p, expected=expected)
    assert fifo.value.errno == errno.EINVAL


def test_small_file_with_the_scans_stat_is_hashed_in_one_read(tmp_path: Path) -> None:
    data = b"\xff\xd8\xff" + bytes(range(256)) * 10
    p = write(tmp_path / "a.jpg", data)
    seen: list[int] = []
    d = hash_file(p, expected=stat_of(p), progress=seen.append, keep_max=1 << 20)
    assert d.sha1 == hashlib.sha1(data).digest()
    assert d.blake3 == blake3.blake3(data).digest()
    assert (d.size, d.data, seen) == (len(data), data, [len(data)])


# --- other errors ----------------------------------------------------------------------------


def test_missing_file_propagates(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hash_file(tmp_path / "nope.jpg")


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        hash_file(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")  # no writer: a plain open() would hang here
    with pytest.raises(OSError) as info:
        hash_file(tmp_path / "pipe.jpg")
    assert info.value.errno == errno.EINVAL


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_permission_error_propagates(tmp_path: Path) -> None:
    p = write(tmp_path / "secret.jpg", b"x")
    p.chmod(0)
    with pytest.raises(PermissionError):
        hash_file(p)


@pytest.mark.skipif(not digest._O_NOATIME, reason="no O_NOATIME on this platform")
def test_noatime_refused_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "not_mine.jpg", b"abc")
    real_open = os.open
    flags_seen: list[int] = []

    def fake_open(path: object, flags: int, *args: object) -> int:
        flags_seen.append(flags)
        if flags & digest._O_NOATIME:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(digest.os, "open", fake_open)
    assert hash_file(p).size == 3
    assert len(flags_seen) == 2


@pytest.mark.skipif(not digest._O_NOATIME, reason="no O_NOATIME on this platform")
def test_eacces_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object, flags: int, *args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(digest.os, "open", denied)
    with pytest.raises(PermissionError):
        hash_file(write(tmp_path / "a.jpg", b"x"))


# --- small files: one read --------------------------------------------------------------------


def reference(data: bytes) -> FileDigest:
    return FileDigest(hashlib.sha1(data).digest(), blake3.blake3(data).digest(), len(data))


@pytest.mark.parametrize("keep_max", [0, 8 * CHUNK])
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_single_read_and_chunked_paths_match_reference(
    tmp_path: Path, size: int, keep_max: int
) -> None:
    data = random.Random(size).randbytes(size)
    assert hash_file(write(tmp_path / "r.bin", data), chunk=CHUNK, keep_max=keep_max) == (
        reference(data)
    )


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The counts asked of os.read while hashing (the one-read path uses it, the chunked
    path reads through a FileIO)."""
    real_read = os.read
    asked: list[int] = []

    def read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(digest.os, "read", read)
    return asked


def test_small_file_is_read_with_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "s.jpg", b"x" * 100)
    asked = count_reads(monkeypatch)
    seen: list[int] = []
    assert hash_file(p, chunk=CHUNK, progress=seen.append) == reference(b"x" * 100)
    assert asked == [101]  # one byte more than the size: nothing follows
    assert seen == [100]


def test_empty_file_reports_no_progress(tmp_path: Path) -> None:
    seen: list[int] = []
    assert hash_file(write(tmp_path / "e.jpg", b""), progress=seen.append).size == 0
    assert seen == []


# --- keeping the bytes -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 100, CHUNK, CHUNK + 1, 5 * CHUNK + 3])
def test_kept_bytes_are_exactly_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    data = random.Random(size).randbytes(size)
    p = write(tmp_path / "k.jpg", data)
    asked = count_reads(monkeypatch)
    seen: list[int] = []
    d = hash_file(p, chunk=CHUNK, progress=seen.append, keep_max=size)
    assert d.data == data
    assert type(d.data) is bytes
    assert d == reference(data)
    assert asked == [size + 1]  # read once, even beyond the chunk
    assert seen == [size]
    assert "data" not in repr(d)


def test_bytes_are_not_kept_above_keep_max_or_by_default(tmp_path: Path) -> None:
    small = write(tmp_path / "small.jpg", b"abc")
    big = write(tmp_path / "big.jpg", bytes(3 * CHUNK))
    empty = write(tmp_path / "empty.jpg", b"")
    assert hash_file(small).data is None
    assert hash_file(small, keep_max=2).data is None
    assert hash_file(small, keep_max=3).data == b"abc"
    assert hash_file(big, chunk=CHUNK, keep_max=3 * CHUNK - 1).data is None
    assert hash_file(big, chunk=CHUNK, keep_max=3 * CHUNK).data == bytes(3 * CHUNK)
    assert hash_file(empty, keep_max=100).data is None
    assert hash_file(empty).data is None


# --- one read: changed between fstat and read ------------------------------------------------


@pytest.mark.parametrize("keep_max", [0, 1 << 20])
def test_appended_before_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_max: int
) -> None:
    p = write(tmp_path / "grow.jpg", b"a" * 100)
    real_read = os.read

    def append_then_read(fd: int, n: int) -> bytes:
        with open(p, "ab") as f:
            f.write(b"more")
        return real_read(fd, n)

    monkeypatch.setattr(digest.os, "read", append_then_read)
    with pytest.raises(FileChangedError, match="changed while hashing"):
        hash_file(p, keep_max=keep_max)


def test_truncated_before_the_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "shrink.jpg", b"a" * 100)
    real_read = os.read

    def truncate_then_read(fd: int, n: int) -> bytes:
        os.truncate(p, 40)
        return real_read(fd, n)

    monkeypatch.setattr(digest.os, "read", truncate_then_read)
    with pytest.raises(FileChangedError, match="changed while hashing"):
        hash_file(p)


@pytest.mark.parametrize(
    ("returned", "reason"),
    [(b"a" * 101, "read 101 bytes of 100"), (b"a" * 60, "read 60 bytes of 100")],
    ids=["more", "fewer"],
)
def test_read_length_differs_from_the_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, returned: bytes, reason: str
) -> None:
    """The bytes, not only the stat after, must match the size: a read that returns more
    (or less, then the end) than fstat said is a change even if the stat does not move."""
    p = write(tmp_path / "odd.jpg", b"a" * 100)
    replies = [returned, b""]
    monkeypatch.setattr(digest.os, "read", lambda fd, n: replies.pop(0))
    with pytest.raises(FileChangedError) as info:
        hash_file(p, keep_max=1000)
    assert info.value.reason == reason


def test_short_reads_before_the_end_are_read_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network file systems return less than asked before the end: not a change."""
    data = random.Random(7).randbytes(1000)
    p = write(tmp_path / "nfs.jpg", data)
    real_read = os.read
    asked: list[int] = []

    def dribble(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, min(n, 300))

    monkeypatch.setattr(digest.os, "read", dribble)
    d = hash_file(p, keep_max=1000)
    assert d == reference(data)
    assert d.data == data
    # on until the end: past the size or a read of 0 (the short 100 is no proof here)
    assert asked == [1001, 701, 401, 101, 1]


# --- parallel BLAKE3 -------------------------------------------------------------------------


class RecordingBlake3:
    """A blake3 hasher that notes which thread each update ran on, optionally slowly."""

    delay: ClassVar[float] = 0.0
    calls: ClassVar[list[tuple[str, int]]] = []
    running: ClassVar[int] = 0

    def __init__(self, data: bytes | None = None) -> None:
        self._h = REAL_BLAKE3()
        if data is not None:
            self.update(data)

    def update(self, data: bytes | memoryview) -> RecordingBlake3:
        cls = type(self)
        cls.running += 1
        try:
            cls.calls.append((threading.current_thread().name, len(data)))
            time.sleep(cls.delay)
            self._h.update(data)
        finally:
            cls.running -= 1
        return self

    def digest(self) -> bytes:
        return self._h.digest()


REAL_BLAKE3 = blake3.blake3


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> type[RecordingBlake3]:
    class Rec(RecordingBlake3):
        calls: ClassVar[list[tuple[str, int]]] = []

    monkeypatch.setattr(digest, "blake3", type("m", (), {"blake3": Rec}))
    monkeypatch.setattr(digest, "CPUS", 8)  # cores to spare, whatever the machine
    return Rec


BIG = hashing.DEFAULT_CHUNK


@pytest.mark.parametrize("size", [2 * BIG, 3 * BIG + 5, 4 * BIG - 1])
def test_parallel_digests_match_reference(
    tmp_path: Path, size: int, recording: type[RecordingBlake3]
) -> None:
    files = []
    for i in range(3):  # one after the other: the buffers are reused
        data = random.Random(size + i).randbytes(size)
        files.append((write(tmp_path / f"{i}.mov", data), data))
    for p, data in files:
        assert hash_file(p) == reference(data)
    helper = [n for name, n in recording.calls if name.startswith("immich-b3")]
    here = [n for name, n in recording.calls if not name.startswith("immich-b3")]
    assert helper and all(n >= digest._PARALLEL_MIN for n in helper)
    assert all(n < digest._PARALLEL_MIN for n in here)  # a short last piece, or none


def test_small_inputs_stay_on_this_thread(tmp_path: Path, recording: type[RecordingBlake3]) -> None:
    data = os.urandom(digest._PARALLEL_MIN - 1)
    assert hash_file(write(tmp_path / "a.jpg", data)) == reference(data)
    assert hash_file(write(tmp_path / "b.jpg", data), chunk=CHUNK) == reference(data)
    assert {name for name, _ in recording.calls} == {threading.current_thread().name}


def test_large_kept_buffer_uses_the_helper(
    tmp_path: Path, recording: type[RecordingBlake3]
) -> None:
    data = os.urandom(3 * BIG + 1)
    d = hash_file(write(tmp_path / "k.mov", data), keep_max=len(data))
    assert d == reference(data) and d.data == data
    assert [(name.startswith("immich-b3"), n) for name, n in recording.calls] == [(True, len(data))]


@pytest.mark.parametrize("chunk", [CHUNK, BIG])
def test_parallel_with_small_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Every piece through the helper, the last one short: same digests."""
    monkeypatch.setattr(digest, "_PARALLEL_MIN", 1)
    monkeypatch.setattr(digest, "CPUS", 8)
    for size in (0, 1, chunk + 1, 7 * chunk + 3, 8 * chunk):
        data = random.Random(size).randbytes(size)
        assert hash_file(write(tmp_path / "r.bin", data), chunk=chunk) == reference(data)


def test_abort_waits_for_the_helper_and_the_next_file_is_right(
    tmp_path: Path, recording: type[RecordingBlake3]
) -> None:
    """Progress raising mid-file (a cancelled hash) returns only once BLAKE3 is done with
    the buffer, so the next file cannot be read into bytes it still hashes."""
    recording.delay = 0.05
    p = write(tmp_path / "a.mov", os.urandom(4 * BIG))
    running_at_abort: list[int] = []

    class Stop(Exception):
        pass

    def stop_at_second(total: int) -> None:
        if total == 2 * BIG:
            raise Stop

    for _ in range(3):
        with pytest.raises(Stop):
            try:
                hash_file(p, progress=stop_at_second)
            finally:
                running_at_abort.append(recording.running)
    assert running_at_abort == [0, 0, 0]
    assert digest._busy == 0
    assert [name.startswith("immich-b3") for name, _ in recording.calls] == [True, True] * 3

    recording.delay = 0.0
    data = random.Random(1).randbytes(3 * BIG + 7)
    assert hash_file(write(tmp_path / "b.mov", data)) == reference(data)


def test_read_error_waits_for_the_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: type[RecordingBlake3]
) -> None:
    recording.delay = 0.05
    p = write(tmp_path / "a.mov", os.urandom(3 * BIG))
    real_open = builtins.open
    reads = 0

    class FailingFile:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self._f = real_open(*args, **kwargs)  # type: ignore[call-overload]

        def __enter__(self) -> FailingFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

        def readinto(self, view: memoryview) -> int:
            nonlocal reads
            reads += 1
            if reads == 2:
                raise OSError(errno.EIO, "Input/output error")
            return self._f.readinto(view)  # type: ignore[no-any-return]

    monkeypatch.setattr(digest, "open", FailingFile, raising=False)
    with pytest.raises(OSError, match="Input/output"):
        try:
            hash_file(p)
        finally:
            assert recording.running == 0
    assert len(recording.calls) == 1
    assert digest._busy == 0


def test_no_helper_without_a_spare_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: type[RecordingBlake3]
) -> None:
    monkeypatch.setattr(digest, "CPUS", 1)
    data = os.urandom(3 * BIG + 1)
    p = write(tmp_path / "a.mov", data)
    assert hash_file(p) == reference(data)
    assert hash_file(p, keep_max=len(data)) == reference(data)
    assert {name for name, _ in recording.calls} == {threading.current_thread().name}
    assert digest._busy == 0


def test_helper_only_while_cores_are_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: type[RecordingBlake3]
) -> None:
    """Two cores: a file hashed alone gets the helper; while another thread is in the
    middle of a large file, this one hashes both here (helpers would only take turns)."""
    monkeypatch.setattr(digest, "CPUS", 2)
    a = write(tmp_path / "a.mov", os.urandom(3 * BIG))
    b_data = os.urandom(3 * BIG)
    b = write(tmp_path / "b.mov", b_data)
    a_inside, b_done = threading.Event(), threading.Event()

    def hold(total: int) -> None:
        a_inside.set()
        assert b_done.wait(5)

    def hash_a() -> None:
        hash_file(a, progress=hold)

    t = threading.Thread(target=hash_a, name="hash-a")
    t.start()
    try:
        assert a_inside.wait(5)
        start = len(recording.calls)
        assert hash_file(b) == reference(b_data)
        during = recording.calls[start:]
    finally:
        b_done.set()
        t.join()
    assert during and {name for name, _ in during} == {threading.current_thread().name}
    assert digest._busy == 0
    recording.calls.clear()
    assert hash_file(b) == reference(b_data)  # alone again: the helper
    assert all(name.startswith("immich-b3") for name, _ in recording.calls)


def test_no_helper_thread_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: type[RecordingBlake3]
) -> None:
    """At interpreter exit, submit raises RuntimeError: hash here instead."""

    class Refusing:
        def submit(self, *args: object) -> None:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(digest, "_helper", Refusing)
    data = os.urandom(3 * BIG + 1)
    p = write(tmp_path / "a.mov", data)
    assert hash_file(p) == reference(data)
    assert hash_file(p, keep_max=len(data)) == reference(data)
    assert {name for name, _ in recording.calls} == {threading.current_thread().name}


def test_helper_ends_with_its_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest, "CPUS", 8)
    p = write(tmp_path / "a.mov", os.urandom(2 * BIG))

    def helpers() -> int:
        return sum(t.name.startswith("immich-b3") for t in threading.enumerate())

    before = helpers()
    results: list[FileDigest] = []
    t = threading.Thread(target=lambda: results.append(hash_file(p)))
    t.start()
    t.join()
    assert results
    deadline = time.monotonic() + 5
    while helpers() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert helpers() == before


def _nice_of(tid: int) -> int:
    """A thread's nice value, as the kernel reports it (/proc, not getpriority)."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[16])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice: Linux")
async def test_hashing_threads_run_nicer_than_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's threads and their BLAKE3 helpers yield to the event loop's thread."""
    monkeypatch.setattr(digest, "CPUS", 8)  # a core to spare: the helper is used
    p = write(tmp_path / "a.mov", os.urandom(2 * BIG))
    main = _nice_of(threading.main_thread().native_id)  # type: ignore[arg-type]
    want = min(19, main + hashing.HASH_NICE)
    assert want > main  # otherwise this test could not tell
    before = {t.native_id for t in threading.enumerate()}  # other threads' helpers
    async with Hasher(workers=2) as h:
        tids = await asyncio.gather(*(h.call(lambda: (hash_file(p), threading.get_native_id())[1])
                                      for _ in range(4)))
        helpers = [t.native_id for t in threading.enumerate()
                   if t.name.startswith("immich-b3") and t.native_id not in before]
        assert helpers
        assert {_nice_of(t) for t in [*tids, *helpers]} == {want}
        assert _nice_of(threading.get_native_id()) == main
        assert _nice_of(threading.main_thread().native_id) == main  # type: ignore[arg-type]


# --- Hasher ----------------------------------------------------------------------------------


async def test_hasher_counts_and_matches_hash_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jpg", b"hello")
    b = write(tmp_path / "b.jpg", bytes(3 * CHUNK))
    async with Hasher(workers=2, chunk=CHUNK) as h:
        da, db = await asyncio.gather(h.hash(a), h.hash(b, expected=stat_of(b)))
        assert da == hash_file(a)
        assert db == hash_file(b)
        assert (h.files_hashed, h.bytes_hashed, h.in_flight) == (2, 5 + 3 * CHUNK, 0)
        assert "files_hashed=2" in repr(h)


async def test_hasher_propagates_errors_and_does_not_count_them(tmp_path: Path) -> None:
    p = write(tmp_path / "a.jpg", b"abc")
    async with Hasher() as h:
        with pytest.raises(FileNotFoundError):
            await h.hash(tmp_path / "missing.jpg")
        with pytest.raises(FileChangedError):
            await h.hash(p, expected=stat_of(p)._replace(size=1))
        assert (h.files_hashed, h.bytes_hashed) == (0, 0)


async def test_hasher_concurrency_is_bounded(tmp_path: Path) -> None:
    files = [write(tmp_path / f"{i}.jpg", bytes(2 * CHUNK)) for i in range(6)]
    lock = threading.Lock()
    active: set[int] = set()
    peak = 0

    def slow(total: int) -> None:
        nonlocal peak
        me = threading.get_ident()
        with lock:
            active.add(me)
            peak = max(peak, len(active))
        time.sleep(0.02)
        if total == 2 * CHUNK:
            with lock:
                active.discard(me)

    async with Hasher(workers=2, chunk=CHUNK) as h:
        await asyncio.gather(*(h.hash(f, progress=slow) for f in files))
    assert peak == 2
    assert h.files_hashed == 6


async def test_cancelled_hash_stops_reading(tmp_path: Path) -> None:
    p = write(tmp_path / "big.mov", bytes(10 * CHUNK))
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def hold(total: int) -> None:
        calls.append(total)
        started.set()
        release.wait(5)

    h = Hasher(workers=1, chunk=CHUNK)
    task = asyncio.create_task(h.hash(p, progress=hold))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.to_thread(h.close)  # waits for the worker
    assert calls == [CHUNK]  # aborted at the next chunk, not read to the end
    assert h.files_hashed == 0


async def test_closed_hasher_refuses_work(tmp_path: Path) -> None:
    h = Hasher()
    h.close()
    with pytest.raises(HasherClosedError):
        await h.hash(write(tmp_path / "a.jpg", b"x"))


@pytest.mark.parametrize(("cpus", "workers"), [(1, 1), (2, 1), (3, 2), (16, 2)])
def test_default_workers_leave_a_core_to_the_loop(
    monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int
) -> None:
    monkeypatch.setattr(digest, "CPUS", cpus)
    assert hashing.default_workers() == workers
    h = Hasher()
    try:
        assert h.workers == workers
    finally:
        h.close()


def test_hasher_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        Hasher(workers=0)


async def test_unchanged_files_are_never_hashed(tmp_path: Path) -> None:
    """Scan, hash what needs it, remember; the second scan hashes nothing."""
    for i in range(3):
        write(tmp_path / f"{i}.jpg", bytes([i]) * 100)
    rules = AlbumRules([tmp_path], [])
    known: dict[str, FileStat] = {}

    async def one_pass(h: Hasher) -> None:
        for listing in walk(rules, DEFAULT_MEDIA_TYPES):
            for st in listing.files:
                path = listing.path / st.name
                if needs_hash(st, known.get(str(path))):
                    await h.hash(path, expected=st)
                    known[str(path)] = st  # what a record keeps of it

    async with Hasher() as h:
        await one_pass(h)
        assert (h.files_hashed, h.bytes_hashed) == (3, 300)
        await one_pass(h)
        assert h.files_hashed == 3  # nothing re-read
        write(tmp_path / "1.jpg", b"changed")
        await one_pass(h)
        assert (h.files_hashed, h.bytes_hashed) == (4, 307)


async def test_close_ends_running_and_queued_hashes(tmp_path: Path) -> None:
    files = [write(tmp_path / f"{i}.mov", bytes(4 * CHUNK)) for i in range(3)]
    started, release = threading.Event(), threading.Event()

    def hold(total: int) -> None:
        started.set()
        release.wait(5)

    h = Hasher(workers=1, chunk=CHUNK)
    tasks = [asyncio.create_task(h.hash(f, progress=hold)) for f in files]
    await asyncio.to_thread(started.wait, 5)
    closing = asyncio.create_task(asyncio.to_thread(h.close))
    await asyncio.sleep(0.05)
    release.set()
    await closing
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, HasherClosedError) for r in results), results
    assert h.files_hashed == 0


async def test_hash_batch_keeps_small_files(tmp_path: Path) -> None:
    small = write(tmp_path / "a.jpg", b"hello")
    big = write(tmp_path / "b.mov", bytes(3 * CHUNK))
    async with Hasher(chunk=CHUNK) as h:
        da, db, missing = await h.call(
            h.hash_batch,
            [(small, stat_of(small)), (big, None), (tmp_path / "gone.jpg", None)], 100
        )
        assert isinstance(da, FileDigest) and isinstance(db, FileDigest)
        assert (da.data, db.data) == (b"hello", None)
        assert da == reference(b"hello")
        assert isinstance(missing, FileNotFoundError)
        (plain,) = await h.call(h.hash_batch, [(small, None)])
        assert isinstance(plain, FileDigest) and plain.data is None
        assert (h.files_hashed, h.bytes_hashed) == (3, 5 + 3 * CHUNK + 5)
