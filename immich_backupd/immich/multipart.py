"""The streamed ``POST /api/assets`` body.

Built by hand rather than with ``aiohttp.FormData`` for three reasons:
- Order: the file parts go first and ``filename`` last. A real v3.1 server reads
  ``filename`` only when it precedes the file part, and then checks the sidecar's
  extension against it, failing a valid ``.xmp``.
- Memory: the file is read in fixed chunks off the event loop, so a 4 GB video costs
  one chunk of memory, and the exact ``Content-Length`` is known up front.
- Integrity: the SHA-1 of the bytes actually sent is computed on the way and compared
  with the checksum announced in ``x-immich-checksum`` *before* the closing boundary.
  If the file changed since it was hashed, the body is aborted, the server sees a body
  cut short and keeps nothing, and the file is retried: a torn file is never uploaded.
  (The bytes themselves are compared here, which no stat could fool.)
- Read once: a small file whose bytes the hasher kept (``FilePart.data``) is sent from
  them: no second read, no second SHA-1. They are the bytes that were hashed, so the
  checksum holds by construction; the file is stat'ed before the closing boundary, and
  a file whose size, mtime or inode moved since is aborted the same way (it is being
  rewritten, or was replaced by a rename as rsync and editors do, perhaps with the same
  size and mtime: what it will hold is uploaded when it settles). On a local disk that
  ``stat`` runs on the event loop; elsewhere (NFS, SMB, FUSE: it may hang) in a thread.

The body knows what it handed on (``bytes_sent``: file bytes read and given to the HTTP
library), not what left the machine: that is outgoing.py's, which maps the bytes the
kernel saw off back to bytes of the files (:meth:`MultipartBody.file_bytes_within`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 20
#: The chunk sent under a bandwidth cap: small enough to keep the rate smooth (64 KiB at
#: 100 KB/s is well under a second), large enough to cost nothing.
PACED_CHUNK = 64 << 10
#: Waits until that many more bytes may be sent (the bandwidth cap; pipeline/pacer.py).
Pace = Callable[[int], Awaitable[None]]


class FileChangedDuringUploadError(OSError):
    """The bytes read while uploading are not the bytes that were hashed."""


@dataclass(frozen=True, slots=True)
class FilePart:
    field: str
    path: Path
    size: int
    filename: str
    sha1: bytes | None = None  # when set, the bytes sent are verified against it
    # The hashed bytes of the file, kept by the hasher: sent instead of reading the file.
    # ``mtime_ns`` is the stat they were read under, checked before the part ends.
    data: bytes | None = field(default=None, repr=False)
    mtime_ns: int | None = None
    ino: int | None = None  # the inode it was hashed under; None or 0: unknown, not checked
    # The file is on a local disk (see mounts.py): that stat may run on the event loop
    # instead of going to a thread and back, which costs more than the stat itself.
    stat_on_loop: bool = False


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def _encode_name(name: str) -> bytes:
    # Names that are not valid UTF-8 on disk (surrogate escapes) are sent with
    # replacement characters: the server stores a display name, never a path.
    return _quote(name).encode("utf-8", "replace")


class MultipartBody:
    """A multipart/form-data body: file parts first, then text fields in the given order."""

    def __init__(
        self,
        files: Sequence[FilePart],
        fields: Sequence[tuple[str, str]],
        pace: Pace | None = None,
    ) -> None:
        self.pace = pace  # awaited with each chunk's size before it is sent
        self.pacing = False  # while ``pace`` is awaited
        # 128 random bits, from the random module: unguessable to a file's author (it is
        # seeded from the OS at start-up) without a getrandom() system call per upload
        # (uuid4), each of which gives the GIL up and waits to get it back.
        self.boundary = f"immich-backupd-{random.getrandbits(128):032x}"
        self.files = list(files)
        self.fields = list(fields)
        # File bytes handed to the HTTP library: read and given on, not known to be sent.
        self.bytes_sent = 0
        # What stopped the body while reading a file (changed, gone, unreadable). The
        # HTTP library reports it as a failure to send; the caller asks here.
        self.error: OSError | None = None
        self._heads = [self._file_head(f) for f in self.files]
        self._tail = self._fields_bytes()
        # Where each file's bytes lie in the body: (offset, size).
        self._spans: list[tuple[int, int]] = []
        at = 0
        for head, part in zip(self._heads, self.files, strict=True):
            self._spans.append((at + len(head), part.size))
            at += len(head) + part.size + 2

    def file_bytes_within(self, body_bytes: int) -> int:
        """How many file bytes the first ``body_bytes`` bytes of the body hold."""
        return sum(min(max(body_bytes - start, 0), size) for start, size in self._spans)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _file_head(self, part: FilePart) -> bytes:
        return (
            f"--{self.boundary}\r\n".encode()
            + f'Content-Disposition: form-data; name="{part.field}"; filename="'.encode()
            + _encode_name(part.filename)
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )

    def _fields_bytes(self) -> bytes:
        out = bytearray()
        for name, value in self.fields:
            out += f"--{self.boundary}\r\n".encode()
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value.encode("utf-8", "replace") + b"\r\n"
        out += f"--{self.boundary}--\r\n".encode()
        return bytes(out)

    def __len__(self) -> int:
        files = sum(len(h) + f.size + 2 for h, f in zip(self._heads, self.files, strict=True))
        return files + len(self._tail)

    async def stream(self, chunk: int | None = None) -> AsyncIterator[bytes | memoryview]:
        loop = asyncio.get_running_loop()
        self.error = None
        if chunk is None:
            chunk = CHUNK if self.pace is None else PACED_CHUNK
        for head, part in zip(self._heads, self.files, strict=True):
            yield head
            source = _kept(loop, part, chunk) if part.data is not None else \
                _read_verified(loop, part, chunk)
            try:
                async for data in source:
                    if self.pace is not None:
                        self.pacing = True  # waiting on the cap, not on the network
                        try:
                            await self.pace(len(data))
                        finally:
                            self.pacing = False
                    self.bytes_sent += len(data)
                    yield data
            except OSError as exc:  # the file, not the network
                self.error = exc
                raise
            yield b"\r\n"
        yield self._tail


async def _kept(
    loop: asyncio.AbstractEventLoop, part: FilePart, chunk: int
) -> AsyncIterator[bytes | memoryview]:
    """The kept bytes in ``chunk`` pieces; the last one only once the file's stat
    still matches the one they were read under."""
    assert part.data is not None
    view = memoryview(part.data)
    if len(view) != part.size:
        raise FileChangedDuringUploadError(f"{part.path}: kept {len(view)} bytes of {part.size}")
    for start in range(0, len(view), chunk):
        if start + chunk >= len(view):
            st = os.stat(part.path) if part.stat_on_loop else \
                await loop.run_in_executor(None, os.stat, part.path)
            if st.st_size != part.size or (part.mtime_ns is not None
                                           and st.st_mtime_ns != part.mtime_ns):
                raise FileChangedDuringUploadError(
                    f"{part.path}: file changed while uploading (size or mtime moved)")
            if part.ino and st.st_ino and st.st_ino != part.ino:
                raise FileChangedDuringUploadError(
                    f"{part.path}: file replaced while uploading (another inode)")
        yield view[start:start + chunk]


async def _read_verified(
    loop: asyncio.AbstractEventLoop, part: FilePart, chunk: int
) -> AsyncIterator[bytes]:
    fd = await loop.run_in_executor(None, os.open, part.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        digest = hashlib.sha1(usedforsecurity=False)
        remaining = part.size
        while remaining > 0:
            data = await loop.run_in_executor(None, os.read, fd, min(chunk, remaining))
            if not data:
                raise FileChangedDuringUploadError(
                    f"{part.path}: file shrank while uploading ({remaining} bytes missing)"
                )
            digest.update(data)
            remaining -= len(data)
            # The last chunk is held back until verified, so the server never
            # receives a complete body for a file that changed under us.
            if remaining == 0 and part.sha1 is not None and digest.digest() != part.sha1:
                raise FileChangedDuringUploadError(
                    f"{part.path}: file changed while uploading (checksum differs)"
                )
            yield data
        if part.sha1 is not None:
            extra = await loop.run_in_executor(None, os.read, fd, 1)
            if extra:
                raise FileChangedDuringUploadError(f"{part.path}: file grew while uploading")
    finally:
        os.close(fd)
