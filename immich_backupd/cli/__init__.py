"""The command line: ``immich-backupd [--config PATH] COMMAND``; one module per command.

Thin: parse arguments, load the config, call one layer below, map the outcome to an
exit code (README.md, *Exit codes*). Expected failures (bad config, server down, bad key, lock
held, a full disk) print one line to stderr, saying what happened and what to do, and
never a traceback. ``--json`` prints exactly one JSON document on stdout. What people
read is translated (``i18n``); log lines are not.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..bilingual import localized
from ..config import Settings, default_config_path, load_settings
from ..errors import BackupdError, ConfigError, ExitCode
from ..i18n import _
from ..report.log import setup_logging
from .common import err, local_error

__all__ = ["COMMANDS", "build_parser", "main", "status_data"]

# command -> (module, function). Imported when run, so `status` does not pay for aiohttp
# and `check` for watchdog: scripts call `status --json` often.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "cmd_run"),
    "once": ("once", "cmd_once"),
    "status": ("status", "cmd_status"),
    "failed": ("failed", "cmd_failed"),
    "retry": ("failed", "cmd_retry"),
    "verify": ("verify", "cmd_verify"),
    "install-service": ("service", "cmd_install_service"),
    "dashboard": ("dashboard", "cmd_dashboard"),
}
# Commands that load the config themselves (init writes it; check reports its problems).
STANDALONE: dict[str, tuple[str, str]] = {
    "init": ("init", "cmd_init"),
    "check": ("check", "cmd_check"),
}


def _command(table: dict[str, tuple[str, str]], name: str) -> Callable[..., int]:
    module, function = table[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def status_data(settings: Settings) -> dict[str, Any]:
    """The ``status --json`` document (see ``cli.status``)."""
    from .status import status_data as data

    return data(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="immich-backupd",
        description=_("Back photo and video folders up to an Immich server, each file once."),
        epilog=_("First time? `immich-backupd init`, then `immich-backupd check`."),
    )
    parser.add_argument("--config", type=Path, help=_(
        "config file (default: $IMMICH_BACKUPD_CONFIG or ~/.config/immich-backupd/"
        "config.yaml)"))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("init", help=_("ask for server, key and folders; write the config"))
    p.add_argument("--url", help=_("the Immich server address"))
    p.add_argument("--api-key-file", metavar="FILE",
                   help=_("a file holding the API key (else it is asked for, and saved next "
                          "to the config)"))
    p.add_argument("--folder", action="append", metavar="DIR",
                   help=_("a folder to back up (repeat for more)"))
    p.add_argument("--exclude", action="append", metavar="PATTERN",
                   help=_("a folder, name or glob to leave out (repeat for more)"))
    p.add_argument("--state-dir", metavar="DIR", help=_("where the backup state is kept"))
    p.add_argument("--force", action="store_true", help=_("replace an existing config"))
    p.add_argument("--no-verify", action="store_true",
                   help=_("do not check the server and key before writing"))
    sub.add_parser("check", help=_("check config, server, key, folders, state folder, "
                                   "watches and conditions; say what to fix"))
    p = sub.add_parser("once", help=_("one full backup pass, then exit"))
    p.add_argument("--dry-run", action="store_true",
                   help=_("show what a pass would upload and add to albums; change nothing"))
    sub.add_parser("verify", help=_("ask the server now about every file backed up: "
                                    "what is there, trashed or deleted in Immich"))
    sub.add_parser("run", help=_("the daemon: back up, then watch and back up until SIGTERM"))
    p = sub.add_parser("status", help=_("what is backed up, last backup, quota, current "
                                        "upload"))
    p.add_argument("--json", action="store_true", help=_("one JSON document on stdout"))
    p = sub.add_parser("failed", help=_("the failed uploads: file, reason, attempts, next "
                                        "try"))
    p.add_argument("--json", action="store_true", help=_("one JSON document on stdout"))
    p.add_argument("--wide", action="store_true", help=_("do not cut long paths and reasons"))
    p = sub.add_parser("retry", help=_("make failed files eligible again now"))
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--all", action="store_true", help=_("every failed file"))
    g.add_argument("--deleted", action="store_true",
                   help=_("upload the files deleted in Immich again"))
    g.add_argument("paths", nargs="*", type=Path, default=[], metavar="PATH",
                   help=_("files or folders to retry"))
    p = sub.add_parser("dashboard", help=_("print the running daemon's dashboard address "
                                           "with a one-time login token"))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--api-token", action="store_true",
                   help=_("print the API token instead (for scripts and Home Assistant)"))
    g.add_argument("--open", action="store_true", help=_("open the address in the browser"))
    g.add_argument("--rotate", action="store_true",
                   help=_("replace the API token and log every browser out"))
    g.add_argument("--set-password", action="store_true",
                   help=_("set the password of a dashboard reachable from the network "
                          "(read from standard input, or asked twice on a terminal)"))
    p = sub.add_parser("install-service",
                       help=_("write the systemd unit (or launchd agent) for this config"))
    p.add_argument("--user", action="store_true",
                   help=_("a user service (systemctl --user) rather than a system one"))
    p.add_argument("--dir", type=Path, help=_("where to write it (default: the standard "
                                              "folder)"))
    p.add_argument("--force", action="store_true", help=_("replace a different existing "
                                                          "file"))
    p.add_argument("--run-as", help=_("system service: the user it runs as"))
    p.add_argument("--credential", type=Path, metavar="KEY_FILE",
                   help=_("system service: pass this API key file with LoadCredential="))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. A reader that closed our stdout (``status |
    head -1``) ends the command quietly with 0: the output was not wanted, nothing failed
    (and it is never mistaken for a state folder that cannot be written)."""
    if sys.stderr is not None and not faulthandler.is_enabled():
        # A crash in native code (SQLite, a hashing library) prints the Python stacks,
        # which the journal keeps, instead of ending with a bare signal number.
        faulthandler.enable()
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit, where a closed pipe is not caught
    except BrokenPipeError:
        _drop_stdout()
        return 0
    return code


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit does not
    fail on the closed pipe again (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    args.config_path = args.config if args.config is not None else default_config_path()
    settings: Settings | None = None
    try:
        if args.command in STANDALONE:
            setup_logging("warning")
            return int(_command(STANDALONE, args.command)(args))
        if not args.config_path.exists():
            err(_("no config at {path}: write one with `immich-backupd init` (or pass "
                  "--config PATH)").format(path=args.config_path))
            return int(ExitCode.CONFIG)
        settings = load_settings(args.config_path)
        setup_logging(settings.log_level)
        for warning in settings.warnings:
            err(warning if args.command == "run" else localized(warning))
        return int(_command(COMMANDS, args.command)(settings, args))
    except ConfigError as exc:
        # For people in their language; `run`'s stderr is the journal: English there.
        err("\n".join(exc.problems if args.command == "run" else exc.translated()))
        return int(exc.exit_code)
    except BackupdError as exc:
        err(str(exc) or type(exc).__name__)
        return int(exc.exit_code)
    except BrokenPipeError:
        raise  # our stdout was closed by its reader: see main()
    except (OSError, sqlite3.Error) as exc:
        message, code = local_error(exc, settings.state_dir if settings else None)
        err(message)
        return int(code)
    except KeyboardInterrupt:
        err(_("interrupted"))
        return 130
