"""``run``: the daemon, under its lock, until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from ..config import Settings
from ..state.lock import DAEMON_LOCK_NAME, RunLock


def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    # A stop request while starting up ends the daemon cleanly (nothing has begun yet);
    # the event loop installs its own handlers as soon as it runs.
    signal.signal(signal.SIGTERM, _exit_now)
    from ..daemon.core import Daemon  # the daemon's imports (watchdog, D-Bus) only here
    from ..pipeline.gctune import tune_gc

    tune_gc()
    with RunLock(settings.state_dir, DAEMON_LOCK_NAME, "daemon"):
        return asyncio.run(Daemon(args.config_path, settings).run())
