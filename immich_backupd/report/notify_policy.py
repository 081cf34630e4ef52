"""What the desktop is told, and when: plain decisions over a pass's events, time passed in.

The rules (docs/notifications.md tells them to the user):

- **Progress**: one notification (the ``STATUS`` slot), updated in place, only for a pass
  that has been uploading for ``SHOW_AFTER`` seconds: a routine new photo shows nothing.
  It is updated at most every ``UPDATE_EVERY`` seconds, and at once when it pauses or
  resumes.
- **The end of a pass**: a pass that showed progress replaces it with how it ended; the
  first backup of a state folder ends with a summary, however short it was (once); any
  other pass ends quietly.
- **Failures**: each failed file is told once, at the end of the pass that found it, in
  one notification (the ``FAILURES`` slot) for all of that pass's new ones, with the
  state's count of files not backed up. A file already told is not told again - not by
  the next pass, not after a restart (``Memory`` is kept in the state folder) - unless it
  was backed up in between.
- **Alerts** (a full quota, a rejected key): once, until a pass completes again; also
  across restarts.

Nothing here does I/O: ``NotifyingReporter`` (``notify.py``) feeds the events in and sends
what comes out; the daemon loads and saves ``Memory``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import PurePath
from typing import Any, Literal, NamedTuple

from ..i18n import _, ngettext
from ..model import REACHED_END, FileStatus, PassOutcome
from .progress import Progress
from .statusline import waiting_text
from .text import count

__all__ = [
    "ALERT_OUTCOMES",
    "FAILED_OUTCOMES",
    "SHOW_AFTER",
    "UPDATE_EVERY",
    "Memory",
    "Message",
    "NotificationText",
    "PassNotes",
    "Slot",
    "Totals",
    "final_text",
    "pass_end",
    "progress_at",
    "progress_due",
    "progress_text",
]

Urgency = Literal["low", "normal", "critical"]

SHOW_AFTER = 10.0  # seconds of uploading before a pass's progress is worth showing
UPDATE_EVERY = 5.0  # seconds between updates of the progress (in place: no new pop-up)

FAILED_OUTCOMES = frozenset({FileStatus.FAILED, FileStatus.UNSUPPORTED})
# Alerts the user must act on; told once until a pass completes again.
ALERT_OUTCOMES = frozenset({PassOutcome.QUOTA, PassOutcome.AUTH})
NAMED = 3  # new failures named in the failure notification; the rest are counted


class Slot(StrEnum):
    """A notification that is updated in place: each message of a slot replaces the last."""

    STATUS = "status"  # the progress of a pass and how it ended; alerts
    FAILURES = "failures"  # the files that failed, told at the end of a pass


class NotificationText(NamedTuple):
    title: str
    body: str
    urgency: Urgency


class Message(NamedTuple):
    slot: Slot
    text: NotificationText


class Totals(NamedTuple):
    """The state's counts after a pass: what ``status`` shows (all folders, not only the
    ones this pass looked at)."""

    backed_up: int
    total: int
    failed: int


@dataclass(frozen=True, slots=True)
class Memory:
    """What was told, kept across restarts: the files whose failure was told, the alert
    showing (``quota``, ``auth``), and whether the first backup's summary was given."""

    failed: frozenset[str] = frozenset()
    alert: PassOutcome | None = None
    first_backup_done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "failed": sorted(self.failed), "alert": self.alert,
                "first_backup_done": self.first_backup_done}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Memory:
        """The memory ``to_json`` wrote; wrong or missing fields read as their defaults."""
        failed = data.get("failed")
        alert = data.get("alert")
        return cls(
            failed=frozenset(p for p in failed if isinstance(p, str))
            if isinstance(failed, list) else frozenset(),
            alert=PassOutcome(alert) if alert in ALERT_OUTCOMES else None,
            first_backup_done=data.get("first_backup_done") is True,
        )


