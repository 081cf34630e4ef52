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
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import folder_problems, placeholders
from ..backup import run_pass
from ..conditions import (
    ConditionMonitor,
    Decision,
    Kind,
    Requirements,
    default_network_source,
    default_power_source,
)
from ..conditions.power import LinuxSysfsPower
from ..config import Settings, load_settings
from ..errors import (
    AuthError,
    BackupdError,
    ConfigError,
    ExitCode,
    LockHeldError,
    QuotaExceededError,
    ServerUnavailableError,
    UnsupportedServerError,
)
from ..pipeline.runner import BackupPass, Hold, PassResult, ScanTargets
from ..report.live import LIVE_NAME, Fanout
from ..report.notify import NotifyingReporter, NullNotifier, desktop_notifier
from ..report.progress import Progress, Reporter
from ..report.rate import PassRate, transfer
from ..report.statusline import idle_problem, status_line, watch_problem
from ..rules import AlbumRules
from ..state import StateReader
from ..watch import Batch, Debouncer, FolderWatcher, SettleTracker
from ..watch.backend import BackendFactory
from . import notified
from .sdnotify import SdNotify
from .wake import next_wake
from .webui import start_dashboard

log = logging.getLogger("immich_backupd.daemon")

STOP_GRACE = 30.0  # seconds the uploads in flight get to finish after SIGTERM
LOCK_RETRY = 30.0  # another run (a manual `once`) holds the lock
SERVER_RETRY_FIRST = 15.0  # server unreachable: first wait, doubling ...
SERVER_RETRY_MAX = 900.0  # ... up to 15 minutes
AUTH_RETRY = 600.0  # key rejected: try again every 10 minutes (or at once on SIGHUP)
QUOTA_RETRY = 3600.0  # quota full: try again hourly (or on SIGUSR1)
PUBLISH_INTERVAL = 1.0  # live.json and STATUS= at most once a second
START_EXTEND = 60.0  # seconds of start-up time asked for at a time until READY=1
POLL_INTERVAL = 5.0  # seconds between polls where native file watching fails
PROBE_DIR = "watch-probe"  # in state_dir: where the watcher proves that events arrive

# POWER_SUPPLY_ROOT lets a test (or an unusual system) point the power source at another
# sysfs tree; the reading code is the real one.
POWER_ROOT_ENV = "IMMICH_BACKUPD_POWER_SUPPLY_ROOT"


@dataclass
class Trigger:
    """Why the next pass runs."""

    full: bool = False
    reason: str = ""


