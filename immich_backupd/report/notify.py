"""Desktop notifications: progress, failures, quota and key problems, best-effort.

Three parts: the ``Notifier`` protocol (the I/O boundary), ``DesktopNotifier`` (the real
one, over the desktop-notifier library), and ``NotifyingReporter``, which turns the events
of a pass into few, useful notifications: one status notification updated in place and
throttled, the first few failures by name and then one running count, and an alert for a
full quota or a rejected key once, not every pass.

Following borgmatic's monitoring hooks, notifications never fail a backup: every call into
a notifier is wrapped, a failure is logged (a warning the first time, then debug), and a
machine without a desktop session (a NAS, a system service) silently sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal, NamedTuple, Protocol

from ..i18n import _, ngettext
from .progress import Progress, Reporter
from .statusline import waiting_text
from .text import count

__all__ = [
    "DesktopNotifier",
    "NotificationText",
    "Notifier",
    "NotifyingReporter",
    "NullNotifier",
    "Urgency",
    "final_text",
    "progress_text",
    "session_bus_address",
]

log = logging.getLogger("immich_backupd.notify")

Urgency = Literal["low", "normal", "critical"]

FAILED_OUTCOMES = frozenset({"failed", "unsupported"})
# Alerts the user must act on; repeated passes with the same outcome do not repeat them.
ALERT_OUTCOMES = frozenset({"quota", "auth"})


class Notifier(Protocol):
    """Shows notifications to the user of this computer.

    ``send`` shows one and returns an id; passing that id as ``replace_id`` to a later
    ``send`` replaces that notification instead of adding another. It returns ``None`` when
    nothing was shown (no desktop session, or a failure). It never raises: callers may
    still guard it, since a notification must never fail a backup. ``close`` releases the
    notifier; later sends show nothing. Both are called from the event loop.
    """

    async def send(
        self,
        title: str,
        body: str,
        *,
        replace_id: str | None = None,
        urgency: Urgency = "normal",
    ) -> str | None: ...

    async def close(self) -> None: ...


class NullNotifier:
    """Notifications switched off (``notifications.desktop: false``): shows nothing."""

    async def send(
        self,
        title: str,
        body: str,
        *,
        replace_id: str | None = None,
        urgency: Urgency = "normal",
    ) -> str | None:
        return None

    async def close(self) -> None:
        return None


# --------------------------------------------------------------------------- desktop


def session_bus_address(
    env: Mapping[str, str], uid: int, exists: Callable[[Path], bool] = Path.exists
) -> str | None:
    """Given the environment and user id, return the D-Bus session bus address, or None.

    ``$DBUS_SESSION_BUS_ADDRESS`` if set; else the socket systemd and dbus-broker put in
    the user's runtime directory (``$XDG_RUNTIME_DIR/bus``, usually ``/run/user/UID/bus``),
    if it exists. None means no desktop session to notify: a NAS, a system service, SSH.
    """
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return env["DBUS_SESSION_BUS_ADDRESS"]
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    socket = Path(runtime) / "bus"
    return f"unix:path={socket}" if exists(socket) else None


class _Backend(Protocol):
    """The part of ``desktop_notifier.DesktopNotifier`` (version 6) that we use."""

    async def send(self, title: str, message: str, urgency: Any = ...) -> str: ...

    async def clear(self, identifier: str) -> None: ...

    async def get_capabilities(self) -> frozenset[Any]: ...

    async def get_current_notifications(self) -> list[str]: ...


def _library_backend(app_name: str) -> _Backend:
    from desktop_notifier import DesktopNotifier as Library

    return Library(app_name=app_name, app_icon=None)


def _library_urgency(urgency: Urgency) -> Any:
    from desktop_notifier import Urgency as LibraryUrgency

    return LibraryUrgency(urgency)


class DesktopNotifier:
    """``Notifier`` over the desktop-notifier library (D-Bus on Linux, macOS, Windows).

    The library (6.x) offers no "replaces" id, so an update clears the previous
    notification and sends a new one; progress uses low urgency, which GNOME and KDE show
    in the tray without a banner. The library itself never raises from ``send`` (it logs
    a warning and moves on), so success is checked by asking which notifications it holds.

    On first use it checks for a session bus (Linux) and connects (``get_capabilities``);
    without either it becomes a no-op, said once at debug level. ``env``, ``uid``,
    ``platform`` and ``backend`` are for tests.
    """

    def __init__(
        self,
        app_name: str = "immich-backupd",
        *,
        env: Mapping[str, str] | None = None,
        uid: int | None = None,
        platform: str = sys.platform,
        backend: Callable[[str], _Backend] = _library_backend,
        urgency_map: Callable[[Urgency], Any] = _library_urgency,
        timeout: float = 10.0,
    ) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._env = env
        self._uid = uid
        self._platform = platform
        self._make_backend = backend
        self._urgency = urgency_map
        self._backend: _Backend | None = None
        self._state: Literal["new", "ready", "off", "closed"] = "new"
        self._warned = False
        self._lock = asyncio.Lock()  # one session check and connection, however called

    async def send(
        self,
        title: str,
        body: str,
        *,
        replace_id: str | None = None,
        urgency: Urgency = "normal",
    ) -> str | None:
        backend = await self._ready()
        if backend is None:
            return None
        try:
            async with asyncio.timeout(self.timeout):
                if replace_id is not None:
                    await self._clear(backend, replace_id)
                identifier = await backend.send(title, body, urgency=self._urgency(urgency))
                if identifier not in await backend.get_current_notifications():
                    raise RuntimeError("the notification server did not take it")
        except Exception as exc:
            self._failed(exc)
            return None
        return identifier

    async def close(self) -> None:
        # The library keeps its D-Bus connection for the life of the process and offers
        # no way to close it; we only stop using it.
        self._state = "closed"
        self._backend = None

    @property
    def active(self) -> bool | None:
        """True once connected, False when off or closed, None before the first send."""
        return {"new": None, "ready": True}.get(self._state, False)

    # -- internals -----------------------------------------------------------------
    async def _ready(self) -> _Backend | None:
        if self._state == "ready":
            return self._backend
        async with self._lock:
            if self._state == "new":
                try:
                    self._backend = await self._connect()
                except Exception as exc:  # e.g. the runtime dir is not ours to look at
                    log.debug("no desktop notifications (%s)", _describe(exc))
                self._state = "ready" if self._backend is not None else "off"
        return self._backend if self._state == "ready" else None

    async def _connect(self) -> _Backend | None:
        """The connected library, or None (said once, at debug) without a session."""
        if self._platform.startswith("linux"):
            env = os.environ if self._env is None else self._env
            uid = os.getuid() if self._uid is None else self._uid
            address = session_bus_address(env, uid)
            if address is None:
                log.debug("no desktop session (no D-Bus session bus): notifications off")
                return None
            if self._env is None and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
                # dbus-fast, under the library, looks only at this variable.
                os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        try:
            backend = self._make_backend(self.app_name)
            async with asyncio.timeout(self.timeout):
                await backend.get_capabilities()  # connects; raises if nobody listens
        except Exception as exc:
            log.debug("no desktop notifications (%s): notifications off", _describe(exc))
            return None
        return backend

    async def _clear(self, backend: _Backend, identifier: str) -> None:
        # Fails when the user already dismissed it (the library forgets the id): fine.
        try:
            await backend.clear(identifier)
        except Exception as exc:
            log.debug("clearing notification %s: %s", identifier, _describe(exc))

    def _failed(self, exc: BaseException) -> None:
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "desktop notification failed: %s", _describe(exc))

    def __repr__(self) -> str:
        return f"DesktopNotifier({self.app_name!r}, {self._state})"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------- texts


class NotificationText(NamedTuple):
    title: str
    body: str
    urgency: Urgency


def progress_text(progress: Progress) -> NotificationText | None:
    """The status notification while a pass runs, or None when there is nothing to show.

    Waiting (for power, for Wi-Fi) wins over uploading; scanning and hashing alone are
    not worth a notification.
    """
    if progress.waiting_for:
        return NotificationText(_("Backup paused"), waiting_text(progress.waiting_for), "low")
    if not progress.uploads:
        return None
    planned = max(progress.planned, 1)
    more = "+" if progress.scanning else ""  # the scan is still finding files
    title = _("Uploading {n} of {total}").format(
        n=count(min(progress.done + 1, planned)), total=count(planned)) + more
    first = next(iter(progress.uploads.values()))
    body = f"{PurePath(first.path).name} {first.percent:.0f}%"
    if len(progress.uploads) > 1:
        body += " " + _("(+{n} more)").format(n=count(len(progress.uploads) - 1))
    return NotificationText(title, body, "low")


def final_text(progress: Progress, outcome: str, *, shown: bool) -> NotificationText | None:
    """The notification a pass ends with, or None when it is not worth one.

    ``shown`` says whether this pass showed a status notification; a quiet pass that
    uploaded nothing ends quietly, since a daemon runs many of those.
    """
    tally = _("{n} of {total} backed up").format(n=count(progress.backed_up),
                                                   total=count(progress.seen))
    if outcome == "quota":
        return NotificationText(
            _("Immich storage quota exceeded"),
            _("Backup stopped. Free space in Immich, or ask the admin for a larger quota."),
            "critical",
        )
    if outcome == "auth":
        return NotificationText(
            _("Immich backup stopped"),
            _("The server rejected the API key or it lacks a permission. "
              "Run: immich-backupd check"),
            "critical",
        )
    if outcome == "partial":
        failed = (_("{n} failed").format(n=count(progress.failed)) if progress.failed
                  else _("some failed"))
        return NotificationText(
            _("Backup finished with failures"),
            _("{tally} · {failed}. See: immich-backupd failed").format(tally=tally,
                                                                       failed=failed),
            "normal",
        )
    if not (shown or progress.uploaded):
        return None
    if outcome == "complete":
        return NotificationText(_("Backup complete · {tally}").format(tally=tally), "", "low")
    if outcome == "stopped":
        return NotificationText(_("Backup stopped"),
                                _("{tally}; the rest follows later").format(tally=tally), "low")
    return None


# --------------------------------------------------------------------------- reporter

STATUS = "status"  # the one notification for progress and the end of a pass
FAILURES = "failures"  # the running count once failures are too many to name


@dataclass(slots=True)
class _Message:
    slot: str | None  # replaces the last notification of this slot; None: a new one
    text: NotificationText


class NotifyingReporter(Reporter):
    """A ``Reporter`` that tells the desktop, through a ``Notifier``.

    Reporter methods are synchronous and run on the event loop, so they only queue
    messages; one worker task sends them in order, which lets every update of a slot
    replace the notification its predecessor created. Queued updates of a slot collapse
    into the latest, so a slow notification server never builds a backlog.

    ``interval`` throttles the status and failure-count updates; ``failure_limit`` failures
    per pass are named one by one, the rest counted. ``clock`` is for tests.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        interval: float = 10.0,
        failure_limit: int = 3,
        clock: Callable[[], float] = time.monotonic,
        send_timeout: float = 15.0,
    ) -> None:
        self.notifier = notifier
        self.interval = interval
        self.failure_limit = failure_limit
        self.clock = clock
        self.send_timeout = send_timeout
        self._pending: dict[str, _Message] = {}  # insertion order is send order
        self._ids: dict[str, str] = {}  # slot -> id of the notification showing it
        self._one_off = itertools.count()
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._warned = False
        self._closed = False
        self._last_outcome: str | None = None
        self._new_pass()

    def _new_pass(self) -> None:
        self._status_at: float | None = None
        self._status_waiting: str | None = None
        self._status_shown = False
        self._failures = 0
        self._failures_at: float | None = None
        self._failures_dirty = False

    # -- Reporter ------------------------------------------------------------------
    def file_done(self, path: str, outcome: str, detail: str = "") -> None:
        if outcome not in FAILED_OUTCOMES:
            return
        self._failures += 1
        if self._failures <= self.failure_limit:
            name = PurePath(path).name
            body = detail or outcome
            self._post(None, NotificationText(_("Upload failed: {name}").format(name=name),
                                              body, "normal"))
            return
        self._failures_dirty = True
        now = self.clock()
        if self._failures_at is None or now - self._failures_at >= self.interval:
            self._failures_at = now
            self._post_failure_count()

    def progress(self, progress: Progress) -> None:
        text = progress_text(progress)
        if text is None:
            return
        now = self.clock()
        changed = progress.waiting_for != self._status_waiting  # paused or resumed
        if not changed and self._status_at is not None and now - self._status_at < self.interval:
            return
        self._status_at = now
        self._status_waiting = progress.waiting_for
        self._status_shown = True
        self._post(STATUS, text)

    def pass_done(self, progress: Progress, outcome: str) -> None:
        if self._failures_dirty:
            self._post_failure_count()
        repeated_alert = outcome in ALERT_OUTCOMES and outcome == self._last_outcome
        text = final_text(progress, outcome, shown=self._status_shown)
        if text is not None and not repeated_alert:
            self._post(STATUS, text)
        self._last_outcome = outcome
        self._new_pass()

    # -- lifecycle -----------------------------------------------------------------
    async def flush(self) -> None:
        """Wait until every queued notification has been sent (or has failed)."""
        await self._idle.wait()

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then stop and close."""
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.flush()
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._pending.clear()  # what did not make it in time is dropped
        self._idle.set()
        await self._guard(self.notifier.close)

    # -- internals -----------------------------------------------------------------
    def _post_failure_count(self) -> None:
        self._failures_dirty = False
        self._post(
            FAILURES,
            NotificationText(
                ngettext("{n} upload failed", "{n} uploads failed", self._failures).format(
                    n=count(self._failures)),
                _("They are retried later. See: immich-backupd failed"),
                "normal",
            ),
        )

    def _post(self, slot: str | None, text: NotificationText) -> None:
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.debug("no event loop; notification dropped: %s", text.title)
            return
        key = slot if slot is not None else f"one-off-{next(self._one_off)}"
        self._pending[key] = _Message(slot, text)
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run(), name="notifications")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                await self._deliver(self._pending.pop(key))
            self._idle.set()

    async def _deliver(self, message: _Message) -> None:
        slot, (title, body, urgency) = message.slot, message.text
        replace_id = self._ids.get(slot) if slot is not None else None
        identifier = await self._guard(
            lambda: self.notifier.send(title, body, replace_id=replace_id, urgency=urgency)
        )
        if slot is not None and isinstance(identifier, str):
            self._ids[slot] = identifier

    async def _guard(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Make a notifier call; never raise (cancellation aside), never hang."""
        try:
            async with asyncio.timeout(self.send_timeout):
                return await call()
        except Exception as exc:
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            log.log(level, "notification failed: %s", _describe(exc))
            return None

    def __repr__(self) -> str:
        return (f"NotifyingReporter(pending={len(self._pending)}, slots={sorted(self._ids)}, "
                f"failures_this_pass={self._failures})")
