"""``status``: the backup screen, from the state database and the live file.

Reads only: the SQLite state (WAL, so it reads next to a running pass) and ``live.json``
that a running pass or the daemon publishes. Never touches the server: the server's
version and quota are the ones the last pass saw.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .. import folder_problems
from ..config import Settings
from ..daemon.statusline import held_line, watch_problem
from ..i18n import _, ngettext
from ..lock import is_locked, read_holder
from ..report.live import read_live
from ..report.text import bar, count, human_ago, human_bytes, local_time
from ..rules import AlbumRules
from ..state import FAILED, ON_SERVER, UNSUPPORTED, StateReader
from .common import clip, show_path, term_width

ALBUMS_SHOWN = 10


def folder_counts(state_dir: Path, include: tuple[Path, ...]) -> dict[str, dict[str, int]]:
    """Per include folder: {"backed_up", "total", "failed"} of the files the state knows.

    A file counts for the deepest include folder holding it (as the scanner's album
    rules place it); files under no include folder (one removed from the config) count
    under ``""``.
    """
    out: dict[str, dict[str, int]] = {str(p): {"backed_up": 0, "total": 0, "failed": 0}
                                      for p in include}
    rules = AlbumRules(list(include))
    reader = StateReader(state_dir)
    try:
        data = reader.counts_by_folder()
    finally:
        reader.close()
    roots: dict[Path, str] = {}
    for dir_, status, n in data:
        root = roots.get(dir_)
        if root is None:
            found = rules.root_of(dir_)
            root = roots[dir_] = str(found) if found is not None else ""
        entry = out.setdefault(root, {"backed_up": 0, "total": 0, "failed": 0})
        entry["total"] += n
        if status in ON_SERVER:
            entry["backed_up"] += n
        elif status in (FAILED, UNSUPPORTED):
            entry["failed"] += n
    return out


def status_data(settings: Settings) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-ready data (the ``--json`` document)."""
    reader = StateReader(settings.state_dir)
    try:
        counts = reader.counts()
        server = json.loads(reader.meta("server") or "null")
        last_backup = reader.meta("last_backup_at")
        problems = folder_problems.loads(reader.meta(folder_problems.META_KEY))
        data: dict[str, Any] = {
            "running": is_locked(settings.state_dir),
            "pid": None,
            **reader.summary(),
            "counts": counts,
            "last_backup_at": float(last_backup) if last_backup else None,
            "last_pass": reader.last_pass(),
            "server": server,
            "quota": (server or {}).get("quota"),
            "albums": reader.album_counts(),
            "include": [str(p) for p in settings.albums.include],
            "exclude": list(settings.albums.exclude),
            "folders": [],
            "folder_problems": [p._asdict() for p in problems],
            "live": None,
            "daemon": False,
        }
    finally:
        reader.close()
    folders = folder_counts(settings.state_dir, settings.albums.include)
    data["folders"] = [{"path": path, **numbers} for path, numbers in folders.items()]
    live = read_live(settings.state_dir)
    if live is not None and _alive(live.get("pid")) and live.get("state") != "stopped" \
            and live.get("outcome") is None:
        data["live"] = live
        data["daemon"] = bool(live.get("daemon"))
    data["held_by_condition"] = (data["live"] or {}).get("held_by_condition") or {}
    if data["running"]:
        data["pid"] = read_holder(settings.state_dir)
    data["state"], data["headline"] = headline(data)
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


def headline(data: dict[str, Any]) -> tuple[str, str]:
    """(state for scripts, the line for people): what is happening, in a few words.

    States: waiting, error, uploading, scanning, failed, stopped, complete, never.
    """
    live = data["live"] or {}
    state = live.get("state")
    if state == "waiting" and live.get("waiting_for"):
        return "waiting", "⏸ " + _(live["waiting_for"])
    if state == "error" and live.get("error"):
        return "error", "✗ " + live["error"]
    busy = state in ("scanning", "backing-up") or (live and not live.get("daemon"))
    if busy and (live.get("uploads") or (live.get("planned") and not live.get("scanning"))):
        return "uploading", _("↑ Uploading… {n} of {total}").format(
            n=count(min(live.get("done", 0) + 1, live.get("planned") or 1)),
            total=count(live.get("planned") or 0))
    if busy:
        return "scanning", _("Scanning… {n} files").format(n=count(live.get("seen", 0)))
    problems = folder_problems.loads(json.dumps(data.get("folder_problems") or []))
    folders_line = folder_problems.headline(problems)
    if folders_line is not None and folders_line[0] == "failed":
        return folders_line
    if data["failed"]:
        n = data["failed"]
        return "failed", "✗ " + ngettext("{n} upload failed", "{n} uploads failed",
                                         n).format(n=count(n))
    held = held_line(live.get("held_by_condition") or {})
    if held is not None:
        return "waiting", "⏸ " + held
    if folders_line is not None:
        return folders_line
    last = data["last_pass"] or {}
    if last.get("outcome") == "stopped":
        return "stopped", _("⏸ Backup stopped before the end; the rest follows on the "
                            "next pass")
    if data["last_backup_at"]:
        return "complete", _("✓ Backup complete")
    return "never", _("No backup yet")


