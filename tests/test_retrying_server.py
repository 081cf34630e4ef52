"""The one retry layer of the pass (pipeline/server.py), with a fake clock: no real
sleeping, no server process. The fake server answers as the stand-in does when it is
told to fail (``immich_standin``'s fault injection): 503s, dropped connections, and a
ping that fails while the server is down."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from immich_backupd.errors import ServerUnavailableError
from immich_backupd.immich.client import (
    AlbumAddResult,
    CheckResult,
    ImmichClient,
    Quota,
    UploadRequest,
    UploadResult,
)
from immich_backupd.immich.errors import ApiError, TransportError
from immich_backupd.immich.retry import RetryPolicy, backoff_delay
from immich_backupd.pipeline.server import PassServer, Retrying, ServerWait
from tests.fake_server import FakeClock, FakeServer


class FlakyServer:
    """A PassServer whose calls fail ``fail`` times (with ``error``) and then answer;
    ``down_until``: the fake time before which ping fails too (the server is gone)."""

    api_url = "http://127.0.0.1:9/api"

    def __init__(self, clock: FakeClock, fail: int = 0, error: Exception | None = None,
                 down_until: float = 0.0) -> None:
        self.clock = clock
        self.fail = fail
        self.error = error or ApiError(503, "Service Unavailable")
        self.down_until = down_until
        self.calls: list[str] = []

    def _answer(self, what: str) -> None:
        self.calls.append(what)
        if self.clock() < self.down_until:
            raise TransportError("Cannot connect to host 127.0.0.1:9")
        if self.fail:
            self.fail -= 1
            raise self.error

    async def ping(self) -> bool:
        return self.clock() >= self.down_until

    async def quota(self) -> Quota:
        self._answer("quota")
        return Quota(size=None, usage=0)

    async def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]) -> list[CheckResult]:
        self._answer("check")
        return [CheckResult(id=i, accept=True) for i, _ in items]

    async def upload(self, req: UploadRequest) -> UploadResult:
        if req.on_try is not None:
            req.on_try()
        self._answer("upload")
        return UploadResult(asset_id="a1", duplicate=False)

    async def link_live_photo(self, still_id: str, video_id: str) -> None:
        self._answer("link")

    async def albums(self) -> dict[str, str]:
        self._answer("albums")
        return {}

    async def create_album(self, name: str, asset_ids: Sequence[str] = ()) -> str:
        self._answer("create_album")
        return "album-1"

    async def add_to_album(self, album_id: str, asset_ids: Sequence[str]
                           ) -> list[AlbumAddResult]:
        self._answer("add")
        return [AlbumAddResult(a, True) for a in asset_ids]

    async def create_stack(self, asset_ids: Sequence[str]) -> tuple[str, str]:
        self._answer("stack")
        return "stack-1", asset_ids[0]

    async def asset_stack(self, asset_id: str) -> tuple[str, str] | None:
        self._answer("asset_stack")
        return None

    async def upsert_tags(self, values: Sequence[str]) -> dict[str, str]:
        self._answer("tags")
        return {v: f"tag-{v}" for v in values}

    async def add_tag(self, tag_id: str, asset_ids: Sequence[str]) -> list[AlbumAddResult]:
        self._answer("tag")
        return [AlbumAddResult(a, True) for a in asset_ids]

    async def remove_tag(self, tag_id: str, asset_ids: Sequence[str]
                         ) -> list[AlbumAddResult]:
        self._answer("untag")
        return [AlbumAddResult(a, True) for a in asset_ids]

    async def queues(self) -> dict[str, bool]:
        self._answer("queues")
        return {}

    async def set_queue_paused(self, name: str, paused: bool) -> bool:
        self._answer("pause")
        return True


POLICY = RetryPolicy(max_attempts=4, initial=2.0, max=60.0)


def request(tries: list[int]) -> UploadRequest:
    return UploadRequest(path=Path("/p/a.jpg"), size=1, sha1=b"s" * 20,
                         created_at="2024-01-01T00:00:00Z", modified_at="2024-01-01T00:00:00Z",
                         filename="a.jpg", on_try=lambda: tries.append(1))


def pass_server_calls() -> set[str]:
    """The members of the PassServer Protocol (no type checker runs on this project)."""
    return {n for n in vars(PassServer) if not n.startswith("_")}


def test_the_fake_is_a_pass_server() -> None:
    server: PassServer = FlakyServer(FakeClock())
    assert isinstance(Retrying(server, POLICY).api_url, str)


@pytest.mark.parametrize("cls", [Retrying, ImmichClient, FakeServer],
                         ids=lambda c: c.__name__)
def test_every_pass_server_call_is_there(cls: type) -> None:
    """A call added to PassServer must be added to the client, to Retrying (else the
    stage that makes it fails with AttributeError on the retried server) and to the
    tests' fake; this names the one left out."""
    calls = pass_server_calls()
    assert {"upload", "bulk_upload_check", "api_url"} <= calls
    # api_url is an attribute of the client's instances, a property elsewhere.
    assert sorted(n for n in calls - {"api_url"} if not hasattr(cls, n)) == []


