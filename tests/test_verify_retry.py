"""The verify's server calls go through the pass's one retry layer (server.Retrying):
a fake server that fails as the stand-in does when told to, a fake clock (no real
sleeping), a real state file. Whose memory the state is and what an answer means are
tested in test_verify.py; this is the I/O around them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from immich_backupd.errors import ServerUnavailableError
from immich_backupd.immich.client import CheckResult
from immich_backupd.immich.retry import backoff_delay
from immich_backupd.pipeline.server import Retrying, VerifyServer
from immich_backupd.pipeline.verify import (
    IDENTITY_KEY,
    Identity,
    Mode,
    VerifyReport,
    at_pass_start,
    reconcile,
)
from immich_backupd.state import DELETED, UPLOADED, FileRecord, StateStore
from tests.test_retrying_server import POLICY, FakeClock, FlakyServer

ME = Identity("http://127.0.0.1:9", "user-a", "a@example.com")


class KnowingServer(FlakyServer):
    """A FlakyServer that holds the assets ``held`` (checksum → asset id) and answers
    the bulk check about them as Immich does: a duplicate for what it has."""

    def __init__(self, clock: FakeClock, held: dict[bytes, str], **kw) -> None:
        super().__init__(clock, **kw)
        self.held = held
        self.asked: list[int] = []  # checksums a request

    async def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]) -> list[CheckResult]:
        self._answer("check")
        self.asked.append(len(items))
        return [CheckResult(i, False, "duplicate", self.held[sha], False) if sha in self.held
                else CheckResult(i, True) for i, sha in items]


def sha(n: int) -> bytes:
    return bytes([n]) * 20


async def known(store: StateStore, n: int) -> None:
    """``n`` files the state says were uploaded, asset ``asset-<i>`` each."""
    await store.put_many(FileRecord(path=Path(f"/p/{i}.jpg"), size=1, mtime_ns=1, ino=i,
                                    status=UPLOADED, sha1=sha(i), remote_id=f"asset-{i}")
                         for i in range(n))


async def status(store: StateStore, i: int) -> str | None:
    record = await store.get(Path(f"/p/{i}.jpg"))
    return record.status if record is not None else None


async def test_a_verify_rides_out_transient_failures_with_the_pass_backoff(store) -> None:
    await known(store, 5)
    clock = FakeClock()
    held = {sha(i): f"asset-{i}" for i in range(5) if i != 3}  # the user deleted 3.jpg
    server = KnowingServer(clock, held, fail=2)
    api: VerifyServer = Retrying(server, POLICY, sleep=clock.sleep, rng=random.Random(5))
    report = VerifyReport(change="same", mode="same", url=ME.url)
    await reconcile(api, store, report, Mode.SAME, batch=2)
    assert report.complete and report.checked == 5 and report.deleted == 1
    assert [await status(store, i) for i in range(5)] == [UPLOADED] * 3 + [DELETED, UPLOADED]
    # One request a batch of checksums (2 + 2 + 1), the first tried three times; none
    # a file. The waits are the policy's backoff, on the fake clock.
    assert server.calls == ["check"] * 5 and server.asked == [2, 2, 1]
    rng = random.Random(5)
    assert clock.sleeps == [backoff_delay(POLICY, n, rng) for n in (1, 2)]


async def test_a_scheduled_verify_that_runs_out_of_tries_waits_for_the_next_pass(store) -> None:
    await known(store, 3)
    clock = FakeClock()
    server = KnowingServer(clock, {}, fail=100)
    api = Retrying(server, POLICY, sleep=clock.sleep)
    await store.set_meta(IDENTITY_KEY, ME.dumps())
    report = await at_pass_start(api, store, ME, interval=60.0, now=clock())
    assert report is None  # logged; the pass goes on with what the state knows
    assert server.calls == ["check"] * POLICY.max_attempts
    assert len(clock.sleeps) == POLICY.max_attempts - 1  # no call retried on its own
    assert [await status(store, i) for i in range(3)] == [UPLOADED] * 3


async def test_a_forced_verify_that_runs_out_of_tries_says_the_server_is_gone(store) -> None:
    await known(store, 1)
    clock = FakeClock()
    server = KnowingServer(clock, {}, fail=100)
    api = Retrying(server, POLICY, sleep=clock.sleep)
    with pytest.raises(ServerUnavailableError, match="cannot check the files known"):
        await at_pass_start(api, store, ME, interval=0.0, now=clock(), force=True)
    assert server.calls == ["check"] * POLICY.max_attempts
    assert await store.get_meta(IDENTITY_KEY) is None  # done again from the start
