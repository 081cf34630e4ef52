"""``failed`` (the failed uploads, as a table) and ``retry`` (make them due now)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from ..config import Settings
from ..i18n import _, ngettext
from ..media import placeholders
from ..report.live import read_live
from ..report.sidecars import late_advice, late_line
from ..report.status import cloud_items, failed_items, late_sidecar_paths
from ..report.text import count, local_time
from ..state import UNSUPPORTED, StateReader
from ..state.lock import DAEMON_LOCK_NAME, is_locked, read_holder

__all__ = ["cmd_failed", "cmd_retry", "failed_items", "table"]
from .common import clip, show_path, term_width


def next_try(item: dict[str, Any], now: float) -> str:
    if item["status"] == UNSUPPORTED:
        return _("when the file changes")
    when = item["next_attempt_at"]
    if when is None or when <= now:
        return _("next pass")
    return local_time(when)


_REQUEST = re.compile(r"^[A-Z]+ /\S*: ")
_CORRELATION = re.compile(r"\s*\[correlation id [^\]]*\]")


def short_reason(reason: str) -> str:
    """The reason without the request line and the correlation id (``--wide`` keeps them)."""
    return _CORRELATION.sub("", _REQUEST.sub("", reason, count=1)).strip()


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(items: list[dict[str, Any]], width: int, now: float, *,
          wide: bool = False) -> list[str]:
    """Columns file, reason, attempts, next try; the file and reason columns share what is
    left of ``width``, the file keeping its name (the middle of the path is cut)."""
    heads = (_("FILE"), _("REASON"), _("ATTEMPTS"), _("NEXT TRY"))
    rows = [(show_path(i["path"]), i["reason"] if wide else short_reason(i["reason"]),
             str(i["attempts"]), next_try(i, now)) for i in items]
    w_att = max(len(heads[2]), *(len(r[2]) for r in rows))
    w_next = max(len(heads[3]), *(len(r[3]) for r in rows))
    room = max(30, width - w_att - w_next - 6)
    w_file = min(max(len(heads[0]), *(len(r[0]) for r in rows)), max(16, room * 3 // 5))
    w_reason = max(len(heads[1]), room - w_file)
    out = [f"{heads[0]:<{w_file}}  {heads[1]:<{w_reason}}  {heads[2]:>{w_att}}  {heads[3]}"]
    for path, reason, attempts, nxt in rows:
        out.append(f"{clip(path, w_file):<{w_file}}  {cut(reason, w_reason):<{w_reason}}  "
                   f"{attempts:>{w_att}}  {nxt}")
    return out


SHOWN_CLOUD = 10  # placeholders listed without --wide; the rest are counted


def cloud_lines(items: list[dict[str, str]], *, wide: bool = False) -> list[str]:
    """The cloud placeholders left out: a headline, each file with why (the first
    ``SHOWN_CLOUD`` unless ``wide``), and what to do."""
    if not items:
        return []
    shown = items if wide else items[:SHOWN_CLOUD]
    out = [placeholders.headline(len(items), count(len(items)))]
    out += [f"  {show_path(i['path'])} · {placeholders.reason(i['kind'])}" for i in shown]
    if len(items) > len(shown):
        out.append("  " + _("… and {n} more (`--wide` lists them all)").format(
            n=count(len(items) - len(shown))))
    out.append(placeholders.advice(i["kind"] for i in items))
    return out


def sidecar_lines(paths: list[str], *, wide: bool = False) -> list[str]:
    """The photos whose sidecar changed after their upload: a headline, each photo (the
    first ``SHOWN_CLOUD`` unless ``wide``), and what can be done."""
    if not paths:
        return []
    shown = paths if wide else paths[:SHOWN_CLOUD]
    out = [late_line(len(paths))]
    out += [f"  {show_path(p)}" for p in shown]
    if len(paths) > len(shown):
        out.append("  " + _("… and {n} more (`--wide` lists them all)").format(
            n=count(len(paths) - len(shown))))
    out.append(late_advice())
    return out


def cmd_failed(settings: Settings, args: argparse.Namespace) -> int:
    items = failed_items(settings)
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    cloud = cloud_lines(cloud_items(settings), wide=args.wide)
    cloud += ([""] if cloud else []) + sidecar_lines(late_sidecar_paths(settings),
                                                      wide=args.wide)
    if cloud and not cloud[-1]:
        cloud.pop()
    if not items:
        print(_("✓ No failed uploads."))
        if cloud:
            print("\n".join(["", *cloud]))
        return 0
    width = term_width() if not args.wide else 10_000
    print("\n".join(table(items, width, time.time(), wide=args.wide)))
    print()
    print(ngettext("{n} upload failed.", "{n} uploads failed.", len(items)).format(
        n=count(len(items))))
    print(_("They are retried on their own (NEXT TRY). To retry now: `immich-backupd retry "
            "--all` or `immich-backupd retry PATH`; `--wide` shows the whole reasons."))
    if cloud:
        print("\n".join(["", *cloud]))
    return 0


def cmd_retry(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "deleted", False):
        return _retry_deleted(settings)
    paths = None if args.all else [
        Path(os.path.normpath(os.path.abspath(p.expanduser()))) for p in args.paths]
    reader = StateReader(settings.state_dir)
    try:
        changed = reader.retry(paths)
    finally:
        reader.close()
    for path in changed:
        print(_("will retry: {path}").format(path=path))
    if not changed:
        if args.all:
            print(_("Nothing to retry: no upload has failed."))
            _deleted_hint(settings)
        else:
            print(_("Nothing to retry among the given paths: none of them is a failed file "
                    "or a folder holding one (see `immich-backupd failed`)."))
        return 0
    print(ngettext("{n} file will be retried on the next pass.",
                   "{n} files will be retried on the next pass.", len(changed))
          .format(n=count(len(changed))))
    _back_up_now(settings)
    return 0


def _back_up_now(settings: Settings) -> None:
    if wake_daemon(settings):
        print(_("The running daemon was told to back up now."))
    else:
        print(_("Run `immich-backupd once` to back them up now."))


def _deleted_hint(settings: Settings) -> None:
    reader = StateReader(settings.state_dir)
    try:
        deleted = reader.summary()["deleted_on_server"]
    finally:
        reader.close()
    if deleted:
        print(ngettext("{n} file deleted in Immich is left out: `immich-backupd retry "
                       "--deleted` uploads it again.",
                       "{n} files deleted in Immich are left out: `immich-backupd retry "
                       "--deleted` uploads them again.", deleted).format(n=count(deleted)))


def _retry_deleted(settings: Settings) -> int:
    """``retry --deleted``: the files deleted in Immich go up again on the next pass."""
    reader = StateReader(settings.state_dir)
    try:
        n = reader.retry_deleted()
    finally:
        reader.close()
    if not n:
        print(_("Nothing to upload again: no file was deleted in Immich (as of the last "
                "verify; `immich-backupd verify` asks the server now)."))
        return 0
    print(ngettext("{n} file deleted in Immich will be uploaded again on the next pass.",
                   "{n} files deleted in Immich will be uploaded again on the next pass.",
                   n).format(n=count(n)))
    _back_up_now(settings)
    return 0


def wake_daemon(settings: Settings) -> bool:
    """SIGUSR1 (back up now) to this state folder's daemon, if one runs."""
    if not is_locked(settings.state_dir, DAEMON_LOCK_NAME):
        return False
    pid = read_holder(settings.state_dir, DAEMON_LOCK_NAME)
    live = read_live(settings.state_dir) or {}
    if not pid or live.get("pid") != pid or not live.get("daemon"):
        return False
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        return False
    return True


