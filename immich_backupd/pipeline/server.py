"""What the pass needs of the server, and the one layer that retries it.

:class:`PassServer` is the interface the stages depend on instead of the concrete
``immich.client.ImmichClient`` (which implements it; so does a fake in the tests).
:class:`Retrying` wraps a ``PassServer`` once, as restic's ``internal/backend/retry``
wraps a backend, instead of each call site wrapping its calls: transient failures
(connection, timeout, 5xx, 429) are tried again with backoff and jitter
(``immich.retry``), permanent ones go straight through. Given a :class:`ServerWait`,
a call whose tries ran out because the server is gone waits for it to come back and is
tried again ("retry when online") rather than failing every file.

Only the calls that were retried before are retried here: the bulk check (also the
verify's, :class:`VerifyServer`), uploads, links, albums, stacks and tags. ``ping``,
``quota`` and the job queues go straight through. The clock, the sleep and the random
source are passed in, so tests never really sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from ..config import RetrySettings
from ..errors import ServerUnavailableError
from ..immich.client import AlbumAddResult, CheckResult, Quota, UploadRequest, UploadResult
from ..immich.errors import ApiError, TransportError
from ..immich.retry import RetryPolicy, backoff_delay, call_with_retry

log = logging.getLogger("immich_backupd.pipeline")

T = TypeVar("T")
OFFLINE_LIMIT = 3600.0  # seconds a pass waits for a server gone before it gives up


def retry_policy(retry: RetrySettings) -> RetryPolicy:
    """The backoff of the settings' ``backup.retry``."""
    return RetryPolicy(retry.max_attempts, retry.initial, retry.max)


class VerifyServer(Protocol):
    """The one server call a verify makes (pipeline/verify.py): the bulk check of known
    checksums. :class:`Retrying` is one, retried; so is the fake of the tests."""

    async def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]
                                ) -> list[CheckResult]: ...


class PassServer(Protocol):
    """The server calls a backup pass makes (see ``immich.client.ImmichClient``)."""

    @property
    def api_url(self) -> str: ...

    async def ping(self) -> bool: ...

    async def quota(self) -> Quota: ...

    async def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]
                                ) -> list[CheckResult]: ...

    async def upload(self, req: UploadRequest) -> UploadResult: ...

    async def link_live_photo(self, still_id: str, video_id: str) -> None: ...

    async def albums(self) -> dict[str, str]: ...

    async def create_album(self, name: str, asset_ids: Sequence[str] = ()) -> str: ...

    async def add_to_album(self, album_id: str, asset_ids: Sequence[str]
                           ) -> list[AlbumAddResult]: ...

    async def remove_from_album(self, album_id: str, asset_ids: Sequence[str]
                                ) -> list[AlbumAddResult]: ...

    async def create_stack(self, asset_ids: Sequence[str]) -> tuple[str, str]: ...

    async def asset_stack(self, asset_id: str) -> tuple[str, str] | None: ...

    async def upsert_tags(self, values: Sequence[str]) -> dict[str, str]: ...

    async def add_tag(self, tag_id: str, asset_ids: Sequence[str]) -> list[AlbumAddResult]: ...

    async def remove_tag(self, tag_id: str, asset_ids: Sequence[str]
                           ) -> list[AlbumAddResult]: ...

    async def queues(self) -> dict[str, bool]: ...

    async def set_queue_paused(self, name: str, paused: bool) -> bool: ...


class ServerWait:
    """The wait for a server gone away: one waiter for all workers, until its ping
    answers again, at most ``limit`` seconds (then ServerUnavailableError).

    ``stopping()``: whether the pass is ending (the wait ends too). ``pause(s)``: wait
    ``s`` seconds or until the pass stops. ``on_waiting(True/False)``: the wait began,
    ended (the pass shows "Waiting for the server")."""

    def __init__(self, ping: Callable[[], Awaitable[bool]], api_url: str,
                 policy: RetryPolicy, *, stopping: Callable[[], bool],
                 pause: Callable[[float], Awaitable[None]],
                 on_waiting: Callable[[bool], None] = lambda waiting: None,
                 clock: Callable[[], float] = time.time,
                 limit: float = OFFLINE_LIMIT,
                 rng: random.Random | None = None) -> None:
        self.ping = ping
        self.api_url = api_url
        self.policy = policy
        self.stopping = stopping
        self.pause = pause
        self.on_waiting = on_waiting
        self.clock = clock
        self.limit = limit
        self.rng = rng
        self._lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self._lock:
            if await self.ping():
                return
            since = self.clock()
            log.warning("the server is not answering; waiting for it to come back")
            self.on_waiting(True)
            attempt = 0
            while not self.stopping():
                attempt += 1
                await self.pause(backoff_delay(self.policy, min(attempt, 30), self.rng))
                if await self.ping():
                    log.info("the server is back after %.0f s", self.clock() - since)
                    break
                if self.clock() - since > self.limit:
                    raise ServerUnavailableError(
                        f"the server at {self.api_url} has not answered for "
                        f"{self.limit / 60:.0f} minutes; the rest is backed up next time")
            self.on_waiting(False)


