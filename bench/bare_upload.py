"""Baseline: the least a Python client must do to upload a tree, with aiohttp.

``python -m bench.bare_upload URL KEY ROOT [--concurrency N]``: walk ``ROOT``, and for
each file stream one ``POST /api/assets`` (multipart: the file, then fileCreatedAt,
fileModifiedAt, filename) computing its SHA-1 on the way, ``N`` at a time over one
keep-alive session. No state, no checks, no retries: the floor for target 2.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import uuid
from datetime import UTC, datetime

import aiohttp

CHUNK = 1 << 20


def _files(root: str) -> list[tuple[str, int, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            out.append((path, st.st_size, st.st_mtime_ns))
    return out


async def _upload(session: aiohttp.ClientSession, url: str, path: str, size: int,
                  mtime_ns: int) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    name = os.path.basename(path)
    stamp = datetime.fromtimestamp(mtime_ns / 1e9, UTC).isoformat(timespec="milliseconds")
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"assetData\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = b"".join(
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}".encode()
        for k, v in (("fileCreatedAt", stamp), ("fileModifiedAt", stamp), ("filename", name))
    ) + f"\r\n--{boundary}--\r\n".encode()
    sha1 = hashlib.sha1(usedforsecurity=False)
    loop = asyncio.get_running_loop()

    async def body():  # type: ignore[no-untyped-def]
        yield head
        with open(path, "rb", buffering=0) as f:
            while data := await loop.run_in_executor(None, f.read, CHUNK):
                sha1.update(data)
                yield data
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(len(head) + size + len(tail))}
    async with session.post(url, data=body(), headers=headers) as resp:
        await resp.read()
        return resp.status, sha1.digest()


async def run(url: str, key: str, root: str, concurrency: int) -> int:
    files = _files(root)
    queue: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()
    for f in files:
        queue.put_nowait(f)
    failed = 0
    async with aiohttp.ClientSession(headers={"x-api-key": key}) as session:
        async def worker() -> None:
            nonlocal failed
            while not queue.empty():
                path, size, mtime = queue.get_nowait()
                status, _ = await _upload(session, url + "/api/assets", path, size, mtime)
                if status not in (200, 201):
                    failed += 1
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    print(f"{len(files)} files, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("root")
    p.add_argument("--concurrency", type=int, default=2)
    a = p.parse_args()
    return asyncio.run(run(a.url, a.key, a.root, a.concurrency))


if __name__ == "__main__":
    sys.exit(main())