@dataclass(slots=True)
class PassNotes:
    """What the reporter saw of the running pass (one per pass)."""

    uploading_since: float | None = None  # when the first upload was seen
    shown_at: float | None = None  # when the progress was last shown (None: never)
    shown_waiting: str | None = None  # the pause the shown progress said, if any
    shown_text: NotificationText | None = None  # what it said
    failures: dict[str, str] = field(default_factory=dict)  # path -> reason, in order
    recovered: set[str] = field(default_factory=set)  # told failures backed up now

    @property
    def shown(self) -> bool:
        return self.shown_at is not None


# --------------------------------------------------------------------------- progress


def progress_text(progress: Progress) -> NotificationText | None:
    """The status notification while a pass runs, or None when there is nothing to show.

    Waiting (for the server, gone during the pass) wins over uploading; scanning and
    hashing alone are not worth a notification. The conditions (power, Wi-Fi, quiet
    hours) are waited for between passes, so never shown here.
    """
    if progress.waiting_for:
        return NotificationText(_("Backup paused"), waiting_text(progress.waiting_for), "low")
    if not progress.uploads:
        return None
    planned = max(progress.planned, 1)
    more = "+" if progress.scanning else ""  # the scan is still finding files
    title = _("Uploading {n} of {total}").format(
        n=count(min(progress.done + 1, planned)), total=count(planned)) + more
    first = next(iter(progress.uploads.values()))
    body = f"{PurePath(first.path).name} {first.percent:.0f}%"
    if len(progress.uploads) > 1:
        body += " " + _("(+{n} more)").format(n=count(len(progress.uploads) - 1))
    return NotificationText(title, body, "low")


def progress_at(progress: Progress, notes: PassNotes, *, show_after: float = SHOW_AFTER,
                interval: float = UPDATE_EVERY) -> float | None:
    """When the progress notification is to be shown (or updated) next if ``progress``
    stays as it is: a time (perhaps past: due now), or None (nothing to show).

    Not before the pass has uploaded for ``show_after`` seconds (``notes.uploading_since``);
    a pause is shown only on a progress already showing. Then every ``interval`` seconds,
    and at once when it pauses or resumes.
    """
    if not (progress.waiting_for or progress.uploads):  # progress_text has nothing
        return None
    if notes.shown_at is None:
        if progress.waiting_for or notes.uploading_since is None:
            return None
        return notes.uploading_since + show_after
    if progress.waiting_for != notes.shown_waiting:
        return notes.shown_at
    return notes.shown_at + interval


def progress_due(progress: Progress, notes: PassNotes, now: float, *,
                 show_after: float = SHOW_AFTER, interval: float = UPDATE_EVERY) -> bool:
    """Whether the progress notification is to be shown (or updated) at ``now``."""
    at = progress_at(progress, notes, show_after=show_after, interval=interval)
    return at is not None and at <= now


# --------------------------------------------------------------------------- the end


def _tally(progress: Progress, totals: Totals | None) -> str:
    backed_up, total = ((totals.backed_up, totals.total) if totals is not None
                        else (progress.backed_up, progress.seen))
    return _("{n} of {total} backed up").format(n=count(backed_up), total=count(total))


def _failed_count(progress: Progress, totals: Totals | None) -> int:
    return totals.failed if totals is not None else progress.failed


def alert_text(outcome: PassOutcome) -> NotificationText | None:
    """The alert for a full quota or a rejected key; None for other outcomes."""
    if outcome == PassOutcome.QUOTA:
        return NotificationText(
            _("Immich storage quota exceeded"),
            _("Backup stopped. Free space in Immich, or ask the admin for a larger quota."),
            "critical",
        )
    if outcome == PassOutcome.AUTH:
        return NotificationText(
            _("Immich backup stopped"),
            _("The server rejected the API key or it lacks a permission. "
              "Run: immich-backupd check"),
            "critical",
        )
    return None


