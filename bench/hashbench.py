"""Target 4: SHA-1 and BLAKE3 in one read pass vs SHA-1 alone, on the same file.

The combined figure is the engine's own ``immich_backupd.hashing.hasher.hash_file``; the
baselines are bare loops over the same file with the same 1 MiB buffer. The file is in
the page cache (one warm-up read), so this measures hashing, not the disk.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import blake3

CHUNK = 1 << 20


def make_file(path: Path, size: int) -> Path:
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(block)
    with open(path, "rb") as f:  # warm the page cache
        while f.read(CHUNK * 8):
            pass
    return path


def _loop(path: Path, update: Callable[[memoryview], None]) -> None:
    view = memoryview(bytearray(CHUNK))
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(view):
            update(view[:n])


def read_only(path: Path) -> None:
    _loop(path, lambda b: None)


def sha1_only(path: Path) -> None:
    h = hashlib.sha1(usedforsecurity=False)
    _loop(path, h.update)


def blake3_only(path: Path) -> None:
    h = blake3.blake3()
    _loop(path, h.update)


def engine_both(path: Path) -> None:
    from immich_backupd.hashing.hasher import hash_file

    hash_file(path)


CASES: dict[str, Callable[[Path], None]] = {
    "read": read_only,
    "sha1": sha1_only,
    "blake3": blake3_only,
    "sha1+blake3 (engine hash_file)": engine_both,
}


def run(path: Path, repeat: int) -> dict[str, list[float]]:
    """GB/s per case, the cases interleaved in each round."""
    size = path.stat().st_size
    out: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(repeat):
        for name, fn in CASES.items():
            t = time.perf_counter()
            fn(path)
            out[name].append(size / (time.perf_counter() - t) / 1e9)
    return out


def per_file(folder: Path, size: int = 100, count: int = 500, repeat: int = 5) -> float:
    """Microseconds per ``hash_file`` of ``count`` files of ``size`` bytes (best of
    ``repeat``): for small photos the syscalls and the Python around them, not the hashing,
    are the cost."""
    from immich_backupd.hashing.hasher import hash_file

    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{i}.jpg" for i in range(count)]
    for p in files:
        p.write_bytes(os.urandom(size))
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for p in files:
            hash_file(p)
        best = min(best, time.perf_counter() - t)
    for p in files:
        p.unlink()
    return best / count * 1e6
