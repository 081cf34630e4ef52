"""What ``status`` shows, as data: the state database, ``live.json`` and the lock.

Reads only: the SQLite state (WAL, so it reads next to a running pass) and ``live.json``
that a running pass or the daemon publishes. Never touches the server: the server's
version and quota are the ones the last pass saw. Shared by ``immich-backupd status``
and the dashboard (both above this module); the headline is translated with the
language in use where it is called (``i18n``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import DashboardSettings, Settings
from ..errors import AuthError, BackupdError, UnsupportedServerError
from ..i18n import _, ngettext
from ..media import placeholders
from ..model import DaemonPhase, PassOutcome
from ..scan import folder_problems
from ..scan.rules import AlbumRules
from ..state import FAILED, ON_SERVER, UNSUPPORTED, StateReader
from ..state.lock import is_locked, read_holder
from ..state.password import has_password
from ..state.paused import paused_since
from ..state.room import Room, state_room
from .live import read_live
from .sidecars import late_headline
from .statusline import charger_line, held_line, paused_line, settling_line, waiting_text
from .text import count

LAST_STOP_KEY = "last_stop"
"""The state's meta key for why the last run could not start a pass (JSON
``{"reason", "at"}``): written when the server refuses the key, cannot be reached or
runs an unsupported version before the pass began (:mod:`immich_backupd.backup`), and
emptied (``null``) when a pass starts. A pass that started records its own outcome."""


BEING_WRITTEN_KEY = "being_written"
"""The state's meta key for the files the last pass left because they were still being
written (a JSON list of paths, written by :mod:`immich_backupd.backup` at the end of a
pass that finished, emptied by one that was stopped, so that ``status`` says it stopped):
``status`` counts them after ``once`` too."""


def being_written(live: dict[str, Any] | None, recorded: list[str]) -> dict[str, Any]:
    """The ``being_written`` of ``status --json``: ``{"count", "files"}``. A running
    daemon's own count (``live["held"]``: it watches them settle) when it has one, else
    what the last pass recorded."""
    if live and live.get("daemon") and live.get("held"):
        return {"count": int(live["held"]), "files": []}
    return {"count": len(recorded), "files": list(recorded)}


def stop_record(exc: BackupdError, now: float) -> str:
    """The :data:`LAST_STOP_KEY` value for a run that could not start because of ``exc``."""
    reason = ("auth" if isinstance(exc, AuthError) else
              "unsupported" if isinstance(exc, UnsupportedServerError) else "offline")
    return json.dumps({"reason": reason, "at": now})


def last_stop(last_pass: dict[str, Any] | None, stop: dict[str, Any] | None, *,
              running: bool, room: str | None, state_dir: str) -> dict[str, Any] | None:
    """Why backing up stopped short, or None: what ``status`` must say instead of "✓".

    ``room``: the state folder cannot be written now (:mod:`immich_backupd.state.room`)
    -- reason ``state``, whatever the last pass said, as no pass can record anything.
    Else, unless a pass runs now: the run that could not start (``stop``, from
    :data:`LAST_STOP_KEY`, newer than any pass), or the last pass's own outcome when it
    ended on a refused key (``auth``), a server gone (``offline``) or the state
    (``state``), or a pass row still ``running`` with no process at work
    (``interrupted``: killed, or its end could not be written). Returns
    ``{"reason", "at", "detail"?, "path"?}``.
    """
    if room is not None:
        return {"reason": "state", "detail": room, "path": state_dir, "at": None}
    if running:
        return None
    if stop and stop.get("reason"):
        return {"reason": stop["reason"], "at": stop.get("at")}
    last = last_pass or {}
    outcome = last.get("outcome")
    if outcome in (PassOutcome.AUTH, PassOutcome.OFFLINE, PassOutcome.STATE):
        return {"reason": outcome, "at": last.get("finished_at")}
    if outcome == PassOutcome.RUNNING:
        return {"reason": "interrupted", "at": last.get("started_at")}
    return None


def stop_headline(stop: dict[str, Any]) -> str:
    """The first line of ``status`` for a :func:`last_stop` (never "✓")."""
    reason = stop["reason"]
    if reason == "state":
        where = stop.get("path") or ""
        if stop.get("detail") == Room.READ_ONLY:
            text = _("The state folder {dir} is on a read-only disk: nothing is backed up "
                     "until it can be written")
        elif stop.get("detail") == Room.FULL:
            text = _("The disk of the state folder {dir} is full: nothing is backed up "
                     "until there is room")
        else:
            text = _("The state folder {dir} cannot be written: nothing is backed up "
                     "until it can (chown/chmod it)")
        return "✗ " + text.format(dir=where)
    if reason == "auth":
        return "✗ " + _("The server refused the API key: nothing is backed up until that "
                        "is fixed (`immich-backupd check` says why)")
    if reason == "unsupported":
        return "✗ " + _("The server runs an Immich version this release does not support: "
                        "nothing is backed up (`immich-backupd check` says more)")
    if reason == "offline":
        return "✗ " + _("The Immich server could not be reached at the last backup: the "
                        "rest follows when it answers again")
    return "✗ " + _("The last backup was cut off before it could finish (killed, or its "
                    "state could not be written): the rest follows on the next pass")


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
        cloud = placeholders.loads(reader.meta(placeholders.META_KEY))
        data: dict[str, Any] = {
            "running": is_locked(settings.state_dir),
            "pid": None,
            **reader.summary(),
            "counts": counts,
            "last_backup_at": float(last_backup) if last_backup else None,
            "last_pass": reader.last_pass(),
            "last_stop": json.loads(reader.meta(LAST_STOP_KEY) or "null"),
            "being_written": json.loads(reader.meta(BEING_WRITTEN_KEY) or "[]"),
            # What the last verify found (pipeline.verify.VerifyReport), with its time.
            "last_verify": json.loads(reader.meta("last_verify") or "null"),
            "server": server,
            "quota": (server or {}).get("quota"),
            "albums": reader.album_counts(),
            "include": [str(p) for p in settings.albums.include],
            "exclude": list(settings.albums.exclude),
            "folders": [],
            "folder_problems": [p._asdict() for p in problems],
            "cloud_placeholders": cloud_data(cloud),
            "live": None,
            "daemon": False,
        }
    finally:
        reader.close()
    folders = folder_counts(settings.state_dir, settings.albums.include)
    data["folders"] = [{"path": path, **numbers} for path, numbers in folders.items()]
    live = read_live(settings.state_dir)
    if live is not None and _alive(live.get("pid")) and live.get("state") != DaemonPhase.STOPPED \
            and live.get("outcome") is None:
        data["live"] = live
        data["daemon"] = bool(live.get("daemon"))
    data["held_by_condition"] = (data["live"] or {}).get("held_by_condition") or {}
    data["held_for_charger"] = int((data["live"] or {}).get("held_for_charger") or 0)
    data["being_written"] = being_written(data["live"], data["being_written"])
    data["backed_up"], data["total"], data["counting"] = counts_in_pass(
        data["backed_up"], data["total"], data["live"])
    if data["running"]:
        data["pid"] = read_holder(settings.state_dir)
    # Asked again after the state was read: a pass that started meanwhile is running,
    # not cut off.
    data["last_stop"] = last_stop(
        data["last_pass"], data["last_stop"],
        running=data["running"] or is_locked(settings.state_dir),
        room=state_room(settings.state_dir), state_dir=str(settings.state_dir))
    data["run_controls"] = run_controls(settings, datetime.now())
    data["paused_since"] = paused_since(settings.state_dir)
    data["paused"] = data["paused_since"] is not None
    data["dashboard_warning"] = exposure_warning(settings.dashboard,
                                                 has_password(settings.state_dir))
    data["state"], data["headline"] = headline(data)
    return data


def exposure_warning(dashboard: DashboardSettings, password: bool = True) -> str | None:
    """What is unsafe about where the dashboard listens, or None: beyond loopback it is
    not served without a password (``password``: one is set), and a password without
    TLS crosses the network in clear text."""
    if not dashboard.enabled or dashboard.loopback:
        return None
    if not password:
        return _("the dashboard listens on {listen} beyond this machine but no password is "
                 "set, so it is not served: run `immich-backupd dashboard --set-password`"
                 ).format(listen=dashboard.listen)
    if not dashboard.tls:
        return _("the dashboard on {listen} is reachable from the network without TLS: "
                 "the password and sessions can be read on the way (set dashboard.tls_cert "
                 "and dashboard.tls_key, or listen on 127.0.0.1 behind an SSH tunnel)"
                 ).format(listen=dashboard.listen)
    return None


def run_controls(settings: Settings, now: datetime) -> dict[str, Any]:
    """The bandwidth cap in force at ``now`` (bytes/s, None: none) and until when, and
    the end of the quiet hours when ``now`` is in them (local times, ISO)."""
    cap, cap_until = settings.backup.bandwidth_table.limit_at(now)
    quiet_until = settings.backup.quiet.quiet_until(now)
    return {"bandwidth": cap,
            "bandwidth_until": cap_until.isoformat(timespec="minutes") if cap_until else None,
            "quiet_until": quiet_until.isoformat(timespec="minutes") if quiet_until else None}


def in_pass(live: dict[str, Any] | None) -> bool:
    """``live`` (``live.json``) is a pass at work: the daemon scanning or backing up, or
    a ``once`` run (whose live file is its pass)."""
    if not live:
        return False
    return (live.get("state") in (DaemonPhase.SCANNING, DaemonPhase.BACKING_UP)
            or not live.get("daemon"))


def counts_in_pass(backed_up: int, total: int,
                   live: dict[str, Any] | None) -> tuple[int, int, bool]:
    """(backed up, total, still counting) to show: the state's counts, or while a pass
    runs the pass's where they are larger. The state records a file only when it is
    done, so during a first backup it alone says "0 of 0" with files in flight; the
    pass knows how many it found so far (``seen``), and "still counting" while its scan
    finds more."""
    if not in_pass(live):
        return backed_up, total, False
    assert live is not None
    return (max(backed_up, int(live.get("backed_up") or 0)),
            max(total, int(live.get("seen") or 0)), bool(live.get("scanning")))


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

    States: waiting, error, uploading, scanning, paused, auth, offline, unsupported, state,
    interrupted, failed, cloud, quota, stopped, pending, sidecars, complete, never. ``auth`` to
    ``interrupted``: backing up stopped short (:func:`last_stop`). ``quota``: the last
    pass stopped at the storage quota.
    ``cloud``: cloud placeholders were left out (their photos are not on this disk;
    :mod:`immich_backupd.media.placeholders`). ``pending``: files known not to
    be on the server (another server or user, ``retry --deleted``) wait for the next
    pass: never "✓" before they are up. ``sidecars``: all is backed up but sidecars
    changed after their upload, which Immich did not get (never "✓" for them).
    """
    live = data["live"] or {}
    state = live.get("state")
    if state == DaemonPhase.WAITING and live.get("held_for_charger"):
        return "waiting", "⏸ " + charger_line(int(live["held_for_charger"]))
    if state == DaemonPhase.WAITING and live.get("waiting_for"):
        return "waiting", "⏸ " + waiting_text(live["waiting_for"])
    if state == DaemonPhase.ERROR and live.get("error"):
        return "error", "✗ " + live["error"]
    busy = in_pass(live)
    if busy and (live.get("uploads") or (live.get("planned") and not live.get("scanning"))):
        return "uploading", _("↑ Uploading… {n} of {total}").format(
            n=count(min(live.get("done", 0) + 1, live.get("planned") or 1)),
            total=count(live.get("planned") or 0)) + ("+" if live.get("scanning") else "")
    if busy:
        return "scanning", _("Scanning… {n} files").format(n=count(live.get("seen", 0)))
    if data.get("paused"):
        return "paused", "⏸ " + paused_line()
    stop = data.get("last_stop")
    if stop:
        return stop["reason"], stop_headline(stop)
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
    settling = (data.get("being_written") or {}).get("count") or 0
    if settling:
        return "waiting", "⏸ " + settling_line(settling)
    if folders_line is not None:
        return folders_line
    cloud = (data.get("cloud_placeholders") or {}).get("count") or 0
    if cloud:
        return "cloud", placeholders.headline(cloud, count(cloud))
    last = data["last_pass"] or {}
    if last.get("outcome") == PassOutcome.QUOTA:
        return "quota", "✗ " + _("The Immich storage quota is full: the rest is backed up "
                                 "when there is room (free space in Immich, or ask the "
                                 "admin for more)")
    if last.get("outcome") in (PassOutcome.STOPPED, PassOutcome.ABORTED):
        return "stopped", _("⏸ Backup stopped before the end; the rest follows on the "
                            "next pass")
    if data.get("pending"):
        return "pending", "· " + ngettext("{n} file waits for the next backup",
                                          "{n} files wait for the next backup",
                                          data["pending"]).format(n=count(data["pending"]))
    late = data.get("sidecars_changed_after_upload") or 0
    if late and data["last_backup_at"]:
        return "sidecars", late_headline(late)
    if data["last_backup_at"]:
        return "complete", _("✓ Backup complete")
    return "never", _("No backup yet")