def stop_aware_pause(stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    """A pause that ends early when ``stop`` is set."""
    async def pause(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()
    return pause


class Retrying:
    """A :class:`PassServer` whose calls are retried (see the module's docstring).

    ``wait``: the wait for a server gone (None: a call whose tries ran out fails).
    ``sleep`` and ``rng``: the backoff's sleep and jitter (tests pass a fake clock's).
    """

    def __init__(self, inner: PassServer, policy: RetryPolicy, *,
                 wait: ServerWait | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 rng: random.Random | None = None) -> None:
        self.inner = inner
        self.policy = policy
        self.wait = wait
        self._sleep = sleep
        self._rng = rng

    @property
    def api_url(self) -> str:
        return self.inner.api_url

    async def _call(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        while True:
            try:
                return await call_with_retry(self.policy, fn, what=what, sleep=self._sleep,
                                             rng=self._rng)
            except (TransportError, ApiError) as exc:
                wait = self.wait
                if (wait is None or not exc.retryable or wait.stopping()
                        or await self.inner.ping()):
                    raise
            await wait()
            if wait.stopping():
                raise TransportError(f"{what}: stopped while the server was offline")

    # -- straight through ------------------------------------------------------------
    def ping(self) -> Awaitable[bool]:
        return self.inner.ping()

    def quota(self) -> Awaitable[Quota]:
        return self.inner.quota()

    def queues(self) -> Awaitable[dict[str, bool]]:
        return self.inner.queues()

    def set_queue_paused(self, name: str, paused: bool) -> Awaitable[bool]:
        return self.inner.set_queue_paused(name, paused)

    # -- retried ---------------------------------------------------------------------
    def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]
                          ) -> Awaitable[list[CheckResult]]:
        return self._call(lambda: self.inner.bulk_upload_check(items), "bulk-upload-check")

    def upload(self, req: UploadRequest) -> Awaitable[UploadResult]:
        """Each try re-creates the body from the file (or the kept bytes), so a retry
        sends the same bytes again; ``req.on_try`` counts the tries."""
        return self._call(lambda: self.inner.upload(req), f"upload of {req.path}")

    def link_live_photo(self, still_id: str, video_id: str) -> Awaitable[None]:
        return self._call(lambda: self.inner.link_live_photo(still_id, video_id),
                          f"linking {video_id} to its photo")

    def albums(self) -> Awaitable[dict[str, str]]:
        return self._call(self.inner.albums, "album list")

    def create_album(self, name: str, asset_ids: Sequence[str] = ()) -> Awaitable[str]:
        return self._call(lambda: self.inner.create_album(name, asset_ids),
                          f"creating album {name!r}")

    def add_to_album(self, album_id: str, asset_ids: Sequence[str]
                     ) -> Awaitable[list[AlbumAddResult]]:
        return self._call(lambda: self.inner.add_to_album(album_id, asset_ids),
                          f"adding to album {album_id}")

    def remove_from_album(self, album_id: str, asset_ids: Sequence[str]
                          ) -> Awaitable[list[AlbumAddResult]]:
        return self._call(lambda: self.inner.remove_from_album(album_id, asset_ids),
                          f"taking assets out of album {album_id}")

    def create_stack(self, asset_ids: Sequence[str]) -> Awaitable[tuple[str, str]]:
        return self._call(lambda: self.inner.create_stack(asset_ids), "stacking")

    def asset_stack(self, asset_id: str) -> Awaitable[tuple[str, str] | None]:
        return self._call(lambda: self.inner.asset_stack(asset_id), "reading a stack")

    def upsert_tags(self, values: Sequence[str]) -> Awaitable[dict[str, str]]:
        return self._call(lambda: self.inner.upsert_tags(values), "creating tags")

    def add_tag(self, tag_id: str, asset_ids: Sequence[str]
                ) -> Awaitable[list[AlbumAddResult]]:
        return self._call(lambda: self.inner.add_tag(tag_id, asset_ids), f"setting tag {tag_id}")

    def remove_tag(self, tag_id: str, asset_ids: Sequence[str]
                     ) -> Awaitable[list[AlbumAddResult]]:
        return self._call(lambda: self.inner.remove_tag(tag_id, asset_ids),
                          f"taking tag {tag_id} off")
