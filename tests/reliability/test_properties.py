"""Property tests of the pure parts the suites lean on (what the other test files miss):
the per-file decision, server text as data, error kinds, retry schedules, and the
multipart body's length and integrity check."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from immich_backupd.immich.errors import (
    MESSAGE_LIMIT,
    ApiError,
    ErrorKind,
    TransportError,
    as_data,
    classify,
)
from immich_backupd.immich.multipart import FileChangedDuringUploadError, FilePart, MultipartBody
from immich_backupd.immich.retry import RetryPolicy, backoff_delay
from immich_backupd.pipeline.plan import Action, decide, retry_due
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import (
    DUPLICATE,
    FAILED,
    ON_SERVER,
    TRASHED,
    UNSUPPORTED,
    UPLOADED,
    FileRecord,
)

STATUSES = (UPLOADED, DUPLICATE, FAILED, TRASHED, UNSUPPORTED)
CONTROL = {chr(c) for c in (*range(32), *range(127, 160))}


def _stat(size: int, mtime: int, ino: int) -> FileStat:
    return FileStat(name="a.jpg", size=size, mtime_ns=mtime, ino=ino, dev=1, ctime_ns=mtime,
                    birthtime_ns=None, is_placeholder=False)


stats = hs.builds(_stat, hs.integers(0, 10**12), hs.integers(0, 2**62), hs.integers(0, 2**40))


@hs.composite
def records(draw):
    return FileRecord(
        path=Path("/p/a.jpg"), size=draw(hs.integers(0, 10**12)),
        mtime_ns=draw(hs.integers(0, 2**62)), ino=draw(hs.integers(0, 2**40)),
        status=draw(hs.sampled_from(STATUSES)),
        sha1=draw(hs.none() | hs.binary(min_size=20, max_size=20)),
        blake3=draw(hs.none() | hs.binary(min_size=32, max_size=32)),
        next_attempt_at=draw(hs.none() | hs.floats(0, 2e9)),
    )


@given(stats, hs.none() | records(), hs.floats(0, 2e9))
def test_decide_never_skips_a_changed_file_and_never_reopens_a_done_one(st, record, now):
    action = decide(st, record, now)
    unchanged = record is not None and (st.size, st.mtime_ns) == (record.size,
                                                                    record.mtime_ns) and (
        not st.ino or not record.ino or st.ino == record.ino)
    if not unchanged:
        assert action is Action.HASH  # new or changed: always read again
        return
    assert record is not None
    if record.status in ON_SERVER:
        assert action is Action.DONE  # nothing opened, nothing sent
    elif record.status in (TRASHED, UNSUPPORTED):
        assert action is Action.SKIP
    else:  # failed
        due = record.next_attempt_at is None or record.next_attempt_at <= now
        if not due:
            assert action is Action.WAIT
        else:
            assert action is (Action.RETRY if record.sha1 and record.blake3 else Action.HASH)


@given(hs.text(max_size=2000))
def test_server_text_is_data(text):
    out = as_data(text)
    assert not CONTROL & set(out)  # no newline, no escape: cannot forge a log line
    assert len(out) <= MESSAGE_LIMIT + 1
    if not CONTROL & set(text) and len(text) <= MESSAGE_LIMIT:
        assert out == text  # plain text is left alone


@given(hs.integers(100, 599), hs.text(max_size=300))
def test_api_errors_print_on_one_line_and_fatal_kinds_are_never_retried(status, message):
    exc = ApiError(status, message, method="POST", path="/assets", correlation_id="c1")
    assert "\n" not in str(exc) and "\x1b" not in str(exc)
    assert exc.kind is classify(status, exc.message)
    # The kinds that end a pass (pipeline.connect.fatal_from_api, the quota) or the
    # file's tries: never retried.
    if exc.kind in (ErrorKind.AUTH, ErrorKind.PERMISSION, ErrorKind.QUOTA,
                    ErrorKind.UNSUPPORTED):
        assert not exc.retryable
    if status >= 500 or status == 429:
        assert exc.retryable
    assert "\n" not in str(TransportError(message))


@given(hs.integers(1, 40), hs.floats(0.001, 5), hs.floats(5, 900),
       hs.none() | hs.floats(0, 2000))
def test_backoff_stays_in_the_policy(attempt, initial, cap, retry_after):
    policy = RetryPolicy(8, initial, cap)
    delay = backoff_delay(policy, attempt, retry_after=retry_after)
    nominal = min(cap, initial * 2 ** (attempt - 1))
    assert delay <= cap
    assert delay >= min(cap, nominal / 2)
    if retry_after is not None:
        assert delay >= min(cap, retry_after)


@given(hs.integers(1, 60), hs.floats(0, 2e9), hs.booleans())
def test_a_failed_file_waits_longer_each_time_within_bounds(attempts, now, retryable):
    due = retry_due(attempts, now, retryable=retryable)
    assert now + 60 <= due <= now + 24 * 3600
    if retryable:
        assert retry_due(attempts + 1, now) >= due


names = hs.text(hs.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80) | \
    hs.binary(min_size=1, max_size=60).filter(lambda b: b"/" not in b and b"\0" not in b
                                             ).map(os.fsdecode)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hs.binary(max_size=5000), names,
       hs.lists(hs.tuples(hs.sampled_from(["fileCreatedAt", "filename", "visibility"]),
                          hs.text(max_size=40)), max_size=4),
       hs.integers(1, 4096))
def test_multipart_length_is_exact_and_changed_bytes_never_complete(tmp_path_factory, data,
                                                                     name, fields, chunk):
    path = tmp_path_factory.mktemp("mp") / "f.jpg"
    path.write_bytes(data)
    sha1 = hashlib.sha1(data).digest()

    async def collect(body: MultipartBody) -> bytes:
        return b"".join([part async for part in body.stream(chunk)])

    body = MultipartBody([FilePart("assetData", path, len(data), name, sha1)], fields)
    sent = asyncio.run(collect(body))
    assert len(sent) == len(body)  # Content-Length is the truth, whatever the names
    assert sent.endswith(f"--{body.boundary}--\r\n".encode())
    if data:
        path.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, other bytes
        body = MultipartBody([FilePart("assetData", path, len(data), name, sha1)], fields)
        with pytest.raises(FileChangedDuringUploadError):
            asyncio.run(collect(body))
        assert body.error is not None  # what the client reports instead of "network"
