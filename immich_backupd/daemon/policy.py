"""The daemon's decisions, pure (data and times passed in, nothing done here).

- what a failed or cut-short pass means: wait how long, shown how (``after_error``);
- which folders a partial pass looks at (``targets_for``);
- when files still being written are looked at again (``held_due``);
- which files stay held by the conditions after a pass (``held_after``, ``held_counts``);
- which file events a pass made moot (``events_kept``);
- which kinds of files the conditions let through (``kinds_for``, ``need_for``);
- how many changed files wait for the charger (``charger_count``).

The daemon (``core``) acts on these answers; it decides nothing of this itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import (
    AuthError,
    LockHeldError,
    QuotaExceededError,
    ServerUnavailableError,
    UnsupportedServerError,
)
from ..media.kinds import DEFAULT_MEDIA_TYPES
from ..model import DaemonPhase, PassOutcome

if TYPE_CHECKING:
    from ..conditions.policy import Decision, Kind
    from ..pipeline.runner import ScanTargets

LOCK_RETRY = 30.0  # another run (a manual `once`) holds the lock
SERVER_RETRY_FIRST = 15.0  # server unreachable: first wait, doubling ...
SERVER_RETRY_MAX = 900.0  # ... up to 15 minutes
AUTH_RETRY = 600.0  # key rejected: try again every 10 minutes (or at once on SIGHUP)
QUOTA_RETRY = 3600.0  # quota full: try again hourly (or on SIGUSR1)


@dataclass
class Trigger:
    """Why the next pass runs."""

    full: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Wait:
    """What the daemon does after an error: shows ``state`` ("waiting" or "error") with
    ``waiting_for`` and ``error`` (None: none), logs ``message``
    at ``level``, tries again, as a full pass, ``delay`` seconds later, and waits
    ``server_wait`` the next time the server is away. ``alert`` names the notification
    to send ("auth", "quota"), if any."""

    state: Literal[DaemonPhase.WAITING, DaemonPhase.ERROR]
    delay: float
    message: str
    level: int
    server_wait: float
    waiting_for: str | None = None
    error: str | None = None
    alert: PassOutcome | None = None


def after_error(exc: BaseException, server_wait: float, *, pass_ran: bool) -> Wait | None:
    """The wait after ``exc``: raised before a pass could run (``pass_ran`` False) or
    ended a pass that ran. ``server_wait`` is the current wait for an absent server; it
    doubles up to ``SERVER_RETRY_MAX`` each time the server is away, and is otherwise
    kept (the daemon starts it again at ``SERVER_RETRY_FIRST`` after a pass that ran,
    before asking). An error this does not wait for (a pass that ran and ended on one)
    gives None: the daemon goes idle."""
    if isinstance(exc, LockHeldError) and not pass_ran:
        return Wait(DaemonPhase.WAITING, LOCK_RETRY, f"{exc}; retrying in {LOCK_RETRY:.0f} s",
                    logging.INFO, server_wait,
                    waiting_for="Waiting for another backup run to finish")
    if (isinstance(exc, ServerUnavailableError)
            or (isinstance(exc, UnsupportedServerError) and not pass_ran)):
        return Wait(DaemonPhase.WAITING, server_wait, f"{exc}; trying again in {server_wait:.0f} s",
                    logging.WARNING, min(SERVER_RETRY_MAX, server_wait * 2),
                    waiting_for="Waiting for the server", error=str(exc))
    if pass_ran:
        if isinstance(exc, QuotaExceededError):
            return Wait(DaemonPhase.ERROR, QUOTA_RETRY, str(exc), logging.ERROR, server_wait,
                        error=str(exc))
        if isinstance(exc, AuthError):
            return Wait(DaemonPhase.ERROR, AUTH_RETRY, str(exc), logging.ERROR, server_wait,
                        error=str(exc))
        return None
    alert = (PassOutcome.AUTH if isinstance(exc, AuthError)
             else PassOutcome.QUOTA if isinstance(exc, QuotaExceededError) else None)
    return Wait(DaemonPhase.ERROR, AUTH_RETRY, str(exc), logging.ERROR, server_wait,
                error=str(exc), alert=alert)


def targets_for(batch_paths: Iterable[Path], dirs_to_rescan: Iterable[Path],
                held: Iterable[Path], is_dir: Callable[[Path], bool]
                ) -> tuple[frozenset[Path], frozenset[Path]]:
    """(folders, trees) a partial pass looks at: the folder of each changed or held
    file, and the whole tree of each changed folder (``is_dir`` asks which is which)."""
    folders: set[Path] = set()
    trees: set[Path] = set(dirs_to_rescan)
    for path in set(batch_paths) | set(held):
        if is_dir(path):
            trees.add(path)
        else:
            folders.add(path.parent)
    return frozenset(folders), frozenset(trees)


def held_due(now: float, settles_at: Iterable[float | None], settle_left: float | None,
             trigger_delay: float) -> float:
    """When the files still being written go back to the debouncer (on the clock of
    ``now``): when the first of them may have settled, by its events (``settles_at``,
    None: unknown) or by its mtime (``settle_left``: seconds until the pass's settle_time
    rule lets the first go), less the ``trigger_delay`` the debouncer adds. Until then
    they wait apart, so they never delay other changes; any pass before that takes them
    along (a close event brings one back at once)."""
    due = [t for t in settles_at if t is not None]
    if settle_left is not None:
        due.append(now + settle_left)
    return max(now, min(due, default=now) - trigger_delay)


def held_after(before: dict[Path, str], found: dict[Path, str],
               targets: ScanTargets | None) -> dict[Path, str]:
    """The files held by the conditions after a pass over ``targets`` (None: all) that
    held ``found``: the pass's own, and the earlier ones it did not look at."""
    if targets is None:
        return dict(found)
    return {p: k for p, k in before.items() if not looked_at(p, targets)} | found


