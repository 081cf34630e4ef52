"""``install-service``: write the systemd unit or launchd agent, say how to turn it on."""

from __future__ import annotations

import argparse

from ..config import Settings
from ..i18n import _
from .common import show_path


def cmd_install_service(settings: Settings, args: argparse.Namespace) -> int:
    from ..service import install

    result = install(settings, user=args.user, target_dir=args.dir, force=args.force,
                     run_as=args.run_as, api_key_credential=args.credential)
    if result.changed:
        print(_("✓ Wrote {path}").format(path=show_path(result.path)))
    else:
        print(_("✓ {path} is already up to date").format(path=show_path(result.path)))
    for note in result.notes:
        print(_("note: {note}").format(note=note))
    if result.commands:
        print(_("To turn it on, and to follow its log:"))
        for command in result.commands:
            print(f"  {command}")
        if any("systemctl --user" in c for c in result.commands):
            print(_("Then `immich-backupd status` shows what it does, and `journalctl --user "
                    "-u immich-backupd -p warning` only its problems."))
        elif any("systemctl" in c for c in result.commands):
            print(_("Then `immich-backupd status` shows what it does, and `journalctl "
                    "-u immich-backupd -p warning` only its problems."))
    return 0
