"""Service manager files: the systemd units and the launchd agent that run the daemon.

``install-service`` writes one of them for the current config. Rendering is pure (text
or bytes out, nothing touched: ``systemd``, ``launchd``) and tested directly; ``install``
is the edge that finds the executable, writes the file and says which commands turn the
service on. ``common`` holds the names, paths and quoting they share.

The units shipped in ``systemd/`` and ``launchd/`` of the repository are exactly what the
render functions produce for the default paths (a test keeps them equal), so there is one
source of truth for the hardening, explained in ``docs/service.md``.
"""

from __future__ import annotations

from .common import (
    API_KEY_CREDENTIAL,
    LAUNCHD_LABEL,
    SERVICE_NAME,
    SERVICE_USER,
    SHIPPED_EXECUTABLE,
    SHIPPED_LAUNCHD_HOME,
    SHIPPED_USER_EXEC_START,
    SYSTEM_CONFIG,
    SYSTEM_STATE_DIR,
    UNIT_NAME,
    InstallResult,
    ServiceInstallError,
    systemd_quote,
)
from .install import default_command, default_target_dir, install
from .launchd import render_launchd
from .systemd import render_systemd

__all__ = [
    "API_KEY_CREDENTIAL",
    "LAUNCHD_LABEL",
    "SERVICE_NAME",
    "SERVICE_USER",
    "SHIPPED_EXECUTABLE",
    "SHIPPED_LAUNCHD_HOME",
    "SHIPPED_USER_EXEC_START",
    "SYSTEM_CONFIG",
    "SYSTEM_STATE_DIR",
    "UNIT_NAME",
    "InstallResult",
    "ServiceInstallError",
    "default_command",
    "default_target_dir",
    "install",
    "render_launchd",
    "render_systemd",
    "systemd_quote",
]
