"""The one line the service manager shows (sd_notify STATUS=), from plain data.

Pure, so the wording is tested without a daemon. The same words appear in
``immich-backupd status`` and the desktop notification, translated the same way (the
daemon's log lines stay English; this line is for the person running ``systemctl
status``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..i18n import N_, _, ngettext
from ..report.progress import Progress
from ..report.text import count, human_bytes


def uploading_line(p: Progress) -> str:
    total = p.planned
    done = p.done
    current = next(iter(p.uploads.values()), None)
    if total:
        head = _("Uploading {n}/{total}").format(n=count(min(done + 1, total)),
                                                 total=count(total))
    else:
        head = _("Uploading")
    if current is None:
        return head
    return (f"{head} · {Path(current.path).name} {current.percent:.0f}% · "
            f"{human_bytes(current.sent)}/{human_bytes(current.size)}")


def idle_line(backed_up: int, total: int, failed: int, last_backup: float | None) -> str:
    """Never "Backup complete" while files failed: they are not backed up."""
    parts = [_("{n} failed").format(n=count(failed)) if failed else _("Backup complete"),
             _("{n} of {total}").format(n=count(backed_up), total=count(total))]
    if last_backup:
        parts.append(_("last backup {time}").format(
            time=datetime.fromtimestamp(last_backup).strftime("%H:%M")))
    return " · ".join(parts)


def status_line(
    *,
    state: str,
    progress: Progress | None = None,
    waiting_for: str | None = None,
    backed_up: int = 0,
    total: int = 0,
    failed: int = 0,
    last_backup: float | None = None,
    error: str | None = None,
) -> str:
    """``state``: starting, scanning, backing-up, waiting, idle, error."""
    if state == "waiting" and waiting_for:
        return _(waiting_for)  # the engine's few waiting sentences are in the catalogue
    if state == "error" and error:
        return error
    if state in ("scanning", "backing-up") and progress is not None:
        if progress.uploads or (progress.planned and not progress.scanning):
            return uploading_line(progress)
        return _("Scanning… {n} files").format(n=count(progress.seen))
    if state == "starting":
        return _("Starting")
    return idle_line(backed_up, total, failed, last_backup)


def held_line(counts: dict[str, int]) -> str | None:
    """What waits for an unmetered network (``{"photos": n, "videos": m}``), or None."""
    photos, videos = counts.get("photos", 0), counts.get("videos", 0)
    if photos and videos:
        return _("{n} photos and videos wait for an unmetered network").format(
            n=count(photos + videos))
    if videos:
        return ngettext("{n} video waits for an unmetered network",
                        "{n} videos wait for an unmetered network", videos).format(
            n=count(videos))
    if photos:
        return ngettext("{n} photo waits for an unmetered network",
                        "{n} photos wait for an unmetered network", photos).format(
            n=count(photos))
    return None


def watch_problem(poll_interval: float) -> str:
    """What the status says when file events do not arrive and the daemon polls."""
    return _("file watching does not work here: polling every {n} s").format(
        n=f"{poll_interval:g}")


# The sentences the engine (conditions.policy, the daemon) puts in ``waiting_for``: marked
# here so the catalogue holds them, and translated by lookup where they are shown.
ENGINE_WAITING = (
    N_("Waiting for power (running on battery)"),
    N_("Waiting for Wi-Fi (videos held on a metered network)"),
    N_("Waiting for Wi-Fi (photos held on a metered network)"),
    N_("Waiting for Wi-Fi (photos and videos held on a metered network)"),
    N_("Waiting for another backup run to finish"),
    N_("Waiting for the server"),
)