def final_text(progress: Progress, outcome: PassOutcome, *, totals: Totals | None = None,
               new_failures: int = 0, first: bool = False) -> NotificationText | None:
    """How a pass that showed its progress (or the first backup) ended, or None.

    The counts are the state's (``totals``) when given: a pass may have looked at a few
    folders only. ``new_failures`` (files not told before) make it a banner.
    """
    alert = alert_text(outcome)
    if alert is not None:
        return alert
    tally = _tally(progress, totals)
    failed = _failed_count(progress, totals)
    if outcome in REACHED_END:
        if failed:
            title = (_("First backup finished with failures") if first
                     else _("Backup finished with failures"))
            body = _("{tally} · {failed}. See: immich-backupd failed").format(
                tally=tally, failed=_("{n} failed").format(n=count(failed)))
            return NotificationText(title, body, "normal" if first or new_failures else "low")
        if outcome == PassOutcome.PARTIAL:  # e.g. a folder could not be read
            title = _("First backup incomplete") if first else _("Backup incomplete")
            return NotificationText(title, _("{tally}. See: immich-backupd status").format(
                tally=tally), "normal")
        if first:
            return NotificationText(_("First backup complete"), tally, "normal")
        return NotificationText(_("Backup complete · {tally}").format(tally=tally), "", "low")
    if outcome in (PassOutcome.STOPPED, PassOutcome.OFFLINE):
        return NotificationText(_("Backup stopped"),
                                _("{tally}; the rest follows later").format(tally=tally), "low")
    return None


def failures_text(new: Mapping[str, str], totals: Totals | None) -> NotificationText:
    """The notification for the files that failed for the first time (``new``: path ->
    reason, at least one), with the count of all files not backed up."""
    names = [PurePath(p).name for p in new]
    if len(new) == 1:
        title = _("Upload failed: {name}").format(name=names[0])
        body = next(iter(new.values()))
    else:
        title = ngettext("{n} upload failed", "{n} uploads failed", len(new)).format(
            n=count(len(new)))
        body = ", ".join(names[:NAMED])
        if len(names) > NAMED:
            body += " " + _("(+{n} more)").format(n=count(len(names) - NAMED))
    failing = totals.failed if totals is not None else 0
    lines = [body] if body else []
    if failing > 1:
        lines.append(ngettext("{n} file is not backed up", "{n} files are not backed up",
                              failing).format(n=count(failing)))
    lines.append(_("See: immich-backupd failed"))
    return NotificationText(title, "\n".join(lines), "normal")


def pass_end(progress: Progress, outcome: PassOutcome, notes: PassNotes, memory: Memory,
             totals: Totals | None) -> tuple[list[Message], Memory]:
    """The messages a pass ends with, and the memory after it.

    ``notes`` are what the reporter saw of the pass, ``memory`` what was told before,
    ``totals`` the state's counts after the pass (None when they cannot be read).
    """
    still = memory.failed - notes.recovered
    new = {p: r for p, r in notes.failures.items() if p not in still}
    messages: list[Message] = []
    if outcome in ALERT_OUTCOMES:
        text = alert_text(outcome)
        assert text is not None
        if memory.alert != outcome or notes.shown:  # shown: replace the stale progress
            messages.append(Message(Slot.STATUS, text))
        return messages, replace(memory, failed=frozenset(still), alert=outcome)
    ended = outcome in REACHED_END
    first = ended and not memory.first_backup_done and (
        totals.total if totals is not None else progress.seen) > 0
    summary = (final_text(progress, outcome, totals=totals, new_failures=len(new), first=first)
               if first or notes.shown else None)
    if summary is not None:
        messages.append(Message(Slot.STATUS, summary))
    if new and not (summary is not None and ended):  # the summary told them
        messages.append(Message(Slot.FAILURES, failures_text(new, totals)))
    return messages, Memory(
        failed=frozenset(still | new.keys()),
        alert=None if ended else memory.alert,
        first_backup_done=memory.first_backup_done or first,
    )


def alert(outcome: PassOutcome, memory: Memory) -> tuple[list[Message], Memory]:
    """A full quota or a rejected key found before a pass could start: told once."""
    text = alert_text(outcome)
    if text is None or memory.alert == outcome:
        return [], memory
    return [Message(Slot.STATUS, text)], replace(memory, alert=outcome)


def forget_missing(memory: Memory, failing: Iterable[str]) -> Memory:
    """The memory without the told failures that are no longer failing (``failing``:
    the paths the state has as failed): backed up, deleted or forgotten meanwhile."""
    keep = memory.failed & frozenset(failing)
    return memory if keep == memory.failed else replace(memory, failed=keep)
