"""The one line the service manager shows (sd_notify STATUS=), from plain data.

Pure, so the wording is tested without a daemon. The same words appear in
``immich-backupd status`` and the desktop notification, translated the same way (the
daemon's log lines stay English; this line is for the person running ``systemctl
status``).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from ..i18n import N_, _, ngettext
from ..media import placeholders
from ..model import DaemonPhase
from .progress import Progress
from .rate import transfer, transfer_parts
from .text import count


def uploading_line(p: Progress, rate: float | None = None) -> str:
    """``Uploading 12/50 · 66 MB of 120 MB · 2.4 MB/s · 22s left · IMG_1234.jpg 47%``:
    the count has a ``+`` while the scan still finds files (the time left is then "at
    least"); what is not known yet (the rate in the first second) is left out."""
    total = p.planned
    done = p.done
    current = next(iter(p.uploads.values()), None)
    if total:
        head = _("Uploading {n}/{total}").format(n=count(min(done + 1, total)),
                                                 total=count(total))
        if p.scanning:
            head += "+"
    else:
        head = _("Uploading")
    figures = transfer(p, rate)
    parts = [head, *transfer_parts(sent=p.bytes_sent, planned=p.bytes_planned,
                                   rate=figures["rate"],
                                   seconds_left=figures["seconds_left"],
                                   more_to_come=p.scanning)]
    if current is not None:
        parts.append(f"{Path(current.path).name} {current.percent:.0f}%")
    return " · ".join(parts)


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
    state: DaemonPhase,
    progress: Progress | None = None,
    waiting_for: str | None = None,
    backed_up: int = 0,
    total: int = 0,
    failed: int = 0,
    last_backup: float | None = None,
    error: str | None = None,
    rate: float | None = None,
) -> str:
    """``state``: what the daemon does. ``rate``: bytes per second the pass sends
    (``report.rate``), for the time left."""
    if state == DaemonPhase.WAITING and waiting_for:
        return waiting_text(waiting_for)
    if state == DaemonPhase.ERROR and error:
        return error
    if state in (DaemonPhase.SCANNING, DaemonPhase.BACKING_UP) and progress is not None:
        if progress.uploads or (progress.planned and not progress.scanning):
            return uploading_line(progress, rate)
        return _("Scanning… {n} files").format(n=count(progress.seen))
    if state == DaemonPhase.STARTING:
        return _("Starting")
    return idle_line(backed_up, total, failed, last_backup)


_QUIET_RE = re.compile(r"^Quiet hours: no uploads until (\d\d:\d\d)$")


def waiting_text(waiting_for: str) -> str:
    """The engine's ``waiting_for`` sentence (English, as in live.json and the log) in
    the user's language: the fixed ones by lookup in the catalogue, quiet hours with
    their end time."""
    quiet = _QUIET_RE.match(waiting_for)
    if quiet:
        return _("Quiet hours: no uploads until {time}").format(time=quiet.group(1))
    return _(waiting_for)


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


def charger_line(n: int) -> str:
    """What waits for power: the photos and videos changed while the daemon waits for
    it on battery (``backup.require_charging``)."""
    return ngettext("{n} file waits for the charger", "{n} files wait for the charger",
                    n).format(n=count(n))


def settling_line(n: int) -> str:
    """What waits because it is still being written: a pass leaves such files until
    they settle (the daemon then backs them up by itself; after ``once``, the next run)."""
    return ngettext("{n} file is still being written; it goes up with the next pass "
                    "after it settles",
                    "{n} files are still being written; they go up with the next pass "
                    "after they settle", n).format(n=count(n))


def paused_line() -> str:
    """What says that backups are paused (the dashboard's Pause, kept across restarts)."""
    return _("Backups are paused: new files wait for “Resume backups” in the dashboard")


def idle_problem(*, folders: str | None, held: dict[str, int], settling: int,
                 cloud: int, paused: bool = False) -> str | None:
    """What the daemon's idle line says instead of "Backup complete", or None: backups
    paused, a folder not backed up (``folders``: its line), files held by a condition
    (``held``, see :func:`held_line`), still being written (``settling``) or left in the
    cloud (``cloud`` placeholders), in that order; without the symbol (the service
    manager shows the line as it is)."""
    if paused:
        return paused_line()
    if folders is not None:
        return folders
    line = held_line(held)
    if line is not None:
        return line
    if settling:
        return settling_line(settling)
    if cloud:
        return placeholders.headline(cloud, count(cloud)).removeprefix("⏸ ")
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
