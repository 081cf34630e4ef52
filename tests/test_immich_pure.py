"""Error classification, retry delays, versions and the multipart body: pure parts."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from immich_backupd.immich.errors import (
    ApiError,
    ErrorKind,
    TransportError,
    classify,
    missing_permission,
    parse_retry_after,
)
from immich_backupd.immich.multipart import (
    FileChangedDuringUploadError,
    FilePart,
    MultipartBody,
)
from immich_backupd.immich.retry import RetryPolicy, backoff_delay, call_with_retry
from immich_backupd.immich.versions import ServerVersion, format_duration_v2, unsupported_message


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (401, "Invalid API key", ErrorKind.AUTH),
        (403, "Missing required permission: asset.upload", ErrorKind.PERMISSION),
        (400, "Quota has been exceeded!", ErrorKind.QUOTA),
        (400, "Unsupported file type IMG.txt", ErrorKind.UNSUPPORTED),
        (413, "<html>Request Entity Too Large</html>", ErrorKind.TOO_LARGE),
        (429, "Too many requests", ErrorKind.TRANSIENT),
        (500, "Internal server error", ErrorKind.TRANSIENT),
        (502, "", ErrorKind.TRANSIENT),
        (503, "", ErrorKind.TRANSIENT),
        (504, "", ErrorKind.TRANSIENT),
        (400, "Live photo video not found", ErrorKind.NOT_FOUND),
        (400, "File is empty", ErrorKind.BAD_REQUEST),
    ],
)
def test_classify(status, message, kind):
    assert classify(status, message) is kind


@given(hs.integers(100, 599), hs.text(max_size=80))
def test_classify_is_total_and_5xx_is_transient(status, message):
    kind = classify(status, message)
    assert isinstance(kind, ErrorKind)
    if status >= 500:
        assert kind is ErrorKind.TRANSIENT


def test_missing_permission_and_retry_after():
    assert missing_permission("Missing required permission: albumAsset.create") == (
        "albumAsset.create")
    assert missing_permission("nope") is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


def test_too_large_message_says_what_to_change():
    text = ApiError(413, "Request Entity Too Large", method="POST", path="/assets",
                    correlation_id="abc").describe()
    assert "client_max_body_size" in text and "abc" in text


@given(hs.integers(1, 30), hs.floats(0.01, 10), hs.floats(10, 1000), hs.integers(0, 2**32))
def test_backoff_is_bounded_and_jittered(attempt, initial, cap, seed):
    policy = RetryPolicy(max_attempts=50, initial=initial, max=cap)
    delay = backoff_delay(policy, attempt, random.Random(seed))
    nominal = min(cap, initial * 2 ** (attempt - 1))
    assert nominal / 2 <= delay <= nominal


def test_backoff_grows_and_honours_retry_after():
    policy = RetryPolicy(initial=1, max=100)
    rng = random.Random(0)
    upper = [min(100, 2 ** (n - 1)) for n in range(1, 9)]
    delays = [backoff_delay(policy, n, rng) for n in range(1, 9)]
    assert all(u / 2 <= d <= u for d, u in zip(delays, upper, strict=True))
    assert backoff_delay(policy, 1, rng, retry_after=30) == 30
    assert backoff_delay(policy, 1, rng, retry_after=3000) == 100


async def test_retry_retries_transient_then_gives_up_and_never_retries_permanent():
    sleeps: list[float] = []

    async def sleep(d: float) -> None:
        sleeps.append(d)

    calls = 0

    async def flaky():
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ApiError(503, "busy")
        return "ok"

    policy = RetryPolicy(max_attempts=5, initial=1, max=10)
    assert await call_with_retry(policy, flaky, what="x", sleep=sleep) == "ok"
    assert calls == 3 and len(sleeps) == 2 and sleeps[1] >= 1

    async def down():
        raise TransportError("refused")

    sleeps.clear()
    with pytest.raises(TransportError):
        await call_with_retry(policy, down, what="x", sleep=sleep)
    assert len(sleeps) == 4  # 5 attempts, 4 waits

    async def denied():
        raise ApiError(401, "Invalid API key")

    sleeps.clear()
    with pytest.raises(ApiError):
        await call_with_retry(policy, denied, what="x", sleep=sleep)
    assert sleeps == []


def test_versions():
    assert ServerVersion(2, 7, 0).needs_device_fields
    assert not ServerVersion(3, 1, 0).needs_device_fields
    assert not ServerVersion(1, 106, 0).supported and not ServerVersion(4, 0, 0).supported
    assert "upgrade the Immich server" in unsupported_message(ServerVersion(1, 106, 0))
    assert "upgrade immich-backupd" in unsupported_message(ServerVersion(4, 0, 0))
    assert format_duration_v2(3_723_004) == "1:02:03.004000"


async def _collect(body: MultipartBody) -> bytes:
    return b"".join([chunk async for chunk in body.stream(chunk=7)])


def test_multipart_length_order_and_verification(tmp_path: Path):
    media = tmp_path / "IMG 1 \"q\".jpg"
    media.write_bytes(b"x" * 100)
    side = tmp_path / "IMG.xmp"
    side.write_bytes(b"<xmp/>")
    sha1 = hashlib.sha1(media.read_bytes()).digest()
    body = MultipartBody(
        [FilePart("assetData", media, 100, media.name, sha1),
         FilePart("sidecarData", side, 6, side.name)],
        [("fileCreatedAt", "2024-01-01T00:00:00.000+01:00"), ("filename", media.name)],
    )
    data = asyncio.run(_collect(body))
    assert len(data) == len(body)
    assert data.index(b'name="assetData"') < data.index(b'name="sidecarData"') < data.index(
        b'name="filename"')
    assert data.endswith(f"--{body.boundary}--\r\n".encode())
    assert body.bytes_sent == 106

    media.write_bytes(b"y" * 100)  # changed after hashing: same size, other bytes
    torn = MultipartBody([FilePart("assetData", media, 100, media.name, sha1)], [])
    with pytest.raises(FileChangedDuringUploadError):
        asyncio.run(_collect(torn))
    media.write_bytes(b"x" * 101)  # grew
    with pytest.raises(FileChangedDuringUploadError):
        asyncio.run(_collect(MultipartBody([FilePart("assetData", media, 100, "a", sha1)], [])))


@pytest.mark.parametrize("on_loop", [False, True], ids=["stat-in-a-thread", "stat-on-loop"])
def test_multipart_sends_kept_bytes_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_loop: bool
):
    """Bytes kept by the hasher are sent as they are (the file is not read again); the
    file's stat is checked before the part ends, so a file rewritten since is aborted.
    On a local disk that stat runs on the loop: no trip to a thread and back."""
    hops: list[object] = []
    real = asyncio.BaseEventLoop.run_in_executor

    def counted(self, executor, func, *args):  # type: ignore[no-untyped-def]
        hops.append(func)
        return real(self, executor, func, *args)

    monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", counted)
    media = tmp_path / "a.jpg"
    media.write_bytes(b"x" * 3000)
    st = media.stat()
    kept = b"k" * 3000  # not the file's content: proves the file is not what is sent
    part = FilePart("assetData", media, 3000, "a.jpg", hashlib.sha1(kept).digest(),
                    data=kept, mtime_ns=st.st_mtime_ns, stat_on_loop=on_loop)
    body = MultipartBody([part], [("filename", "a.jpg")])
    data = asyncio.run(_collect_chunked(body, 1024))
    assert len(data) == len(body) and kept in data and b"x" * 100 not in data
    assert body.bytes_sent == 3000
    assert hops == ([] if on_loop else [os.stat])

    os.utime(media, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # rewritten since: same size
    with pytest.raises(FileChangedDuringUploadError, match="size or mtime moved"):
        asyncio.run(_collect(MultipartBody([part], [])))
    os.utime(media, ns=(st.st_atime_ns, st.st_mtime_ns))
    media.write_bytes(b"x" * 3001)  # grew
    os.utime(media, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(FileChangedDuringUploadError, match="size or mtime moved"):
        asyncio.run(_collect(MultipartBody([part], [])))
    # The same file as it is now, with its inode: sent. Then replaced by a rename (rsync,
    # an editor's save) with the same size and mtime: the stat alone looks the same, the
    # inode does not.
    grown = dataclasses.replace(part, size=3001, data=b"k" * 3001, ino=media.stat().st_ino)
    assert b"k" * 3001 in asyncio.run(_collect_chunked(MultipartBody([grown], []), 1024))
    other = tmp_path / "a.jpg.tmp"
    other.write_bytes(b"z" * 3001)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, media)
    assert (media.stat().st_size, media.stat().st_mtime_ns) == (3001, st.st_mtime_ns)
    with pytest.raises(FileChangedDuringUploadError, match="another inode"):
        asyncio.run(_collect(MultipartBody([grown], [])))
    media.unlink()  # gone: the file's error, as when streaming it
    with pytest.raises(FileNotFoundError):
        asyncio.run(_collect(MultipartBody([part], [])))


async def _collect_chunked(body: MultipartBody, chunk: int) -> bytes:
    return b"".join([bytes(c) async for c in body.stream(chunk)])



async def test_retry_numbers_attempts_and_delays_from_the_first_failure():
    """The first attempt is a plain call; the retries after it count and wait as if it
    were one of them: attempt 1's failure waits ~initial, attempt 2's twice that."""
    seen: list[tuple[int, float]] = []
    sleeps: list[float] = []

    async def sleep(d: float) -> None:
        sleeps.append(d)

    async def down():
        raise TransportError("refused")

    policy = RetryPolicy(max_attempts=4, initial=1, max=100)
    with pytest.raises(TransportError):
        await call_with_retry(policy, down, what="x", sleep=sleep, rng=random.Random(3),
                              on_retry=lambda n, d, exc: seen.append((n, d)))
    assert [n for n, _ in seen] == [1, 2, 3]
    assert [d for _, d in seen] == sleeps
    assert all(2 ** (n - 1) / 2 <= d <= 2 ** (n - 1) for n, d in seen)
    one = RetryPolicy(max_attempts=1)
    with pytest.raises(TransportError):
        await call_with_retry(one, down, what="x", sleep=sleep)
    assert len(sleeps) == 3  # one attempt: no wait


def test_multipart_boundaries_are_random_and_well_formed():
    """128 random bits each, as hex (RFC 2046: at most 70 characters, no quoting needed)."""
    bounds = {MultipartBody([], []).boundary for _ in range(200)}
    assert len(bounds) == 200
    assert all(re.fullmatch(r"immich-backupd-[0-9a-f]{32}", b) for b in bounds)
