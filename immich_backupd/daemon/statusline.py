"""The one line the service manager shows (sd_notify STATUS=), from plain data.

Pure, so the wording is tested without a daemon. The same words appear in
``immich-backupd status`` and the desktop notification.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..report.progress import Progress
from ..report.text import human_bytes


def uploading_line(p: Progress) -> str:
    total = p.planned
    done = p.done
    current = next(iter(p.uploads.values()), None)
    head = f"Uploading {min(done + 1, total):,}/{total:,}" if total else "Uploading"
    if current is None:
        return head
    return (f"{head} · {Path(current.path).name} {current.percent:.0f}% · "
            f"{human_bytes(current.sent)}/{human_bytes(current.size)}")


def idle_line(backed_up: int, total: int, failed: int, last_backup: float | None) -> str:
    parts = ["Backup complete", f"{backed_up:,} of {total:,}"]
    if failed:
        parts.append(f"{failed:,} failed")
    if last_backup:
        parts.append("last backup " + datetime.fromtimestamp(last_backup).strftime("%H:%M"))
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
        return waiting_for
    if state == "error" and error:
        return error
    if state in ("scanning", "backing-up") and progress is not None:
        if progress.uploads or (progress.planned and not progress.scanning):
            return uploading_line(progress)
        return f"Scanning… {progress.seen:,} files"
    if state == "starting":
        return "Starting"
    return idle_line(backed_up, total, failed, last_backup)
