"""``check``: one screen saying, for each part of the set-up, ok or what to do.

Each item is printed as soon as it is known (a large library takes a moment to count):
config, server and version, API key and permissions, quota, each folder (readable, how
many photos and videos), the state folder, inotify watches, charging and network, the
daemon. The exit code is that of the first item that blocks backups (README.md, *Exit
codes*: 78 config, 69 server, 77 key, 73 quota, 74 state folder); warnings leave it at 0.
Conditions not met right now (on battery, a metered network) are warnings: backups wait
for them, they are not broken.

This module runs the items in order; they are in ``check_server`` (server, key, quota)
and ``check_local`` (folders, state folder, watching, conditions, daemon), printed by
``check_screen``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from ..bilingual import localized_lines
from ..config import Settings, load_settings
from ..errors import ConfigError, ExitCode
from ..i18n import _, ngettext
from ..report.text import count
from .check_local import (
    check_conditions,
    check_daemon,
    check_folders,
    check_state_dir,
    check_watching,
)
from .check_screen import Item, Screen, labels
from .check_server import check_server
from .common import show_path


def cmd_check(args: argparse.Namespace) -> int:
    return asyncio.run(run_check(args.config_path, sys.stdout))


async def run_check(config_path: Path, out: TextIO) -> int:
    names = labels()
    screen = Screen(out, list(names.values()))
    settings = _config(screen, names["config"], config_path)
    if settings is None:
        print("\n" + _("✗ Fix the config, then run `immich-backupd check` again."), file=out)
        return int(screen.exit_code())
    media = await check_server(screen, names, settings)
    check_folders(screen, names["folder"], settings, media)
    check_state_dir(screen, names["state"], settings.state_dir)
    check_watching(screen, names["watch"], settings)
    await check_conditions(screen, names, settings)
    check_daemon(screen, names["daemon"], settings)
    failures = [i for i in screen.items if i.status == "fail"]
    warnings = [i for i in screen.items if i.status == "warn"]
    print(file=out)
    if failures:
        print(ngettext("✗ {n} problem blocks backups: fix it and run `immich-backupd check` "
                       "again.",
                       "✗ {n} problems block backups: fix them and run `immich-backupd "
                       "check` again.", len(failures)).format(n=count(len(failures))),
              file=out)
    elif warnings:
        print(ngettext("! Backups work; {n} warning above is worth a look.",
                       "! Backups work; {n} warnings above are worth a look.",
                       len(warnings)).format(n=count(len(warnings))), file=out)
    else:
        print(_("✓ All good. Next: `immich-backupd once` for the first backup."), file=out)
    return int(screen.exit_code())


# -- items ---------------------------------------------------------------------------
def _config(screen: Screen, label: str, path: Path) -> Settings | None:
    if not path.exists():
        screen.add(Item("fail", label, _("no config at {path}").format(path=show_path(path)),
                        ExitCode.CONFIG,
                        [_("Write one with `immich-backupd init`, or pass --config PATH.")]))
        return None
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        screen.add(Item("fail", label, ngettext(
            "{path} has {n} problem:", "{path} has {n} problems:", len(exc.problems)).format(
            path=show_path(path), n=count(len(exc.problems))), ExitCode.CONFIG,
            [*exc.translated(), _("Every key is described in docs/configuration.md.")]))
        return None
    screen.add(Item("ok", label, _("{path} is valid").format(path=show_path(path))))
    for warning in settings.warnings:
        first, *more = localized_lines(warning)
        screen.add(Item("warn", label, first, more=more))
    return settings
