"""Hashing: one read for SHA-1 and BLAKE3, "changed while hashing", and the bounded Hasher."""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import os
import random
import threading
import time
from dataclasses import replace
from pathlib import Path

import blake3
import pytest

from immich_backupd import hashing
from immich_backupd.changes import FileStat, KnownRecord, needs_hash
from immich_backupd.hashing import (
    FileChangedError,
    FileDigest,
    Hasher,
    HasherClosedError,
    hash_file,
)
from immich_backupd.media import DEFAULT_MEDIA_TYPES
from immich_backupd.rules import AlbumRules
from immich_backupd.scan import walk

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
    assert d.sha1_hex == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert d.sha1_b64 == "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
    assert d.blake3_hex == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


@pytest.mark.parametrize("size", [1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17])
@pytest.mark.parametrize("chunk", [CHUNK, hashing.DEFAULT_CHUNK])
def test_matches_hashlib_and_blake3(tmp_path: Path, size: int, chunk: int) -> None:
    data = random.Random(size).randbytes(size)
    d = hash_file(write(tmp_path / "r.bin", data), chunk=chunk)
    assert d == FileDigest(hashlib.sha1(data).digest(), blake3.blake3(data).digest(), size)
    assert len(d.sha1_b64) == 28
    assert base64.b64decode(d.sha1_b64) == d.sha1
    assert d.sha1_hex == hashlib.sha1(data).hexdigest()
    assert d.blake3_hex == blake3.blake3(data).hexdigest()


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
    p = write(tmp_path / "a.jpg", b"abc")
    expected = replace(stat_of(p), **change)
    seen: list[int] = []
    with pytest.raises(FileChangedError):
        hash_file(p, expected=expected, progress=seen.append)
    assert seen == []  # not a byte read


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


@pytest.mark.skipif(not hashing._O_NOATIME, reason="no O_NOATIME on this platform")
def test_noatime_refused_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "not_mine.jpg", b"abc")
    real_open = os.open
    flags_seen: list[int] = []

    def fake_open(path: object, flags: int, *args: object) -> int:
        flags_seen.append(flags)
        if flags & hashing._O_NOATIME:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing.os, "open", fake_open)
    assert hash_file(p).size == 3
    assert len(flags_seen) == 2


@pytest.mark.skipif(not hashing._O_NOATIME, reason="no O_NOATIME on this platform")
def test_eacces_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object, flags: int, *args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(hashing.os, "open", denied)
    with pytest.raises(PermissionError):
        hash_file(write(tmp_path / "a.jpg", b"x"))


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
            await h.hash(p, expected=replace(stat_of(p), size=1))
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


def test_hasher_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        Hasher(workers=0)


async def test_unchanged_files_are_never_hashed(tmp_path: Path) -> None:
    """Scan, hash what needs it, remember; the second scan hashes nothing."""
    for i in range(3):
        write(tmp_path / f"{i}.jpg", bytes([i]) * 100)
    rules = AlbumRules([tmp_path], [])
    known: dict[str, KnownRecord] = {}

    async def one_pass(h: Hasher) -> None:
        for listing in walk(rules, DEFAULT_MEDIA_TYPES):
            for st in listing.files:
                path = listing.path / st.name
                if needs_hash(st, known.get(str(path))):
                    await h.hash(path, expected=st)
                    known[str(path)] = KnownRecord(st.size, st.mtime_ns, st.ino)

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
