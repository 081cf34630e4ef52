"""What the daemon shows of itself: its state, the service manager's STATUS= line and
the contents of live.json, built from plain data (the daemon writes them out, through
``report.live.LiveWriter`` and ``sdnotify``). It decides nothing but wording and
layout; the state's figures it shows are read by ``counts.read_counts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import DaemonPhase, PassOutcome
from ..report.progress import Progress, Reporter
from ..report.rate import PassRate, progress_json
from ..report.statusline import charger_line, idle_problem, status_line, watch_problem
from ..scan import folder_problems
from .policy import held_counts


@dataclass
class DaemonState:
    """What ``status`` shows of the daemon, published in live.json."""

    state: DaemonPhase = DaemonPhase.STARTING
    waiting_for: str | None = None
    error: str | None = None
    progress: Progress | None = None


class ProgressFeed(Reporter):
    """A pass's progress handed to ``on_progress(progress, force)``: throttled there,
    forced at the end of the pass."""

    def __init__(self, on_progress: Callable[[Progress, bool], None]) -> None:
        self.on_progress = on_progress

    def progress(self, progress: Progress) -> None:
        self.on_progress(progress, False)

    def pass_done(self, progress: Progress, outcome: PassOutcome) -> None:
        self.on_progress(progress, True)


@dataclass(frozen=True)
class Watching:
    """What the daemon's file watcher says of itself: the mode of each root, whether
    events do not arrive (``blind``: it polls) and how often it polls."""

    roots: Mapping[Path, object]
    blind: bool
    poll_interval: float | None


NOT_WATCHING = Watching({}, False, None)


def status_text(s: DaemonState, counts: dict[str, Any], *, condition_held: Mapping[Path, str],
                settling: int, watching: Watching, rate: PassRate,
                paused: bool = False, charger: int = 0) -> str:
    """The STATUS= line: never "Backup complete" while something is not backed up
    (``idle_problem``), how many changed files wait for the charger (``charger``) while
    the daemon waits for power, and the watcher's problem after it when it polls."""
    counts = dict(counts)
    folders = folder_problems.headline(counts.pop("problems", []), symbol=False)
    problem = idle_problem(folders=folders[1] if folders else None,
                           held=held_counts(condition_held),
                           settling=settling, cloud=counts.pop("cloud", 0), paused=paused)
    if s.state is DaemonPhase.IDLE and problem is not None:
        line = problem
    elif s.state is DaemonPhase.WAITING and charger:
        line = charger_line(charger)
    else:
        line = status_line(state=s.state, progress=s.progress, waiting_for=s.waiting_for,
                           error=s.error, rate=rate.rate_of(s.progress), **counts)
    if watching.blind and watching.poll_interval is not None:
        line += " · " + watch_problem(watching.poll_interval)
    return line


def live_data(s: DaemonState, text: str, *, queued: int, held: int, paused: bool,
              condition_held: Mapping[Path, str], watching: Watching,
              rate: PassRate, charger: int = 0) -> dict[str, Any]:
    """live.json's contents (without ``pid`` and ``updated_at``, which the writer adds):
    the daemon's state and, while a pass scans or uploads, its progress."""
    data: dict[str, Any] = {
        "daemon": True,
        "state": s.state,
        "status_line": text,
        "waiting_for": s.waiting_for,
        "error": s.error,
        "queued": queued,
        "held": held,
        "paused": paused,
        "held_by_condition": held_counts(condition_held),
        "held_for_charger": charger,
        "watching": {str(k): str(v) for k, v in watching.roots.items()},
        "watch_blind": watching.blind,
        "poll_interval": watching.poll_interval,
    }
    if s.progress is not None and s.state in (DaemonPhase.SCANNING, DaemonPhase.BACKING_UP):
        data |= progress_json(s.progress, rate)
        data["state"] = s.state
    return data
