"""What the page shows, as translated text and numbers (the same for the first paint
and for each server-sent event), built from the ``status --json`` data.

Pure: the language is the one in use where it is called (``i18n.scoped`` per request).
The JavaScript only puts these values into the page; it translates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..i18n import _, ngettext
from ..report.rate import transfer_parts
from ..report.sidecars import late_line
from ..report.statusline import held_line
from ..report.text import count, human_ago, human_bytes, local_time


def page_texts() -> dict[str, str]:
    """The fixed words of the page and its buttons."""
    return {
        "title": _("Immich backup"),
        "progress": _("Uploading"),
        "failed_title": _("Failed uploads"),
        "retry": _("Retry"),
        "retry_all": _("Retry all"),
        "backup_now": _("Back up now"),
        "pause": _("Pause backups"),
        "resume": _("Resume backups"),
        "logout": _("Log out"),
        "no_failed": _("✓ No failed uploads."),
        "refused": _("The daemon refused: {reason}"),
        "folders_title": _("Folders"),
        "settings_title": _("Settings"),
        "included": _("Backed up"),
        "excluded": _("Left out"),
        "browse_title": _("Add a folder"),
        "up": _("Up"),
        "include": _("Back up"),
        "exclude": _("Leave out"),
        "remove": _("Remove"),
        "counts": _("{n} of {total} backed up"),
        "stats_title": _("Statistics"),
        "stats_folders": _("Per folder"),
        "stats_albums": _("Per album"),
        "no_albums": _("No albums yet."),
        "warnings_title": _("Recent warnings"),
        "no_warnings": _("✓ No warnings since the daemon started."),
    }


def status_view(data: dict[str, Any], failed: list[dict[str, Any]], paused: bool,
                warnings: Sequence[tuple[float, str, str]] = ()) -> dict[str, Any]:
    """The status card, the upload progress, the failed uploads, the statistics (per
    folder and per album) and the recent ``warnings`` ((time, level, message), newest
    first), ready to show."""
    quota = data.get("quota") or {}
    used, size = quota.get("usage") or 0, quota.get("size")
    if size:
        quota_text = _("{used} of {size} used").format(used=human_bytes(used),
                                                       size=human_bytes(size))
    elif data.get("server"):
        quota_text = _("{used} used, no quota").format(used=human_bytes(used))
    else:
        quota_text = ""
    last = data.get("last_backup_at")
    held = held_line(data.get("held_by_condition") or {})
    headline = _("⏸ Backups paused") if paused else data["headline"]
    return {
        "state": "paused" if paused else data["state"],
        "headline": headline,
        "backed_up": data["backed_up"],
        "total": data["total"],
        "backed_up_text": _("{n} of {total} backed up").format(
            n=count(data["backed_up"]), total=count(data["total"])),
        "last_backup_text": _("Last backup: {ago} ({time})").format(
            ago=human_ago(last), time=local_time(last)) if last else _("No backup yet"),
        "held_text": held or "",
        "sidecars_text": late_line(data["sidecars_changed_after_upload"])
        if data.get("sidecars_changed_after_upload") else "",
        "failed_count": data["failed"],
        "failed_text": ngettext("{n} upload failed", "{n} uploads failed",
                                data["failed"]).format(n=count(data["failed"]))
        if data["failed"] else "",
        "quota_text": quota_text,
        "quota_fraction": min(1.0, used / size) if size else None,
        "progress": _progress(data.get("live") or {}),
        "paused": paused,
        "failed": [_failed_item(item) for item in failed],
        "stats_folders": [_folder_stat(f) for f in data.get("folders") or []],
        "stats_albums": [
            {"name": name, "text": ngettext("{n} file", "{n} files", n).format(n=count(n))}
            for name, n in sorted((data.get("albums") or {}).items())],
        "warnings": [{"time_text": local_time(at), "level": level, "message": message}
                     for at, level, message in warnings],
    }


def _folder_stat(folder: dict[str, Any]) -> dict[str, Any]:
    text = _("{n} of {total} backed up").format(n=count(folder["backed_up"]),
                                                total=count(folder["total"]))
    if folder.get("failed"):
        text += " · " + _("{n} failed").format(n=count(folder["failed"]))
    return {"path": folder["path"], "text": text}


def _progress(live: dict[str, Any]) -> dict[str, Any] | None:
    uploads = live.get("uploads") or []
    if not uploads:
        return None
    upload = uploads[0]
    planned = live.get("planned") or 0
    n = min(live.get("done", 0) + 1, max(planned, 1))
    fraction = upload["sent"] / upload["size"] if upload["size"] else 1.0
    return {
        "file": Path(upload["path"]).name,
        "path": upload["path"],
        "fraction": round(fraction, 4),
        "percent_text": f"{upload['percent']:.0f}%",
        "count_text": _("{n} of {total}").format(n=count(n), total=count(planned)),
        "bytes_text": f"{human_bytes(upload['sent'])} / {human_bytes(upload['size'])}",
        "transfer_text": " · ".join(transfer_parts(
            sent=0, planned=0, rate=live.get("rate"), seconds_left=live.get("seconds_left"),
            more_to_come=bool(live.get("more_to_come")))),
    }


def _failed_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": item["path"],
        "name": Path(item["path"]).name,
        "reason": item["reason"],
        "attempts_text": ngettext("{n} attempt", "{n} attempts", item["attempts"]).format(
            n=count(item["attempts"])),
    }