def cloud_data(cloud: dict[str, str]) -> dict[str, Any]:
    """The ``cloud_placeholders`` of ``status --json``: how many the last passes left
    out, how many of each kind, and each (path, kind), by path."""
    by_kind: dict[str, int] = {}
    for kind in cloud.values():
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return {"count": len(cloud), "by_kind": by_kind,
            "files": [{"path": p, "kind": k} for p, k in cloud.items()]}


def cloud_items(settings: Settings) -> list[dict[str, str]]:
    """The cloud placeholders left out, as (path, kind) items, by path."""
    reader = StateReader(settings.state_dir)
    try:
        cloud = placeholders.loads(reader.meta(placeholders.META_KEY))
    finally:
        reader.close()
    return cloud_data(cloud)["files"]


LATE_SIDECARS_LISTED = 10_000
"""At most this many photos with a late sidecar are listed (all are counted)."""


def late_sidecar_paths(settings: Settings, limit: int = LATE_SIDECARS_LISTED) -> list[str]:
    """The photos whose sidecar was added or changed after their upload (Immich did not
    get it), by path."""
    reader = StateReader(settings.state_dir)
    try:
        return [str(p) for p in reader.late_sidecars(limit)]
    finally:
        reader.close()


def failed_items(settings: Settings) -> list[dict[str, Any]]:
    """The failed uploads as JSON-ready data (the ``failed --json`` document): path,
    status, reason, attempts, next_attempt_at (epoch seconds or None)."""
    reader = StateReader(settings.state_dir)
    try:
        rows = reader.failed()
    finally:
        reader.close()
    return [{
        "path": str(r.path),
        "status": r.status,
        "reason": r.error or r.status,
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
    } for r in rows]