def looked_at(path: Path, targets: ScanTargets | None) -> bool:
    """Whether a pass over ``targets`` (None: all) lists the folder of ``path``."""
    if targets is None:
        return True
    return path.parent in targets.folders or any(t == path or t in path.parents
                                                 for t in targets.trees)


def events_kept(held: Iterable[Path], held_by_condition: Mapping[Path, str],
                targets: ScanTargets | None) -> Callable[[Path], bool]:
    """Which file events the daemon keeps after a pass over ``targets`` that ran to its
    end (``SettleTracker.forget_before``): those of the files it holds (still being
    written, or for the conditions), and of files the pass did not look at."""
    kept = set(held) | set(held_by_condition)
    return lambda p: p in kept or not looked_at(p, targets)


def held_counts(held: Mapping[Path, str]) -> dict[str, int]:
    """{"photos": n, "videos": m} of the held files, for status (kinds with none left out)."""
    counts: dict[str, int] = {}
    for kind in held.values():
        key = "videos" if kind == "video" else "photos"
        counts[key] = counts.get(key, 0) + 1
    return counts


def charger_count(on_battery: bool, changed: Iterable[Path]) -> int:
    """How many of the ``changed`` paths (the file events the daemon has not backed up
    yet, and what a walk on battery found: ``waiting.charger_backlog``) are photos or
    videos that wait for the charger: all of them while the daemon waits for power
    (``on_battery``), none otherwise."""
    if not on_battery:
        return 0
    return sum(1 for p in set(changed) if DEFAULT_MEDIA_TYPES.candidate(p.name) is not None)


def kinds_for(decision: Decision) -> frozenset[str] | None:
    """The kinds of files ("image", "video") the conditions let a pass back up; None: all."""
    if decision.photos and decision.videos:
        return None
    return frozenset(k for k, ok in (("image", decision.photos), ("video", decision.videos))
                     if ok)


def pass_reason(full_reason: str | None, targets: ScanTargets | None,
                kinds: frozenset[str] | None) -> str:
    """What the log says a pass is for: the trigger's reason of a full pass, else how
    many folders changed; and the kinds the conditions let through, when not all."""
    if full_reason is not None:
        why = full_reason
    else:
        n = len(targets.folders) + len(targets.trees) if targets else 0
        why = f"{n} folder{'s' if n != 1 else ''} changed"
    return why if kinds is None else f"{why}, only {', '.join(sorted(kinds))}"


def need_for(held: Mapping[Path, str]) -> Kind:
    """What the conditions must allow for the held files to go: "videos", "photos" or,
    with both kinds held, "any"."""
    kinds = set(held.values())
    return "any" if len(kinds) > 1 else ("videos" if "video" in kinds else "photos")