async def test_transient_failures_are_retried_with_growing_jittered_waits() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, fail=3)
    tries: list[int] = []
    api = Retrying(server, POLICY, sleep=clock.sleep, rng=random.Random(7))
    result = await api.upload(request(tries))
    assert result.asset_id == "a1" and len(tries) == 4  # each try counted
    # The same waits as the policy's backoff with the same random source.
    rng = random.Random(7)
    assert clock.sleeps == [backoff_delay(POLICY, n, rng) for n in (1, 2, 3)]
    # Equal jitter: half fixed, half random, so each wait is within its band.
    for n, s in enumerate(clock.sleeps, 1):
        nominal = POLICY.initial * 2 ** (n - 1)
        assert nominal / 2 <= s <= nominal


async def test_a_permanent_failure_goes_straight_through() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, fail=1, error=ApiError(400, "Unsupported file type"))
    api = Retrying(server, POLICY, sleep=clock.sleep)
    with pytest.raises(ApiError):
        await api.bulk_upload_check([("x", b"s" * 20)])
    assert server.calls == ["check"] and clock.sleeps == []


async def test_tries_run_out_without_a_wait_then_the_last_failure_is_raised() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, fail=10)
    api = Retrying(server, POLICY, sleep=clock.sleep)
    with pytest.raises(ApiError) as exc:
        await api.albums()
    assert exc.value.status == 503 and server.calls == ["albums"] * 4


async def test_stacks_and_tags_are_retried_too() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, fail=2)
    api = Retrying(server, POLICY, sleep=clock.sleep)
    assert await api.create_stack(["a", "b"]) == ("stack-1", "a")
    assert server.calls == ["stack"] * 3 and len(clock.sleeps) == 2


async def test_the_queue_calls_and_ping_are_not_retried() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, fail=1)
    api = Retrying(server, POLICY, sleep=clock.sleep)
    with pytest.raises(ApiError):
        await api.queues()
    assert server.calls == ["queues"]


def server_wait(server: FlakyServer, clock: FakeClock, stop: asyncio.Event,
                waits: list[bool], limit: float = 3600.0) -> ServerWait:
    return ServerWait(server.ping, server.api_url, POLICY, stopping=stop.is_set,
                      pause=clock.sleep, on_waiting=waits.append, clock=clock, limit=limit,
                      rng=random.Random(1))


async def test_a_server_gone_is_waited_for_and_the_call_goes_on() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, down_until=clock.now + 300)
    stop, waits = asyncio.Event(), []
    api = Retrying(server, POLICY, wait=server_wait(server, clock, stop, waits),
                   sleep=clock.sleep)
    tries: list[int] = []
    result = await api.upload(request(tries))
    assert result.asset_id == "a1"
    assert waits == [True, False]  # "Waiting for the server", then not
    assert clock.now >= server.down_until
    assert len(tries) == server.calls.count("upload") >= 5  # 4 tries, a wait, one more


async def test_a_server_gone_too_long_ends_the_pass_as_offline() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, down_until=clock.now + 10_000)
    stop, waits = asyncio.Event(), []
    api = Retrying(server, POLICY, wait=server_wait(server, clock, stop, waits, limit=600),
                   sleep=clock.sleep)
    with pytest.raises(ServerUnavailableError, match="has not answered for 10 minutes"):
        await api.link_live_photo("still", "video")
    assert 600 < clock.now - 1000.0 < 600 + 2 * POLICY.max


async def test_a_stop_ends_the_wait_and_the_call() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, down_until=clock.now + 10_000)
    stop, waits = asyncio.Event(), []
    wait = server_wait(server, clock, stop, waits)

    async def pause(seconds: float) -> None:
        await clock.sleep(seconds)
        stop.set()  # asked to stop during the first pause of the wait

    wait.pause = pause
    api = Retrying(server, POLICY, wait=wait, sleep=clock.sleep)
    with pytest.raises(TransportError, match="stopped while the server was offline"):
        await api.bulk_upload_check([("x", b"s" * 20)])
    assert waits == [True, False]


async def test_a_failure_while_the_server_answers_its_ping_is_not_waited_for() -> None:
    clock = FakeClock()
    server = FlakyServer(clock, fail=10)  # 503s, but the ping answers
    stop, waits = asyncio.Event(), []
    api = Retrying(server, POLICY, wait=server_wait(server, clock, stop, waits),
                   sleep=clock.sleep)
    with pytest.raises(ApiError):
        await api.add_to_album("album-1", ["a"])
    assert waits == [] and server.calls == ["add"] * 4