def render(data: dict[str, Any], width: int) -> list[str]:
    out = [data["headline"], ""]
    out.append("  " + _("{n} of {total} backed up").format(n=count(data["backed_up"]),
                                                           total=count(data["total"])))
    if data["last_backup_at"]:
        ts = data["last_backup_at"]
        out.append("  " + _("Last backup: {ago} ({time})").format(ago=human_ago(ts),
                                                                   time=local_time(ts)))
    elif data["state"] == "never":
        out.append("  " + _("Run `immich-backupd once` for the first backup, then "
                            "`immich-backupd install-service --user` to keep it going."))
    if data["trashed"]:
        out.append("  " + ngettext(
            "{n} file is in the Immich trash: restore it there to have it backed up",
            "{n} files are in the Immich trash: restore them there to have them backed up",
            data["trashed"]).format(n=count(data["trashed"])))
    server = data["server"]
    if server:
        quota = server.get("quota") or {}
        used, size = quota.get("usage") or 0, quota.get("size")
        space = (_("{used} of {size} used").format(used=human_bytes(used),
                                                   size=human_bytes(size))
                 if size is not None else _("{used} used, no quota").format(
                     used=human_bytes(used)))
        out.append("  " + _("Server: {url} · Immich {version} · {space}").format(
            url=server["url"], version=server["version"], space=space))
    live = data["live"] or {}
    if data["daemon"]:
        watching = len(live.get("watching") or {})
        out.append("  " + _("Daemon: running (pid {pid}) · watching {folders} · {queued} "
                            "changes queued").format(
            pid=live.get("pid"), queued=count(live.get("queued", 0)),
            folders=ngettext("{n} folder", "{n} folders", watching).format(n=count(watching))))
        if live.get("watch_blind"):
            out.append("  ⚠ " + watch_problem(live.get("poll_interval") or 0))
    elif data["running"]:
        out.append("  " + _("A backup is running (pid {pid})").format(pid=data["pid"]))
    uploads = live.get("uploads") or []
    if uploads:
        out += ["", _("Uploading")]
        planned = live.get("planned") or 0
        for i, upload in enumerate(uploads):
            n = min(live.get("done", 0) + 1 + i, max(planned, 1))
            tail = (f" {upload['percent']:.0f}% · "
                    + _("{n} of {total}").format(n=count(n), total=count(planned)) + " · "
                    + f"{human_bytes(upload['sent'])} / {human_bytes(upload['size'])}")
            name_room = max(12, width - len(tail) - 21)
            name = clip(Path(upload["path"]).name, name_room)
            fraction = upload["sent"] / upload["size"] if upload["size"] else 1.0
            out.append(f"  {name} {bar(fraction)}{tail}")
    out += ["", _("Backed up folders")]
    folders = [f for f in data["folders"] if f["path"]]
    shown = [show_path(f["path"]) for f in folders]
    col = min(max((len(s) for s in shown), default=0), max(20, width - 40))
    figures = [_("{n} of {total}").format(n=count(f["backed_up"]), total=count(f["total"]))
               for f in folders]
    fig_col = max((len(x) for x in figures), default=0)
    for f, path, figure in zip(folders, shown, figures, strict=True):
        mark = "✓" if f["total"] and f["backed_up"] == f["total"] else "·"
        line = f"  {mark} {clip(path, col):<{col}}  {figure:>{fig_col}}"
        if f["failed"]:
            line = line.replace(f"  {mark} ", "  ✗ ", 1) + " · " + _("{n} failed").format(
                n=count(f["failed"]))
        out.append(line)
    for problem in folder_problems.loads(json.dumps(data.get("folder_problems") or [])):
        out.append("  " + folder_problems.line(problem, show_path(problem.path)))
    other = next((f for f in data["folders"] if not f["path"]), None)
    if other and other["total"]:
        out.append("  · " + _("{n} files from folders no longer included").format(
            n=count(other["total"])))
    if data["exclude"]:
        out += ["", _("Excluded")]
        out += [f"  – {show_path(e)}" for e in data["exclude"]]
    albums = data["albums"]
    if albums:
        out += ["", ngettext("{n} album", "{n} albums", len(albums)).format(
            n=count(len(albums)))]
        for name, n in list(albums.items())[:ALBUMS_SHOWN]:
            out.append(f"  {name}: {count(n)}")
        if len(albums) > ALBUMS_SHOWN:
            out.append("  " + _("… and {n} more (`immich-backupd status --json` lists "
                                "them all)").format(n=count(len(albums) - ALBUMS_SHOWN)))
    if data["failed"]:
        out += ["", _("See which files failed, and why: immich-backupd failed")]
    return out


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    data = status_data(settings)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print("\n".join(render(data, term_width())))
    return 0
