"""Starts the dashboard for the daemon (``dashboard.enabled``), never at the cost of
backups: an address already in use is logged and the daemon runs without it.

Beyond loopback it is served only with a password set (``immich-backupd dashboard
--set-password``), and without TLS it is served with a warning: the password and the
session would cross the network readable by anyone on the way.
"""

from __future__ import annotations

import asyncio
import logging

from ..dashboard.server import Controls, Dashboard
from ..report.status import exposure_warning
from ..state.password import has_password

log = logging.getLogger("immich_backupd.daemon")


async def start_dashboard(controls: Controls) -> Dashboard | None:
    """The running dashboard, or None when it is off or cannot listen."""
    cfg = controls.settings.dashboard
    if not cfg.enabled:
        return None
    if not cfg.loopback and not await asyncio.to_thread(has_password,
                                                        controls.settings.state_dir):
        log.error("dashboard: not served on %s: an address beyond loopback needs a password "
                  "(set one with `immich-backupd dashboard --set-password`, then restart)",
                  cfg.listen)
        return None
    warning = exposure_warning(cfg)
    if warning is not None:
        log.warning("dashboard: %s", warning)
    dashboard = Dashboard(controls)
    try:
        await dashboard.start()
    except OSError as exc:
        log.warning("dashboard: cannot listen on %s (%s); running without it", cfg.listen,
                    exc.strerror or exc)
        return None
    return dashboard
