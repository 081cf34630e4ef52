"""The command line: ``immich-backupd [--config PATH] COMMAND``.

Thin: parse arguments, load the config, call one layer below, map the outcome to an
exit code of ``interface.md``. Expected failures (bad config, server down, bad key,
lock held) print one line to stderr and never a traceback. ``--json`` prints exactly
one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .backup import exit_code_for, make_client, run_pass
from .config import Settings, default_config_path, load_settings
from .errors import BackupdError, ExitCode
from .lock import DAEMON_LOCK_NAME, RunLock, is_locked, read_holder
from .pipeline.connect import connect
from .pipeline.runner import BackupPass
from .report.live import read_live
from .report.log import setup_logging
from .report.text import human_ago, human_bytes, local_time
from .state import FAILED, ON_SERVER, UNSUPPORTED, StateReader

log = logging.getLogger("immich_backupd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="immich-backupd",
        description="Back photo and video folders up to an Immich server, each file once.",
    )
    parser.add_argument("--config", type=Path, help="config file (default: "
                        "$IMMICH_BACKUPD_CONFIG or ~/.config/immich-backupd/config.yaml)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="the daemon: back up, then watch and back up until SIGTERM")
    sub.add_parser("once", help="one full backup pass, then exit")
    p = sub.add_parser("status", help="what is backed up, last backup, quota, current upload")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p = sub.add_parser("failed", help="the failed uploads, each with its path and reason")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p = sub.add_parser("retry", help="make failed files eligible again now")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--all", action="store_true", help="every failed file")
    g.add_argument("paths", nargs="*", type=Path, default=[], metavar="PATH",
                   help="files or folders to retry")
    sub.add_parser("check", help="validate the config and reach the server")
    p = sub.add_parser("install-service",
                       help="write the systemd unit (or launchd agent) for this config")
    p.add_argument("--user", action="store_true",
                   help="a user service (systemctl --user) rather than a system one")
    p.add_argument("--dir", type=Path, help="where to write it (default: the standard folder)")
    p.add_argument("--force", action="store_true", help="replace a different existing file")
    p.add_argument("--run-as", help="system service: the user it runs as")
    p.add_argument("--credential", type=Path, metavar="KEY_FILE",
                   help="system service: pass this API key file with LoadCredential=")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.config_path = args.config if args.config is not None else default_config_path()
        settings = load_settings(args.config_path)
        setup_logging(settings.log_level)
        for warning in settings.warnings:
            log.warning("%s", warning)
        handler = COMMANDS[args.command]
        return int(handler(settings, args))
    except BackupdError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"immich-backupd: {line}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("immich-backupd: interrupted", file=sys.stderr)
        return 130


# -- run -----------------------------------------------------------------------------
def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    # A stop request while starting up ends the daemon cleanly (nothing has begun yet);
    # the event loop installs its own handlers as soon as it runs.
    signal.signal(signal.SIGTERM, _exit_now)
    from .daemon.core import Daemon  # the daemon's imports (watchdog, D-Bus) only here

    with RunLock(settings.state_dir, DAEMON_LOCK_NAME, "daemon"):
        return asyncio.run(Daemon(args.config_path, settings).run())


# -- once ----------------------------------------------------------------------------
def cmd_once(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_once(settings))


async def _once(settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals = 0

    def on_start(backup: BackupPass) -> None:
        def stop() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                log.warning("stopping: finishing the uploads in flight (again to abort them)")
                backup.request_stop()
            elif task is not None:
                task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)

    try:
        result = await run_pass(settings, on_start=on_start)
    except asyncio.CancelledError:
        print("immich-backupd: aborted; every finished file is recorded", file=sys.stderr)
        return 130
    p = result.progress
    summary = (f"{p.uploaded} uploaded, {p.duplicates} already on the server, "
               f"{p.failed} failed; {p.backed_up} of {p.seen} files backed up "
               f"({human_bytes(p.bytes_uploaded)} sent)")
    if result.error is not None:
        print(f"immich-backupd: {result.error}", file=sys.stderr)
    if result.outcome == "stopped":
        summary = "stopped: " + summary + "; the rest is backed up next time"
    print(summary)
    if p.failed:
        print("see `immich-backupd failed`; they are retried on the next pass, or now with "
              "`immich-backupd retry --all`")
    return int(exit_code_for(result))


# -- status --------------------------------------------------------------------------
def status_data(settings: Settings) -> dict[str, Any]:
    reader = StateReader(settings.state_dir)
    try:
        counts = reader.counts()
        server = json.loads(reader.meta("server") or "null")
        last_backup = reader.meta("last_backup_at")
        data: dict[str, Any] = {
            "running": is_locked(settings.state_dir),
            "pid": None,
            "backed_up": sum(counts.get(s, 0) for s in ON_SERVER),
            "total": sum(counts.values()),
            "counts": counts,
            "failed": counts.get(FAILED, 0) + counts.get(UNSUPPORTED, 0),
            "last_backup_at": float(last_backup) if last_backup else None,
            "last_pass": reader.last_pass(),
            "server": server,
            "albums": reader.album_counts(),
            "include": [str(p) for p in settings.albums.include],
            "exclude": list(settings.albums.exclude),
            "live": None,
            "daemon": False,
        }
    finally:
        reader.close()
    live = read_live(settings.state_dir)
    if live is not None and _alive(live.get("pid")) and live.get("state") != "stopped":
        data["live"] = live
        data["daemon"] = bool(live.get("daemon"))
    if data["running"]:
        data["pid"] = read_holder(settings.state_dir)
    return data


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    data = status_data(settings)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    live = data["live"] or {}
    state = live.get("state")
    if state == "waiting" and live.get("waiting_for"):
        headline = f"⏸ {live['waiting_for']}"
    elif state == "error" and live.get("error"):
        headline = f"✗ {live['error']}"
    elif state in ("scanning", "backing-up") or (data["running"] and live):
        headline = (f"Uploading… {live.get('done', 0)} of {live['planned']}"
                    if live.get("planned") else "Scanning…")
    elif data["failed"]:
        headline = f"✗ {data['failed']} upload{'s' if data['failed'] != 1 else ''} failed"
    elif data["last_backup_at"]:
        headline = "✓ Backup complete"
    else:
        headline = "No backup yet: run `immich-backupd once`"
    print(headline)
    print(f"{data['backed_up']:,} of {data['total']:,} backed up")
    if data["last_backup_at"]:
        ts = data["last_backup_at"]
        print(f"Last backup: {local_time(ts)} ({human_ago(ts)})")
    server = data["server"]
    if server:
        quota = server.get("quota") or {}
        size = quota.get("size")
        used = human_bytes(quota.get("usage") or 0)
        print(f"Server: {server['url']} (Immich {server['version']}) · "
              f"{used} of {human_bytes(size) if size is not None else 'unlimited'} used")
    if data["daemon"]:
        watching = live.get("watching") or {}
        print(f"Daemon: running (pid {live['pid']}) · watching {len(watching)} folder"
              f"{'s' if len(watching) != 1 else ''} · {live.get('queued', 0)} changes queued")
    for upload in live.get("uploads", []):
        print(f"Now: {Path(upload['path']).name} {upload['percent']:.0f}% · "
              f"{human_bytes(upload['sent'])} / {human_bytes(upload['size'])}")
    print("Folders:")
    for folder in data["include"]:
        print(f"  + {folder}")
    for folder in data["exclude"]:
        print(f"  - {folder}")
    if data["albums"]:
        print("Albums:")
        for name, count in data["albums"].items():
            print(f"  {name}: {count:,}")
    return 0


# -- failed / retry ------------------------------------------------------------------
def cmd_failed(settings: Settings, args: argparse.Namespace) -> int:
    reader = StateReader(settings.state_dir)
    try:
        rows = reader.failed()
    finally:
        reader.close()
    items = [{
        "path": str(r.path),
        "status": r.status,
        "reason": r.error or r.status,
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
    } for r in rows]
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("No failed uploads.")
        return 0
    now = time.time()
    for item in items:
        when = item["next_attempt_at"]
        nxt = ("next pass" if when is None or when <= now else f"after {local_time(when)}")
        if item["status"] == UNSUPPORTED:
            nxt = "when the file changes"
        print(f"{item['path']}\n    {item['reason']} · attempts {item['attempts']} · "
              f"next try: {nxt}")
    print(f"{len(items)} failed; `immich-backupd retry --all` retries them on the next pass")
    return 0


def cmd_retry(settings: Settings, args: argparse.Namespace) -> int:
    paths = None if args.all else [p.expanduser().resolve() for p in args.paths]
    reader = StateReader(settings.state_dir)
    try:
        changed = reader.retry(paths)
    finally:
        reader.close()
    for path in changed:
        print(f"will retry: {path}")
    if not changed:
        print("nothing to retry" + ("" if args.all else " among the given paths"))
        return 0
    print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} will be retried on the "
          "next pass")
    return 0


# -- check ---------------------------------------------------------------------------
def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_check(settings))


async def _check(settings: Settings) -> int:
    print(f"ok  config {settings.source}")
    client = make_client(settings, "immich-backupd-check")
    async with client:
        info = await connect(client, album_sync=settings.backup.album_sync)
    print(f"ok  server {settings.server.url}: Immich {info.version}")
    print(f"ok  API key: {', '.join(info.permissions) or 'permissions not listed'}")
    for folder in settings.albums.include:
        print(f"ok  folder {folder}")
    return int(ExitCode.OK)


# -- install-service -------------------------------------------------------------------
def cmd_install_service(settings: Settings, args: argparse.Namespace) -> int:
    from .service import install

    result = install(settings, user=args.user, target_dir=args.dir, force=args.force,
                     run_as=args.run_as, api_key_credential=args.credential)
    print(f"{'wrote' if result.changed else 'unchanged'}: {result.path}")
    for note in result.notes:
        print(f"note: {note}")
    if result.commands:
        print("To enable it:")
        for command in result.commands:
            print(f"  {command}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "once": cmd_once,
    "status": cmd_status,
    "failed": cmd_failed,
    "retry": cmd_retry,
    "check": cmd_check,
    "install-service": cmd_install_service,
}