@dataclass
class DaemonState:
    """What ``status`` shows of the daemon, published in live.json."""

    state: str = "starting"  # starting, scanning, backing-up, waiting, idle, error
    waiting_for: str | None = None
    error: str | None = None
    next_try_at: float | None = None
    last_pass_outcome: str | None = None
    progress: Progress | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _DaemonReporter(Reporter):
    """Feeds pass progress to the daemon's status publishing (throttled there)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def progress(self, progress: Progress) -> None:
        self.daemon._on_progress(progress)

    def pass_done(self, progress: Progress, outcome: str) -> None:
        self.daemon._on_progress(progress, force=True)


class Daemon:
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
        self.monitor = monitor or _make_monitor(settings)
        self.debouncer = Debouncer(settings.backup.trigger_delay, settings.backup.max_delay)
        self.settle = SettleTracker()
        self.status = DaemonState()
        # What was told is kept in the state folder: a restart repeats nothing.
        self.notifier = NotifyingReporter(
            desktop_notifier() if settings.notifications.desktop else NullNotifier(),
            memory=notified.load(settings.state_dir),
            save=lambda memory: notified.save(self.settings.state_dir, memory),
            totals=lambda: notified.totals(self.settings.state_dir))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._full_requested = True  # the full pass at start
        self._reload_requested = False
        self._pass: BackupPass | None = None
        self._pass_task: asyncio.Task[PassResult] | None = None
        self._watcher: FolderWatcher | None = None
        self._ready = False
        self._last_publish = 0.0
        self._rate = PassRate()  # of the pass in ``status.progress``
        self._next_rescan = self.clock() + settings.backup.rescan_interval
        self._retry_at: float | None = None  # a failed pass waits until then
        self._server_wait = SERVER_RETRY_FIRST
        self._held: set[Path] = set()
        self._held_due: float | None = None  # when the held files go back to the debouncer
        # Files the conditions hold back (kind by path), and the task that waits for the
        # conditions to allow them: it listens to the sources' signals at all times.
        self._condition_held: dict[Path, str] = {}
        self._release: asyncio.Task[None] | None = None
        self._paused = False  # the dashboard's pause: no pass starts

    # -- entry -----------------------------------------------------------------------
    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop),
                             (signal.SIGHUP, self.request_reload),
                             (signal.SIGUSR1, self.backup_now)):
            self._loop.add_signal_handler(sig, handler)
        watchdog = asyncio.create_task(self._watchdog()) if self.sd.watchdog_interval else None
        starting = asyncio.create_task(self._extend_start_timeout())
        await self._start_watcher()
        dashboard = await start_dashboard(self)
        self._publish(force=True)
        try:
            await self._main_loop()
        finally:
            self.sd.stopping()
            self.status.state = "stopped"
            self._publish(force=True)
            starting.cancel()
            if dashboard is not None:
                await dashboard.close()
            if self._release is not None:
                self._release.cancel()
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

    def pause(self) -> None:
        """No new pass starts until ``resume``; one running stops as on SIGTERM
        (the uploads in flight finish) and the next resumes its work."""
        log.info("paused from the dashboard")
        self._paused = True
        if self._pass is not None:
            self._pass.request_stop()
            self._full_requested = True
        self._wake.set()

    def resume(self) -> None:
        log.info("resumed from the dashboard")
        self._paused = False
        self._wake.set()

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

    def _on_overflow(self) -> None:
        log.warning("file events were lost (inotify queue overflow); rescanning everything")
        self.debouncer.request_full_rescan(self.clock())
        self._wake.set()

    def _on_rescan(self, root: Path) -> None:
        self.debouncer.add(root, self.clock())  # a folder: its whole tree is rescanned
        self._wake.set()

    async def _start_watcher(self) -> None:
        """Watch the include folders, then prove that events arrive (see
        :meth:`FolderWatcher.probe`): without them it polls, and the status says so."""
        rules = AlbumRules.from_settings(self.settings.albums)
        loop = self._loop
        assert loop is not None

        def on_change(path: Path, kind: str) -> None:
            loop.call_soon_threadsafe(self._on_change, path, kind)

        def on_overflow() -> None:
            loop.call_soon_threadsafe(self._on_overflow)

        def on_rescan(root: Path) -> None:
            loop.call_soon_threadsafe(self._on_rescan, root)

        self._watcher = FolderWatcher(rules, on_change, on_overflow=on_overflow,
                                      on_rescan=on_rescan, poll_interval=POLL_INTERVAL,
                                      observer_factory=self._watch_backend)
        await asyncio.to_thread(self._watcher.start)
        await self._probe_watcher()

    async def _probe_watcher(self) -> None:
        watcher = self._watcher
        assert watcher is not None
        await asyncio.to_thread(watcher.probe, self.settings.state_dir / PROBE_DIR)
        modes = watcher.watched_roots()
        log.info("watching %d folder%s (%s)", len(modes), "s" if len(modes) != 1 else "",
                 ", ".join(f"{p}: {m}" for p, m in modes.items()))

    # -- the loop ----------------------------------------------------------------------
    async def _main_loop(self) -> None:
        while not self._stop.is_set():
            if self._reload_requested:
                self._reload_requested = False
                await self._reload()
            trigger = self._due_trigger()
            if trigger is None:
                await self._sleep_until(self._next_wake())
                continue
            await self._run_trigger(trigger)

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
        if self.status.state not in ("waiting", "error"):
            self.status.state = "idle"
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
                targets = _targets_for(batch, self._held)
        self._held.clear()
        decision = await self._wait_for_conditions()
        if decision is None:  # stopped while waiting
            return
        kinds = _kinds_for(decision)
        log.info("backup pass (%s)%s", trigger.reason if trigger.full else
                 f"{len(targets.folders) + len(targets.trees) if targets else 0} folders "
                 "changed", "" if kinds is None else f", only {', '.join(sorted(kinds))}")
        self.status.state = "scanning"
        self.status.waiting_for = None
        self.status.error = None
        try:
            result = await self._run_pass(targets, kinds)
        except (BackupdError, _Stopped) as exc:
            self._pass_failed(exc, trigger)
            return
        finally:
            self._pass = None
            self._pass_task = None
            if not self._ready:
                self._send_ready()
        self._pass_finished(result, trigger)
        self._condition_held = held_after(self._condition_held, result.held_by_condition,
                                          None if trigger.full else targets)
        self._watch_held()
        self._publish(force=True)

    def _quiet_hours_began(self, backup: BackupPass) -> None:
        """Stop taking new uploads (those in flight finish); the next pass, a full one,
        waits for the end of the quiet hours like for any condition."""
        log.info("quiet hours begin: no new uploads until they end")
        self._full_requested = True
        backup.request_stop()

    def _watch_held(self) -> None:
        """While files are held by the conditions, wait for the conditions to allow
        them (the sources' signals: NetworkManager, power), then back them up."""
        if self._release is not None:
            self._release.cancel()
            self._release = None
        if not self._condition_held:
            return
        kinds = set(self._condition_held.values())
        need: Kind = "any" if len(kinds) > 1 else ("videos" if "video" in kinds else "photos")
        self._release = asyncio.create_task(self._release_when_allowed(need))

    async def _release_when_allowed(self, need: Kind) -> None:
        await self.monitor.wait_until_allowed(need, lambda text: None)
        held, self._condition_held = self._condition_held, {}
        log.info("conditions allow the %d held file%s now: backing them up", len(held),
                 "s" if len(held) != 1 else "")
        now = self.clock()
        for path in held:
            self.debouncer.add(path, now)
        self._release = None
        self._wake.set()

    async def _wait_for_conditions(self) -> Decision | None:
        decision = await self.monitor.current()
        if decision.allows("any"):
            return decision

        def on_wait(text: str) -> None:
            self.status.state = "waiting"
            self.status.waiting_for = text
            self._publish(force=True)
            if not self._ready:
                self._send_ready()

        waiter = asyncio.create_task(self.monitor.wait_until_allowed("any", on_wait))
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            if task not in done:
                task.cancel()
        if waiter in done:
            return waiter.result()
        return None

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

        reporter = Fanout(_DaemonReporter(self), self.notifier)
        task = asyncio.create_task(run_pass(
            self.settings, reporter=reporter, on_start=on_start, targets=targets,
            hold=self._hold, kinds=kinds, live=False))
        self._pass_task = task
        stopper = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():  # stopping: give the uploads in flight their grace
                done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
                if not done:
                    log.warning("uploads still running after %.0f s: aborting them "
                                "(the server keeps nothing of a cut upload)", STOP_GRACE)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    raise _Stopped
            return task.result()
        finally:
            stopper.cancel()
            if quiet_stop is not None:
                quiet_stop.cancel()

    def _hold(self, path: Path, st: Any) -> Hold:
        """Judge a file by its file events: still being written (held), or written,
        closed (or moved in) and quiet (settled: it need not wait for ``settle_time``).
        A file the watcher said nothing about (it came before the daemon, or a full scan
        found it), or only saw created, is left to the pass's settle_time rule on its
        modification time."""
        if path not in self.settle:
            return Hold.UNKNOWN
        now = self.clock()
        self.settle.observe(path, st.size, st.mtime_ns, now)
        if not self.settle.is_settled(path, now):
            self._held.add(path)
            return Hold.HOLD
        completed = self.settle.completed(path)
        self.settle.forget(path)
        # Only a close or a move in vouches for the whole file; else its mtime decides.
        return Hold.SETTLED if completed else Hold.UNKNOWN

    def _pass_finished(self, result: PassResult, trigger: Trigger) -> None:
        self.status.last_pass_outcome = result.outcome
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
            # Looked at again when the first of them may have settled: by its mtime (the
            # pass's settle_time rule, on the wall clock) or by its events. Until then
            # they wait apart, so they never delay other changes; any pass before that
            # takes them along (a close event brings one back at once).
            now = self.clock()
            due = [t for p in self._held if (t := self.settle.settles_at(p)) is not None]
            if result.settle_at is not None:
                due.append(now + result.settle_at - time.time())
            self._held_due = max(now, min(due, default=now) - self.debouncer.trigger_delay)
        else:
            self._held_due = None
        if isinstance(result.error, ServerUnavailableError):
            self._pass_failed(result.error, trigger)
            return
        if isinstance(result.error, QuotaExceededError):
            self._wait_error(str(result.error), QUOTA_RETRY)
        elif isinstance(result.error, AuthError):
            self._wait_error(str(result.error), AUTH_RETRY)
        else:
            self.status.state = "idle"
            self.status.error = None
        self._publish(force=True)

    def _pass_failed(self, exc: BaseException, trigger: Trigger) -> None:
        if isinstance(exc, _Stopped):
            return
        # The pass runs again at the retry, as a full one: a partial pass's changes were
        # taken from the debouncer, and would otherwise wait for the next rescan.
        self._full_requested = True
        if isinstance(exc, LockHeldError):
            log.info("%s; retrying in %.0f s", exc, LOCK_RETRY)
            self._retry_at = self.clock() + LOCK_RETRY
            self.status.state = "waiting"
            self.status.waiting_for = "Waiting for another backup run to finish"
        elif isinstance(exc, (ServerUnavailableError, UnsupportedServerError)):
            wait = self._server_wait
            self._server_wait = min(SERVER_RETRY_MAX, wait * 2)
            log.warning("%s; trying again in %.0f s", exc, wait)
            self._retry_at = self.clock() + wait
            self.status.state = "waiting"
            self.status.waiting_for = "Waiting for the server"
            self.status.error = str(exc)
        else:
            if isinstance(exc, (AuthError, QuotaExceededError)):  # before the pass began
                self.notifier.alert("auth" if isinstance(exc, AuthError) else "quota")
            self._wait_error(str(exc), AUTH_RETRY)
        self._publish(force=True)

    def _wait_error(self, message: str, retry: float) -> None:
        log.error("%s", message)
        self.status.state = "error"
        self.status.error = message
        self._retry_at = self.clock() + retry
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
            self.sd.ready(self._status_text())
            return
        old = self.settings
        self.settings = settings
        self.debouncer.trigger_delay = settings.backup.trigger_delay
        self.debouncer.max_delay = settings.backup.max_delay
        if self._watcher is not None:
            rules = AlbumRules.from_settings(settings.albums)
            await asyncio.to_thread(self._watcher.reconfigure, rules)
            await self._probe_watcher()
        if (old.albums != settings.albums or old.server != settings.server
                or old.backup != settings.backup):
            self._full_requested = True
        self.monitor = await _replace_monitor(self.monitor, settings)
        self._watch_held()  # on the new monitor: the requirements may allow them now
        log.info("configuration reloaded: watching %s",
                 ", ".join(str(p) for p in settings.albums.include))
        self.sd.ready(self._status_text())

    # -- reporting -------------------------------------------------------------------
    def _send_ready(self) -> None:
        self._ready = True
        self.sd.ready(self._status_text())
        log.info("ready")

    def _on_progress(self, progress: Progress, force: bool = False) -> None:
        self.status.progress = progress
        self._rate.update(progress, time.monotonic())
        if progress.uploads:
            self.status.state = "backing-up"
        if not self._ready and not progress.scanning:
            self._send_ready()  # the first scan is done and the watchers run
        self._publish(force=force)

    def _status_text(self) -> str:
        s = self.status
        counts = _counts(self.settings)
        folders = folder_problems.headline(counts.pop("problems", []), symbol=False)
        problem = idle_problem(folders=folders[1] if folders else None,
                               held=held_counts(self._condition_held),
                               settling=len(self._held), cloud=counts.pop("cloud", 0))
        if s.state == "idle" and problem is not None:
            line = problem  # never "Backup complete" while something is not backed up
        else:
            line = status_line(state=s.state, progress=s.progress, waiting_for=s.waiting_for,
                               error=s.error, rate=self._rate.rate_of(s.progress), **counts)
        if self._watcher is not None and self._watcher.blind:
            line += " · " + watch_problem(self._watcher.poll_interval)
        return line

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < PUBLISH_INTERVAL:
            return
        self._last_publish = now
        text = self._status_text()
        self.sd.status(text)
        s = self.status
        data: dict[str, Any] = {
            "pid": os.getpid(),
            "daemon": True,
            "state": s.state,
            "status_line": text,
            "waiting_for": s.waiting_for,
            "error": s.error,
            "queued": self.debouncer.pending,
            "held": len(self._held),
            "paused": self._paused,
            "held_by_condition": held_counts(self._condition_held),
            "watching": {str(k): str(v) for k, v in
                         (self._watcher.watched_roots() if self._watcher else {}).items()},
            "watch_blind": bool(self._watcher and self._watcher.blind),
            "poll_interval": self._watcher.poll_interval if self._watcher else None,
            "updated_at": time.time(),
        }
        if s.progress is not None and s.state in ("scanning", "backing-up"):
            data |= s.progress.to_json() | transfer(s.progress,
                                                    self._rate.rate_of(s.progress))
            data["state"] = s.state
        try:
            path = self.settings.state_dir / LIVE_NAME
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("cannot publish live state: %s", exc)

    async def _extend_start_timeout(self) -> None:
        """READY=1 waits for the first scan, which on a first import of a big library
        can outlast systemd's start timeout (the scan waits on the uploads it feeds):
        ask for more time, a minute at a time, for as long as the scan makes progress."""
        while not self._ready:
            self.sd.send(EXTEND_TIMEOUT_USEC=str(int(START_EXTEND * 1_000_000)))
            await asyncio.sleep(START_EXTEND / 3)

    async def _watchdog(self) -> None:
        """WATCHDOG=1 from the event loop itself: if the loop hangs, systemd restarts us."""
        interval = self.sd.watchdog_interval or 0
        while True:
            self.sd.watchdog()
            await asyncio.sleep(interval)


class _Stopped(Exception):
    """The pass was aborted at shutdown after the grace period."""


def _targets_for(batch: Batch, held: set[Path]) -> ScanTargets:
    folders: set[Path] = set()
    trees: set[Path] = set(batch.dirs_to_rescan)
    for path in set(batch.paths) | held:
        if path.is_dir():
            trees.add(path)
        else:
            folders.add(path.parent)
    return ScanTargets(frozenset(folders), frozenset(trees))


def held_after(before: dict[Path, str], found: dict[Path, str],
               targets: ScanTargets | None) -> dict[Path, str]:
    """The files held by the conditions after a pass over ``targets`` (None: all) that
    held ``found``: the pass's own, and the earlier ones it did not look at."""
    if targets is None:
        return dict(found)
    kept = {p: k for p, k in before.items()
            if p.parent not in targets.folders
            and not any(t == p or t in p.parents for t in targets.trees)}
    return kept | found


def held_counts(held: dict[Path, str]) -> dict[str, int]:
    """{"photos": n, "videos": m} of the held files, for status (kinds with none left out)."""
    counts: dict[str, int] = {}
    for kind in held.values():
        key = "videos" if kind == "video" else "photos"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _kinds_for(decision: Decision) -> frozenset[str] | None:
    if decision.photos and decision.videos:
        return None
    return frozenset(k for k, ok in (("image", decision.photos), ("video", decision.videos))
                     if ok)


def _counts(settings: Settings) -> dict[str, Any]:
    reader = StateReader(settings.state_dir)
    try:
        summary = reader.summary()
        last = reader.meta("last_backup_at")
        problems = folder_problems.loads(reader.meta(folder_problems.META_KEY))
        cloud = len(placeholders.loads(reader.meta(placeholders.META_KEY)))
    except Exception:  # status is best-effort
        return {}
    finally:
        reader.close()
    return {"backed_up": summary["backed_up"], "total": summary["total"],
            "failed": summary["failed"], "last_backup": float(last) if last else None,
            "problems": problems, "cloud": cloud}


def _make_monitor(settings: Settings) -> ConditionMonitor:
    root = os.environ.get(POWER_ROOT_ENV)
    power = LinuxSysfsPower(Path(root)) if root else default_power_source()
    return ConditionMonitor(power, default_network_source(),
                            Requirements.from_settings(settings.backup))


async def _replace_monitor(old: ConditionMonitor, settings: Settings) -> ConditionMonitor:
    requirements = Requirements.from_settings(settings.backup)
    if requirements == old.requirements:
        return old
    await old.close()
    return ConditionMonitor(old.power, old.network, requirements,
                            recheck_interval=old.recheck_interval)

