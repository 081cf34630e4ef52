"""The daemon: one event loop that watches, debounces, waits for conditions and backs up.

Everything it does is a pass of the engine (``backup.run_pass``), never a fork of it:
a full pass at start, on SIGUSR1, after an inotify overflow, on a config reload that
adds folders, and every ``rescan_interval``; a partial pass over the folders the watcher
saw change, ``trigger_delay`` after the last change but no later than ``max_delay``
after the first. Files still being written are held back and looked at again when
they settle.

It never gives up for reasons that pass: a server that is down, a held lock, a full
quota or a rejected key put it in a waiting state (shown in ``status``, the service's
STATUS= line and a notification) and it tries again later, or at once on SIGHUP/SIGUSR1.
Only SIGTERM/SIGINT end it: no new work, the uploads in flight get ``STOP_GRACE``
seconds to finish, then they are aborted (the server keeps nothing of a cut upload), and
it exits 0 with everything finished recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..backup import run_pass
from ..conditions import ConditionMonitor, Decision
from ..conditions.policy import WAITING_FOR_POWER
from ..config import Settings, load_settings
from ..errors import BackupdError, ConfigError, ExitCode
from ..model import DaemonPhase, PassOutcome
from ..pipeline.gctune import release_after_pass
from ..pipeline.runner import BackupPass, Hold, PassResult, PassScope, ScanTargets
from ..report.live import Fanout
from ..report.notify import NotifyingReporter, NullNotifier, desktop_notifier
from ..report.progress import Progress
from ..scan.changes import FileStat
from ..state.paused import paused_since, save_paused
from ..watch import Batch, Debouncer, FolderWatcher, SettleTracker
from ..watch.backend import BackendFactory
from . import keepalive, notified
from .held import ConditionHeld
from .policy import (
    SERVER_RETRY_FIRST,
    Trigger,
    Wait,
    after_error,
    charger_count,
    events_kept,
    held_due,
    kinds_for,
    pass_reason,
    targets_for,
)
from .publish import DaemonState, ProgressFeed
from .publisher import PUBLISH_INTERVAL, Publisher, View
from .sdnotify import SdNotify
from .waiting import (
    Stopped,
    charger_backlog,
    conditions_allow,
    finish_or_abort,
    make_monitor,
    replace_monitor,
)
from .wake import next_wake
from .watching import reconfigure, start_watcher, watching_of
from .webui import start_dashboard

log = logging.getLogger("immich_backupd.daemon")

STOP_GRACE = 30.0  # seconds the uploads in flight get to finish after SIGTERM


class Daemon:
    """The daemon of one config: ``run()`` until SIGTERM/SIGINT (or ``stop()``); the
    dashboard's controls (``backup_now``, ``pause``, ``resume``, ``request_reload``)
    are called on its loop."""

    def __init__(
        self,
        config_path: Path,
        settings: Settings,
        *,
        sd: SdNotify | None = None,
        monitor: ConditionMonitor | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch_backend: BackendFactory | None = None,
    ) -> None:
        """``watch_backend`` builds the native file-watching backend (default: the
        platform's); tests inject one that delivers nothing."""
        self.config_path = config_path
        self._watch_backend = watch_backend
        self.settings = settings
        self.sd = sd or SdNotify()
        self.clock = clock
        self.monitor = monitor or make_monitor(settings)
        self.debouncer = Debouncer(settings.backup.trigger_delay, settings.backup.max_delay)
        self.settle = SettleTracker()
        self.status = DaemonState()
        # What was told is kept in the state folder: a restart repeats nothing. With
        # notifications off nothing is told or kept (no notified.json).
        on = settings.notifications.desktop
        self.notifier = NotifyingReporter(
            desktop_notifier() if on else NullNotifier(),
            memory=notified.load(settings.state_dir) if on else None,
            save=(lambda m: notified.save(self.settings.state_dir, m)) if on else None,
            totals=lambda: notified.totals(self.settings.state_dir))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._full_requested = True  # the full pass at start
        self._reload_requested = False
        self._pass: BackupPass | None = None
        self._watcher: FolderWatcher | None = None
        self._ready = False
        self._pub = Publisher(self.sd, settings.state_dir, self._view, PUBLISH_INTERVAL)
        self._next_rescan = self.clock() + settings.backup.rescan_interval
        self._retry_at: float | None = None  # a failed pass waits until then
        self._server_wait = SERVER_RETRY_FIRST
        self._held: set[Path] = set()
        self._held_due: float | None = None  # when the held files go back to the debouncer
        self._held_by_conditions = ConditionHeld(self._release_held)  # see held.py
        self._waiting_batch: frozenset[Path] = frozenset()  # taken, the conditions wait
        self._backlog: frozenset[Path] = frozenset()  # found by a walk while on battery
        # The dashboard's pause: no pass starts; kept in the state folder across restarts.
        self._paused = paused_since(settings.state_dir) is not None

    # -- entry -----------------------------------------------------------------------
    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop),
                             (signal.SIGHUP, self.request_reload),
                             (signal.SIGUSR1, self.backup_now)):
            self._loop.add_signal_handler(sig, handler)
        watchdog = (asyncio.create_task(keepalive.watchdog(self.sd))
                    if self.sd.watchdog_interval else None)
        starting = asyncio.create_task(
            keepalive.extend_start_timeout(self.sd, lambda: self._ready))
        self._watcher = await start_watcher(
            self.settings, self._loop, on_change=self._on_change,
            on_overflow=self._on_overflow, on_rescan=self._on_rescan,
            backend=self._watch_backend)
        dashboard = await start_dashboard(self)
        await self._pub.fresh()
        self._publish(force=True)
        try:
            await self._main_loop()
        finally:
            self.sd.stopping()
            self.status.state = DaemonPhase.STOPPED
            self._publish(force=True)
            starting.cancel()
            if dashboard is not None:
                await dashboard.close()
            self._held_by_conditions.cancel()
            if watchdog is not None:
                watchdog.cancel()
            if self._watcher is not None:
                await asyncio.to_thread(self._watcher.stop)
            await self.notifier.close()
            await self.monitor.close()
            self.sd.close()
        log.info("stopped")
        return int(ExitCode.OK)

    # -- signals and events (on the loop) --------------------------------------------
    def stop(self) -> None:
        if self._stop.is_set():
            return
        log.info("stopping: finishing the uploads in flight (at most %.0f s)", STOP_GRACE)
        self._stop.set()
        self._pub.quiet()
        if self._pass is not None:
            self._pass.request_stop()
        self._wake.set()

    def backup_now(self) -> None:
        log.info("SIGUSR1: backing up now")
        self._full_requested = True
        self._retry_at = None
        self.monitor.notify_change()  # and look at the conditions again, if waiting
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self, paused: bool = True) -> None:
        """No new pass starts until ``resume``, also after a restart (the state folder
        keeps it); one running stops as on SIGTERM (the uploads in flight finish) and
        the next resumes its work."""
        log.info("%s from the dashboard", "paused" if paused else "resumed")
        self._paused = paused
        save_paused(self.settings.state_dir, paused, time.time())
        if paused and self._pass is not None:
            self._pass.request_stop()
            self._full_requested = True
        self._publish(force=True)  # the status line and live.json say it at once
        self._wake.set()

    def resume(self) -> None:
        self.pause(False)

    def request_reload(self) -> None:
        self._reload_requested = True
        self._retry_at = None
        self._wake.set()

    def _on_change(self, path: Path, kind: str) -> None:
        now = self.clock()
        self.settle.on_event(path, kind, now)
        if kind == "opened":
            return
        self.debouncer.add(path, now)
        self._wake.set()
        if self.status.waiting_for is not None:
            self._pub.soon()  # no pass runs to publish the count of files waiting

    def _on_overflow(self) -> None:
        log.warning("file events were lost (inotify queue overflow); rescanning everything")
        self.debouncer.request_full_rescan(self.clock())
        self._wake.set()

    def _on_rescan(self, root: Path) -> None:
        self.debouncer.add(root, self.clock())  # a folder: its whole tree is rescanned
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------
    async def _main_loop(self) -> None:
        while not self._stop.is_set():
            if self._reload_requested:
                self._reload_requested = False
                await self._reload()
            trigger = self._due_trigger()
            if trigger is None:
                if self._paused and not self._ready:
                    self._send_ready()  # paused since before the start: no first pass
                await self._sleep_until(self._next_wake())
                continue
            await self._run_trigger(trigger)
            await self.notifier.ended()  # the next pass is judged against what was told
            release_after_pass()  # the pass's objects are a cycle: see gctune

    def _due_trigger(self) -> Trigger | None:
        now = self.clock()
        if self._paused:
            return None
        if self._retry_at is not None and now < self._retry_at:
            return None
        if self._full_requested:
            return Trigger(full=True, reason="start" if not self._ready else "requested")
        if now >= self._next_rescan:
            return Trigger(full=True, reason="periodic rescan")
        if self._held_due is not None and now >= self._held_due:
            self._held_due = None
            for path in self._held:
                self.debouncer.add(path, now)
        if self.debouncer.due(now):
            return Trigger(full=False, reason="changes")
        return None

    def _next_wake(self) -> float:
        changes = [t for t in (self.debouncer.next_deadline(), self._held_due) if t is not None]
        return next_wake(self.clock(), next_rescan=self._next_rescan,
                         changes_due=min(changes, default=None),
                         pass_wanted=self._full_requested, retry_at=self._retry_at)

    async def _sleep_until(self, when: float) -> None:
        self._wake.clear()
        if self.status.state not in (DaemonPhase.WAITING, DaemonPhase.ERROR):
            self.status.state = DaemonPhase.IDLE
        self._publish()
        timeout = max(0.0, when - self.clock())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _run_trigger(self, trigger: Trigger) -> None:
        targets: ScanTargets | None = None
        batch: Batch | None = None
        if trigger.full:
            self._full_requested = False
            self._next_rescan = self.clock() + self.settings.backup.rescan_interval
            batch = self.debouncer.take(self.clock())  # covered by the full walk
        else:
            batch = self.debouncer.take(self.clock())
            if batch.full_rescan:
                trigger = Trigger(full=True, reason="too many changes")
            else:
                folders, trees = targets_for(batch.paths, batch.dirs_to_rescan, self._held,
                                             Path.is_dir)
                targets = ScanTargets(folders, trees)
        self._held.clear()
        self._waiting_batch = batch.paths if batch else frozenset()
        try:
            decision = await self._wait_for_conditions()
        finally:
            self._waiting_batch = frozenset()
        if decision is None:  # stopped while waiting
            return
        kinds = kinds_for(decision)
        log.info("backup pass (%s)", pass_reason(trigger.reason if trigger.full else None,
                                                 targets, kinds))
        self.status.state = DaemonPhase.SCANNING
        self.status.waiting_for = None
        self.status.error = None
        self._publish()  # no longer idle, nor holding the files it takes now
        started = self.clock()  # the pass lists the folders of the events before this
        try:
            result = await self._run_pass(targets, kinds)
        except (BackupdError, Stopped) as exc:
            self._pass_failed(exc)
            return
        finally:
            self._pass = None
            if not self._ready:
                self._send_ready()
        await self._pub.fresh()  # the figures it left
        self._pass_finished(result)
        if result.outcome in (PassOutcome.COMPLETE, PassOutcome.PARTIAL):
            self.settle.forget_before(started, self.clock(), events_kept(
                self._held, result.held_by_condition, None if trigger.full else targets))
        self._held_by_conditions.after_pass(result.held_by_condition,
                                            None if trigger.full else targets, self.monitor)
        self._publish(force=True)

    def _quiet_hours_began(self, backup: BackupPass) -> None:
        """Stop taking new uploads (those in flight finish); the next pass, a full one,
        waits for the end of the quiet hours like for any condition."""
        log.info("quiet hours begin: no new uploads until they end")
        self._full_requested = True
        backup.request_stop()

    def _release_held(self, held: Mapping[Path, str]) -> None:
        """The conditions allow the files they held: back them up now."""
        now = self.clock()
        for path in held:
            self.debouncer.add(path, now)
        self._wake.set()

    async def _wait_for_conditions(self) -> Decision | None:
        counting: list[asyncio.Task[None]] = []

        def on_wait(text: str) -> None:
            self.status.state = DaemonPhase.WAITING
            self.status.waiting_for = text
            self._publish(force=True)
            if not self._ready:
                self._send_ready()
            if text == WAITING_FOR_POWER and not counting:
                counting.append(asyncio.create_task(self._count_backlog()))

        try:
            return await conditions_allow(self.monitor, self._stop, on_wait)
        finally:
            for task in counting:
                task.cancel()
            self._backlog = frozenset()

    async def _count_backlog(self) -> None:
        self._backlog = await charger_backlog(self.settings) or frozenset()
        self._publish(force=True)

    async def _run_pass(self, targets: ScanTargets | None,
                        kinds: frozenset[str] | None) -> PassResult:
        quiet_stop: asyncio.TimerHandle | None = None

        def on_start(backup: BackupPass) -> None:
            nonlocal quiet_stop
            self._pass = backup
            if self._stop.is_set():
                backup.request_stop()
            now = self.monitor.local_now()  # the conditions' clock
            starts = self.settings.backup.quiet.next_start(now)
            if starts is not None:  # quiet hours begin: no new uploads from then on
                quiet_stop = asyncio.get_running_loop().call_later(
                    max(0.0, (starts - now).total_seconds()),
                    self._quiet_hours_began, backup)

        reporter = Fanout(ProgressFeed(self._on_progress), self.notifier)
        task = asyncio.create_task(run_pass(
            self.settings, reporter=reporter, on_start=on_start,
            scope=PassScope(targets=targets, kinds=kinds, hold=self._hold), live=False))
        try:
            return await finish_or_abort(task, self._stop, STOP_GRACE)
        finally:
            if quiet_stop is not None:
                quiet_stop.cancel()

    def _hold(self, path: Path, st: FileStat) -> Hold:
        """Judge a file by its file events (``SettleTracker.verdict``); one still being
        written is held. A file the watcher said nothing about (it came before the
        daemon, or a full scan found it) is left to the pass's settle_time rule."""
        verdict = Hold(self.settle.verdict(path, st.size, st.mtime_ns, self.clock()))
        if verdict is Hold.HOLD:
            self._held.add(path)
        return verdict

    def _pass_finished(self, result: PassResult) -> None:
        self._server_wait = SERVER_RETRY_FIRST
        self._retry_at = None
        p = result.progress
        log.info("pass %s: %d uploaded, %d already on the server, %d failed, %d of %d "
                 "files seen backed up", result.outcome, p.uploaded, p.duplicates, p.failed,
                 p.backed_up, p.seen)
        held = set(result.held) | self._held
        self._held = held
        if held:
            log.info("%d file%s still being written; looking again when they settle",
                     len(held), "s" if len(held) != 1 else "")
            self._held_due = held_due(
                self.clock(), [self.settle.settles_at(p) for p in held],
                None if result.settle_at is None else result.settle_at - time.time(),
                self.debouncer.trigger_delay)
        else:
            self._held_due = None
        wait = None if result.error is None else after_error(
            result.error, self._server_wait, pass_ran=True)
        if wait is None:
            self.status.state = DaemonPhase.IDLE
            self.status.error = None
        else:
            self._wait(wait)
        self._publish(force=True)

    def _pass_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Stopped):
            return
        wait = after_error(exc, self._server_wait, pass_ran=False)
        assert wait is not None  # every error that stops a pass from running waits
        self._wait(wait)
        self._publish(force=True)

    def _wait(self, wait: Wait) -> None:
        """Wait as ``policy.after_error`` said, then run again as a full pass: a partial
        pass's changes were taken from the debouncer, and would otherwise wait for the
        next rescan."""
        log.log(wait.level, "%s", wait.message)
        if wait.alert is not None:  # refused before the pass began
            self.notifier.alert(wait.alert)
        self.status.state = wait.state
        self.status.waiting_for = wait.waiting_for
        self.status.error = wait.error
        self._server_wait = wait.server_wait
        self._retry_at = self.clock() + wait.delay
        self._full_requested = True

    # -- reload --------------------------------------------------------------------
    async def _reload(self) -> None:
        self.sd.reloading()
        log.info("SIGHUP: reloading %s", self.config_path)
        try:
            settings = await asyncio.to_thread(load_settings, self.config_path)
        except ConfigError as exc:
            for line in exc.problems:
                log.error("%s", line)
            log.error("configuration not reloaded: keeping the previous one")
            return await self._ready_again()
        old = self.settings
        self.settings = settings
        self._pub.move(settings.state_dir)
        self.debouncer.trigger_delay = settings.backup.trigger_delay
        self.debouncer.max_delay = settings.backup.max_delay
        if self._watcher is not None:
            await reconfigure(self._watcher, settings)
        if (old.albums != settings.albums or old.server != settings.server
                or old.backup != settings.backup):
            self._full_requested = True
        self.monitor = await replace_monitor(self.monitor, settings)
        self._held_by_conditions.watch(self.monitor)  # the new requirements may allow them
        log.info("configuration reloaded: watching %s",
                 ", ".join(str(p) for p in settings.albums.include))
        await self._ready_again()

    async def _ready_again(self) -> None:
        await self._pub.fresh()
        self.sd.ready(self._status_text())

    # -- reporting -------------------------------------------------------------------
    def _send_ready(self) -> None:
        self._ready = True
        self.sd.ready(self._status_text())
        log.info("ready")

    def _on_progress(self, progress: Progress, force: bool = False) -> None:
        self.status.progress = progress
        self._pub.rate.update(progress, time.monotonic())
        if progress.uploads:
            self.status.state = DaemonPhase.BACKING_UP
        if not self._ready and not progress.scanning:
            self._send_ready()  # the first scan is done and the watchers run
        self._publish(force=force)

    def _view(self) -> View:
        power = self.status.waiting_for == WAITING_FOR_POWER  # else no set is built
        charger = charger_count(True, self._waiting_batch | self.debouncer.pending_paths()
                                | self._backlog) if power else 0
        return View(self.status, self._held_by_conditions.files, len(self._held), charger,
                    watching_of(self._watcher), self._paused, self.debouncer.pending)

    def _status_text(self) -> str:
        return self._pub.text()

    def _publish(self, force: bool = False) -> None:
        """STATUS= and live.json, at most once per ``PUBLISH_INTERVAL`` unless forced."""
        self._pub.publish(force)
