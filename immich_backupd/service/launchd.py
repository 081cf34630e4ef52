"""The launchd agent that runs the daemon for one user on macOS, rendered: bytes out,
nothing touched."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

from .common import LAUNCHD_LABEL, RESTART_SEC, SERVICE_NAME, STOP_TIMEOUT, Command, daemon_argv


def render_launchd(
    settings_path: Path | None,
    executable: Command,
    *,
    log_dir: Path,
    label: str = LAUNCHD_LABEL,
) -> bytes:
    """Return the launchd agent plist (XML) that runs the daemon for one user.

    It starts at login (``RunAtLoad``) and is restarted when it exits with a failure
    (``KeepAlive: {SuccessfulExit: false}``), at most every 30 s (``ThrottleInterval``).
    launchd cannot exempt one exit status, so a bad config (78) is retried every 30 s
    too, each attempt logging the problem. ``ExitTimeOut`` gives in-flight uploads time to
    finish after SIGTERM. Output goes to ``<log_dir>/immich-backupd.log``.
    """
    if not log_dir.is_absolute():
        raise ValueError(f"the log folder must be an absolute path, got {log_dir}")
    log_file = os.fspath(log_dir / f"{SERVICE_NAME}.log")
    plist = {
        "Label": label,
        "ProgramArguments": daemon_argv(executable, settings_path),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SEC,
        "ExitTimeOut": STOP_TIMEOUT,
        "ProcessType": "Background",
        "LowPriorityIO": True,
        "LowPriorityBackgroundIO": True,
        "Nice": 10,
        "Umask": 0o077,
        "StandardOutPath": log_file,
        "StandardErrorPath": log_file,
        "EnvironmentVariables": {
            "PATH": "/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "PYTHONUNBUFFERED": "1",
        },
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=True)
