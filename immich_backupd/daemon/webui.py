"""Starts the dashboard for the daemon (``dashboard.enabled``), never at the cost of
backups: an address already in use is logged and the daemon runs without it."""

from __future__ import annotations

import logging

from ..dashboard.server import Controls, Dashboard

log = logging.getLogger("immich_backupd.daemon")


async def start_dashboard(controls: Controls) -> Dashboard | None:
    """The running dashboard, or None when it is off or cannot listen."""
    cfg = controls.settings.dashboard
    if not cfg.enabled:
        return None
    dashboard = Dashboard(controls)
    try:
        await dashboard.start()
    except OSError as exc:
        log.warning("dashboard: cannot listen on %s (%s); running without it", cfg.listen,
                    exc.strerror or exc)
        return None
    return dashboard
