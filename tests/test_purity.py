"""The pure modules stay pure: importing one, in a fresh interpreter, loads none of the
I/O frameworks (asyncio, aiohttp, aiosqlite, watchdog).

A pure module holds decisions (time and data passed in) that can be read and tested
alone; the frameworks belong to the edges (the pass, the client, the state's writer,
the daemon). The list is every module of immich_backupd that is pure today; a module
that needs a framework is not listed, not forced. Add a new pure module here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

FRAMEWORKS = ("asyncio", "aiohttp", "aiosqlite", "watchdog")

PURE_MODULES = (
    "bilingual", "cli.check_screen", "cli.common", "cli.dashboard", "cli.service",
    "cli.terminal", "config", "config.albums", "config.edit", "config.fields",
    "config.keys", "config.model", "config.paths", "config.render", "config.sections",
    "config.yamldoc", "daemon.notified", "daemon.policy", "daemon.publish",
    "daemon.sdnotify", "daemon.wake", "dashboard.folders", "dashboard.guard",
    "dashboard.toggles", "dashboard.tokens", "dashboard.view", "errors", "hashing",
    "hashing.digest", "i18n", "immich.errors", "immich.versions", "media",
    "media.appleburst", "media.capture_containers", "media.capture_date", "media.exif",
    "media.kinds", "media.placeholders", "media.stacks", "media.videoinfo", "model",
    "pipeline.budget", "pipeline.dryrun", "pipeline.followups", "pipeline.gctune",
    "pipeline.gonefolders", "pipeline.jobpause", "pipeline.plan", "pipeline.sidecars",
    "report.deletions", "report.log", "report.notify_policy", "report.progress",
    "report.rate", "report.sidecars", "report.statusline", "report.text", "scan",
    "scan.changes", "scan.folder_problems", "scan.mounts", "scan.rules", "scan.walk",
    "schedule", "schedule.bandwidth", "schedule.durations", "schedule.quiet_hours",
    "service", "service.common", "service.install", "service.launchd", "service.systemd",
    "state", "state.bursts", "state.leaving", "state.lock", "state.password", "state.paths",
    "state.paused", "state.preview", "state.reader", "state.records", "state.room",
    "state.schema", "state.sidecars", "state.worker", "watch.backend", "watch.debounce",
    "watch.filtering", "watch.inotify", "watch.inotify_tree", "watch.limits",
    "watch.mountwatch", "watch.observer", "watch.pollthread", "watch.roots", "watch.settle",
)

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_module_imports_no_io_framework(name: str) -> None:
    module = f"immich_backupd.{name}"
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(' '.join(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [], f"{module} imports {p.stdout.strip()}"


def test_the_list_names_modules_that_exist() -> None:
    """A module renamed or split away must not leave its name here, checking nothing."""
    missing = [n for n in PURE_MODULES if importlib.util.find_spec(f"immich_backupd.{n}") is None]
    assert missing == []
