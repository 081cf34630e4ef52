"""Desktop notifications of the daemon: a ``Reporter`` that tells the desktop little, right.

``NotifyingReporter`` feeds a pass's events to the decisions of ``notify_policy`` (what is
told and when: read the rules there) and sends what they produce through a ``Notifier``
(``desktop.py``): every message of a slot replaces the notification the slot showed, so
progress is one notification updated in place; one the user closed stays closed for the
rest of its pass (where the notifier can tell, see ``Notifier.dismissed``). What was told
(``Memory``) is kept by the caller between passes and restarts: the reporter hands every
change to ``save``.

Following borgmatic's monitoring hooks, notifications never fail a backup: every call into
a notifier or ``save`` is wrapped, a failure is logged (a warning the first time, then
debug).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..model import FileOutcome, PassOutcome
from .desktop import (
    DBusNotifier,
    LibraryNotifier,
    Notifier,
    NullNotifier,
    describe,
    desktop_notifier,
    session_bus_address,
)
from .notify_policy import (
    FAILED_OUTCOMES,
    SHOW_AFTER,
    UPDATE_EVERY,
    Memory,
    Message,
    NotificationText,
    PassNotes,
    Slot,
    Totals,
    alert,
    final_text,
    pass_end,
    progress_at,
    progress_text,
)
from .progress import Progress, Reporter

__all__ = [
    "DBusNotifier",
    "LibraryNotifier",
    "Memory",
    "NotificationText",
    "Notifier",
    "NotifyingReporter",
    "NullNotifier",
    "Totals",
    "desktop_notifier",
    "final_text",
    "progress_text",
    "session_bus_address",
]

log = logging.getLogger("immich_backupd.notify")


class NotifyingReporter(Reporter):
    """A ``Reporter`` that tells the desktop, through a ``Notifier``.

    Reporter methods are synchronous and run on the event loop, so they only queue
    messages; one worker task sends them in order, which lets every message of a slot
    replace the notification its predecessor created. Queued messages of a slot collapse
    into the latest, so a slow notification server never builds a backlog.

    ``memory`` is what was told before (kept across restarts by the caller, who gets every
    change through ``save``); ``totals`` reads the state's counts at the end of a pass
    (None: unknown), in a thread when a loop runs (it may take a while on a big state).
    ``show_after`` and ``interval``: see ``notify_policy.progress_at``.
    ``clock`` is for tests.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        memory: Memory | None = None,
        save: Callable[[Memory], None] | None = None,
        totals: Callable[[], Totals | None] | None = None,
        show_after: float = SHOW_AFTER,
        interval: float = UPDATE_EVERY,
        clock: Callable[[], float] = time.monotonic,
        send_timeout: float = 15.0,
    ) -> None:
        self.notifier = notifier
        self.memory = memory if memory is not None else Memory()
        self._save = save
        self._totals = totals
        self.show_after = show_after
        self.interval = interval
        self.clock = clock
        self.send_timeout = send_timeout
        self._pending: dict[Slot, NotificationText] = {}  # insertion order is send order
        self._ids: dict[Slot, str] = {}  # slot -> id of the notification showing it
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._warned = False
        self._closed = False
        self.notes = PassNotes()
        self._latest: Progress | None = None  # the pass's progress, as last reported
        self._timer: asyncio.TimerHandle | None = None
        self._ending: asyncio.Task[None] | None = None  # the last end of a pass being told

    # -- Reporter ------------------------------------------------------------------
    def file_done(self, path: str, outcome: FileOutcome, detail: str = "") -> None:
        # Called for every file of a pass (100,000 on a first backup): cheap checks only.
        if outcome in FAILED_OUTCOMES:
            self.notes.failures[path] = detail or outcome
        elif path in self.memory.failed:
            self.notes.recovered.add(path)
            self.notes.failures.pop(path, None)

    def progress(self, progress: Progress) -> None:
        now = self.clock()
        if self.notes.uploading_since is None and progress.uploads:
            self.notes.uploading_since = now
        self._latest = progress
        self._consider(now)

    def pass_done(self, progress: Progress, outcome: PassOutcome) -> None:
        self._cancel_timer()
        self._latest = None
        notes, self.notes = self.notes, PassNotes()
        if notes.shown and self._dismissed(Slot.STATUS):
            notes.shown_at = None  # the user closed it: end as if it never showed

        async def end() -> None:
            # The state's counts take a query over every file (~80 ms for a million):
            # read in a thread, so the loop goes on with the watchdog pings and signals.
            totals = await asyncio.to_thread(self._read_totals)
            self._send_all(*pass_end(progress, outcome, notes, self.memory, totals))

        if not self._in_order(end):  # no event loop: nothing could be sent anyway
            self._send_all(*pass_end(progress, outcome, notes, self.memory,
                                     self._read_totals()))

    def alert(self, outcome: PassOutcome) -> None:
        """A full quota or a rejected key found before a pass could start (``outcome``:
        ``quota`` or ``auth``): told once, like the same outcome of a pass (after the
        end of a pass still being told)."""
        if self._ending is None or self._ending.done():
            self._send_all(*alert(outcome, self.memory))
            return

        async def told() -> None:
            self._send_all(*alert(outcome, self.memory))

        self._in_order(told)

    # -- lifecycle -----------------------------------------------------------------
    async def ended(self) -> None:
        """Wait until the last pass's end has been worked out (its messages queued, the
        memory updated): the daemon awaits it before it starts another pass, whose
        files are judged against that memory (a failure told before, now backed up)."""
        while self._ending is not None and not self._ending.done():
            await asyncio.wait([self._ending])

    async def flush(self) -> None:
        """Wait until the ends of passes are told and every queued notification has
        been sent (or has failed)."""
        await self.ended()
        await self._idle.wait()

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then stop and close."""
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.flush()
        self._closed = True
        self._cancel_timer()
        if self._ending is not None and not self._ending.done():
            self._ending.cancel()  # not told in time: dropped, like what is queued
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._pending.clear()  # what did not make it in time is dropped
        self._idle.set()
        await self._guard(self.notifier.close)

    # -- internals -----------------------------------------------------------------
    def _in_order(self, step: Callable[[], Awaitable[None]]) -> bool:
        """Run ``step`` as a task after the one started before (the end of a pass and
        an alert after it are told in the order they happened, each from the memory
        the one before left). False when there is no running loop (nothing is run)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        previous = self._ending

        async def run() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            await step()

        self._ending = loop.create_task(run(), name="notify-pass-end")
        return True

    def _consider(self, now: float) -> None:
        """Show the progress if it is due, and look again when it will be next. A pass
        reports progress when something happens, so a long upload's quiet stretch (or
        the ``show_after`` mark reached in one) needs the timer."""
        progress = self._latest
        if progress is None or self._closed:
            return
        if self.notes.shown and self._dismissed(Slot.STATUS):
            return  # the user closed this pass's progress: it stays closed
        at = progress_at(progress, self.notes, show_after=self.show_after,
                         interval=self.interval)
        if at is not None and at <= now:
            text = progress_text(progress)
            assert text is not None
            self.notes.shown_at = now
            self.notes.shown_waiting = progress.waiting_for
            if text != self.notes.shown_text:  # the same again is no news
                self.notes.shown_text = text
                self._post(Slot.STATUS, text)
            at = progress_at(progress, self.notes, show_after=self.show_after,
                             interval=self.interval)
        if at is not None and at > now and self._timer is None:
            with contextlib.suppress(RuntimeError):  # no loop: no timer, and no sending
                self._timer = asyncio.get_running_loop().call_later(at - now, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._consider(self.clock())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _dismissed(self, slot: Slot) -> bool:
        identifier = self._ids.get(slot)
        if identifier is None:
            return False
        try:
            return bool(self.notifier.dismissed(identifier))
        except Exception:
            return False

    def _read_totals(self) -> Totals | None:
        if self._totals is None:
            return None
        try:
            return self._totals()
        except Exception as exc:
            log.debug("cannot read the counts for a notification: %s", describe(exc))
            return None

    def _send_all(self, messages: list[Message], memory: Memory) -> None:
        for slot, text in messages:
            self._post(slot, text)
        if memory != self.memory:
            self.memory = memory
            if self._save is not None:
                try:
                    self._save(memory)
                except Exception as exc:
                    self._warn("saving what was notified", exc)

    def _post(self, slot: Slot, text: NotificationText) -> None:
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.debug("no event loop; notification dropped: %s", text.title)
            return
        if self._dismissed(slot):
            del self._ids[slot]  # closed by the user: a new one, not an update of it
        self._pending[slot] = text  # replaces a queued one of the slot, in its place
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run(), name="notifications")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                slot = next(iter(self._pending))
                await self._deliver(slot, self._pending.pop(slot))
            self._idle.set()

    async def _deliver(self, slot: Slot, text: NotificationText) -> None:
        title, body, urgency = text
        replace_id = self._ids.get(slot)
        identifier = await self._guard(
            lambda: self.notifier.send(title, body, replace_id=replace_id, urgency=urgency)
        )
        if isinstance(identifier, str):
            self._ids[slot] = identifier

    async def _guard(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Make a notifier call; never raise (cancellation aside), never hang."""
        try:
            async with asyncio.timeout(self.send_timeout):
                return await call()
        except Exception as exc:
            self._warn("notification", exc)
            return None

    def _warn(self, what: str, exc: BaseException) -> None:
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "%s failed: %s", what, describe(exc))

    def __repr__(self) -> str:
        return (f"NotifyingReporter(pending={len(self._pending)}, slots={sorted(self._ids)}, "
                f"failures_this_pass={len(self.notes.failures)})")
