"""``status``: the backup screen, from the state database and the live file.

The data comes from ``report.status`` (shared with the dashboard); this module draws it
for a terminal. Reads only, never touches the server.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import Settings
from ..i18n import _, ngettext
from ..media import placeholders
from ..report.deletions import deleted_line, trashed_line
from ..report.rate import transfer_parts
from ..report.sidecars import late_line
from ..report.status import folder_counts, headline, in_pass, status_data
from ..report.statusline import watch_problem
from ..report.text import bar, count, human_ago, human_bytes, local_time
from ..scan import folder_problems
from ..schedule.bandwidth import format_rate
from .common import clip, show_path, term_width

__all__ = ["cmd_status", "folder_counts", "headline", "render", "status_data"]

ALBUMS_SHOWN = 10


def render(data: dict[str, Any], width: int) -> list[str]:
    out = [data["headline"], ""]
    backed_up = _("{n} of {total} backed up").format(n=count(data["backed_up"]),
                                                     total=count(data["total"]))
    if data.get("counting"):
        backed_up += " · " + _("still finding files")
    out.append("  " + backed_up)
    sending = transfer_line(data["live"])
    if sending:
        out.append("  " + sending)
    if data["last_backup_at"]:
        ts = data["last_backup_at"]
        out.append("  " + _("Last backup: {ago} ({time})").format(ago=human_ago(ts),
                                                                   time=local_time(ts)))
    elif data["state"] == "never":
        out.append("  " + _("Run `immich-backupd once` for the first backup, then "
                            "`immich-backupd install-service --user` to keep it going."))
    if data["trashed"]:
        out.append("  " + trashed_line(data["trashed"]))
    if data.get("deleted_on_server"):
        out.append("  " + deleted_line(data["deleted_on_server"]))
    if data.get("sidecars_changed_after_upload"):
        out.append("  " + late_line(data["sidecars_changed_after_upload"]))
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
    controls = data.get("run_controls") or {}
    if controls.get("bandwidth"):
        line = _("Upload cap: {rate}").format(rate=format_rate(controls["bandwidth"]))
        if controls.get("bandwidth_until"):
            line += " " + _("until {time}").format(time=controls["bandwidth_until"][-5:])
        out.append("  " + line)
    if controls.get("quiet_until"):
        quiet = _("Quiet hours: no uploads until {time}").format(
            time=controls["quiet_until"][-5:])
        if quiet not in data["headline"]:
            out.append("  " + quiet)
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
    if data.get("dashboard_warning"):
        out.append("  ⚠ " + data["dashboard_warning"])
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
    # A folder the state knows nothing of yet, while a pass works on it: not "0 of 0".
    working = in_pass(data["live"])
    figures = [_("in progress") if working and not f["total"] else
               _("{n} of {total}").format(n=count(f["backed_up"]), total=count(f["total"]))
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
    cloud = (data.get("cloud_placeholders") or {}).get("count") or 0
    if cloud:
        out.append("  " + placeholders.headline(cloud, count(cloud)) + " · "
                   + _("`immich-backupd failed` lists them"))
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


def transfer_line(live: dict[str, Any] | None) -> str | None:
    """``↑ 15 MB of 40 MB sent · 2.4 MB/s · 10s left`` while a pass sends (None when it
    does not: nothing planned to send)."""
    if not in_pass(live) or not (live or {}).get("bytes_planned"):
        return None
    assert live is not None
    sent = _("{sent} of {total} sent").format(
        sent=human_bytes(int(live.get("bytes_sent") or 0)),
        total=human_bytes(int(live["bytes_planned"])))
    rest = transfer_parts(sent=0, planned=0, rate=live.get("rate"),
                          seconds_left=live.get("seconds_left"),
                          more_to_come=bool(live.get("more_to_come")))
    return " · ".join(["↑ " + sent, *rest])


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    data = status_data(settings)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print("\n".join(render(data, term_width())))
    return 0
