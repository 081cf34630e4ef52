"""Bench trees: many tiny photos, ~1 MB photos, one big sparse video.

Every file has distinct content (so distinct SHA-1s) behind a JPEG magic number; the
stand-in, like Immich, judges by extension. The SHA-1s are computed while writing, so
a stand-in can be seeded with the tree's content without reading it back.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

JPEG = b"\xff\xd8\xff\xe0"
MP4 = b"\x00\x00\x00\x18ftypmp42"


@dataclass(slots=True)
class Tree:
    root: Path
    files: int
    bytes: int
    sha1s: list[bytes]


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def tiny_tree(root: Path, n: int, per_dir: int = 100, tag: str = "t") -> Tree:
    """``n`` photos of ~100 bytes, ``per_dir`` to a folder, folders 100 to a parent."""
    sha1s: list[bytes] = []
    total = 0
    pad = b"x" * 64
    for i in range(n):
        d, f = divmod(i, per_dir)
        if f == 0:
            folder = root / f"g{d // 100:04d}" / f"d{d:06d}"
            folder.mkdir(parents=True, exist_ok=True)
            folder_s = str(folder)
        data = JPEG + f"{tag}-{i}".encode() + pad
        _write(f"{folder_s}/IMG_{i:07d}.jpg", data)
        sha1s.append(hashlib.sha1(data).digest())
        total += len(data)
    return Tree(root, n, total, sha1s)


def mb_tree(root: Path, n: int, size: int = 1 << 20, per_dir: int = 100,
            tag: str = "m", seed: int = 1) -> Tree:
    """``n`` photos of about ``size`` bytes (±10 %), each with distinct content."""
    rng = random.Random(seed)
    block = rng.randbytes(size + size // 10)
    sha1s: list[bytes] = []
    total = 0
    for i in range(n):
        d, f = divmod(i, per_dir)
        if f == 0:
            folder = root / f"d{d:04d}"
            folder.mkdir(parents=True, exist_ok=True)
        length = size + rng.randint(-size // 10, size // 10)
        head = JPEG + f"{tag}-{i}-".encode()
        data = head + block[len(head):length]
        _write(str(folder / f"IMG_{i:05d}.jpg"), data)
        sha1s.append(hashlib.sha1(data).digest())
        total += len(data)
    return Tree(root, n, total, sha1s)


def sparse_video(root: Path, size: int) -> Tree:
    """One video of ``size`` bytes, a hole but for its header (hashing still reads it all)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "VID_big.mp4"
    with open(path, "wb") as f:
        f.write(MP4)
        f.truncate(size)
    return Tree(root, 1, size, [])


def write_seed(path: Path, sha1s: list[bytes]) -> None:
    """The seed file for a stand-in: the raw SHA-1s, 20 bytes each."""
    path.write_bytes(b"".join(sha1s))
