"""Running the stand-in: in a background thread (for tests) or in the foreground (CLI).

:class:`StandinServer` owns an event loop in a daemon thread, so synchronous tests,
asyncio tests (with their own loop) and subprocess-style users all talk to it over real
TCP on loopback. Idle keep-alive connections are closed after 5 s like the real server;
an answer sent before the body was read (401, a proxy's 413) is followed by draining
the body (see ``context.answer_then_drain``), except the early duplicate answer, which
closes the connection under a client that is still sending (as observed on the real
server). aiohttp's own lingering is off: it cannot notice a client that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from aiohttp import web

from .app import build_app
from .faults import Faults
from .jobs import JobQueues
from .spec import spec_for_version
from .state import ALL_PERMISSIONS, StandinState, User

KEEPALIVE_TIMEOUT = 5.0


class StandinCore:
    """The app, its runner and listening site, bound to one event loop.

    Shared by the thread runner and the CLI. ``set_down("refuse")`` stops listening
    (connects are refused) and closes open connections; coming back up listens again
    on the same port. ``close_linger``: seconds an early duplicate answer keeps
    discarding the body before the socket is closed (0 closes at once, so the client
    may see a reset). ``ssl_context``: serve HTTPS with it (the url then starts with
    ``https``).
    """

    def __init__(
        self,
        *,
        version: str = "3.1.0",
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        quota: int | None = None,
        permissions: Iterable[str] = (ALL_PERMISSIONS,),
        seed: int = 0,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        close_linger: float = 0.5,
        state: StandinState | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.version = version
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.keepalive_timeout = keepalive_timeout
        self.close_linger = close_linger
        self.state = state or StandinState()
        self.faults = Faults(seed)
        self.user: User = self.state.add_user("admin@example.com", "Admin", quota=quota,
                                              is_admin=True)
        self.api_key = self.state.create_api_key(
            self.user.id, permissions, name="standin-default",
            secret=api_key or secrets.token_urlsafe(24),
        )
        if not self.state.jobs.names:
            spec = spec_for_version(version)
            self.state.jobs = JobQueues(list(spec.schemas["QueueName"]["enum"]))
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._jobs_task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        app = build_app(self.state, self.faults, self.version, close_linger=self.close_linger)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False,
            keepalive_timeout=self.keepalive_timeout, lingering_time=0, shutdown_timeout=1.0,
        )
        await self._runner.setup()
        self._jobs_task = self.loop.create_task(self.state.jobs.run())
        await self._listen()
        self.faults._on_down_change = self._down_changed

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                                 ssl_context=self.ssl_context)
        await self._site.start()
        addresses: list[Any] = self._runner.addresses  # public: the bound sockets' names
        if addresses:
            self.port = addresses[0][1]

    async def _stop_listening(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for conn in list(self._runner.server.connections):
                conn.force_close()

    def _down_changed(self, mode: str | None) -> None:
        """Called from any thread when the down switch flips."""
        if self.loop is None:
            return

        async def apply() -> None:
            if mode == "refuse" and self._site is not None:
                await self._stop_listening()
            elif mode != "refuse" and self._site is None:
                await self._listen()
            if mode == "close" and self._runner is not None and self._runner.server:
                for conn in list(self._runner.server.connections):
                    conn.force_close()

        if _running_in(self.loop):
            self.loop.create_task(apply())
        else:
            asyncio.run_coroutine_threadsafe(apply(), self.loop).result(timeout=10)

    async def stop(self) -> None:
        if self._jobs_task is not None:
            self._jobs_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._jobs_task
            self._jobs_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class StandinServer:
    """An Immich stand-in on loopback, run in a background thread.

    >>> with StandinServer(version="3.1.0") as srv:   # doctest: +SKIP
    ...     srv.url, srv.api_key, srv.state, srv.faults
    """

    def __init__(self, version: str = "3.1.0", **options: Any) -> None:
        """``options``: those of :class:`StandinCore` (``host``, ``port``, ``api_key``,
        ``quota``, ``permissions``, ``seed``, ``keepalive_timeout``, ``close_linger``,
        ``ssl_context``, ``state``), taken once there."""
        self.core = StandinCore(version=version, **options)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()

    # ----------------------------------------------------------- attributes
    @property
    def version(self) -> str:
        return self.core.version

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://...`` (the API is under ``/api``)."""
        return self.core.url

    @property
    def api_url(self) -> str:
        return self.core.url + "/api"

    @property
    def port(self) -> int:
        return self.core.port

    @property
    def api_key(self) -> str:
        """A key of the default (admin) user with the permissions given (default: all)."""
        return self.core.api_key

    @property
    def user(self) -> User:
        return self.core.user

    @property
    def state(self) -> StandinState:
        return self.core.state

    @property
    def faults(self) -> Faults:
        return self.core.faults

    # ------------------------------------------------------------ lifecycle
    def start(self) -> StandinServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.core.start())
            except BaseException as exc:  # report startup failures to the caller
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.core.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                self._stopped.set()

        self._thread = threading.Thread(target=run, name="immich-standin", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if errors:
            self._thread = None
            raise RuntimeError("stand-in failed to start") from errors[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- helpers
    def add_user(
        self, permissions: Iterable[str] = (ALL_PERMISSIONS,), *, quota: int | None = None,
        email: str | None = None,
    ) -> tuple[User, str]:
        """A further user with a key of the given permissions: ``(user, api_key)``."""
        return self.state.add_user_with_key(permissions, quota=quota, email=email)

    def create_api_key(self, permissions: Iterable[str], user_id: str | None = None) -> str:
        """Another key for the default user (or ``user_id``) with these permissions."""
        return self.state.create_api_key(user_id or self.user.id, permissions)

    def set_quota(self, size: int | None, user_id: str | None = None) -> None:
        self.state.set_quota(user_id or self.user.id, size)
