"""Quiet hours: times of day when nothing is uploaded (``backup.quiet_hours``).

Pure: no I/O and no clock; :func:`quiet_until` takes the local time it is about.

Grammar: one or more ranges ``HH:MM-HH:MM`` separated by commas or spaces
(``"08:00-18:00"``, ``"08:00-12:00, 13:00-17:00"``). A range whose end is not after its
start runs over midnight (``"22:00-06:00"``). The start is inside the range, the end is
not: with ``08:00-18:00`` uploads stop at 08:00 and may go on from 18:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["QuietHours", "QuietHoursError", "parse_quiet_hours"]

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_EXAMPLES = 'e.g. "08:00-18:00" or "22:00-06:00, 12:00-13:00"'


class QuietHoursError(ValueError):
    """Why a value is not a list of quiet hours, in English (``str()``); ``reason``
    (``type``, ``range``, ``time``, ``empty``) and ``shown`` (the part at fault) for a
    translation."""

    def __init__(self, message: str, reason: str, shown: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.shown = shown


@dataclass(frozen=True)
class QuietHours:
    """Ranges of minutes after midnight, ``(start, end)``; ``end <= start`` runs over
    midnight. No ranges: never quiet."""

    ranges: tuple[tuple[int, int], ...]

    def covering(self, minute: int) -> tuple[int, int] | None:
        """The range that ``minute`` (after midnight) falls in, or None."""
        for start, end in self.ranges:
            if start < end and start <= minute < end:
                return start, end
            if end <= start and (minute >= start or minute < end):
                return start, end
        return None

    def quiet_until(self, when: datetime) -> datetime | None:
        """The local time the quiet hours in force at ``when`` end, or None when
        uploads are allowed at ``when``. Ranges that touch or overlap are one stretch:
        the answer is when uploads may really go on."""
        if not self.ranges:
            return None
        at = when.replace(second=0, microsecond=0)
        minute = at.hour * 60 + at.minute
        if self.covering(minute) is None:
            return None
        # Walk from range end to range end until a minute outside every range; at most
        # one full day (a table that covers the whole day is refused at parse time).
        for _ in range(len(self.ranges) + 1):
            _, end = self.covering(minute)  # type: ignore[misc]
            step = (end - minute) % 1440 or 1440
            at += timedelta(minutes=step)
            minute = end
            if self.covering(minute) is None:
                return at
        raise AssertionError("quiet hours cover the whole day")  # parse_quiet_hours refuses

    def next_start(self, when: datetime) -> datetime | None:
        """When the next quiet stretch begins after ``when`` (None: no ranges), so the
        daemon knows to stop starting uploads then."""
        if not self.ranges:
            return None
        at = when.replace(second=0, microsecond=0)
        minute = at.hour * 60 + at.minute
        waits = [(start - minute) % 1440 or 1440 for start, _ in self.ranges]
        return at + timedelta(minutes=min(waits))


def parse_quiet_hours(value: object) -> QuietHours:
    """:class:`QuietHours` for the config value; None or "" means none. Raise
    :class:`QuietHoursError` naming the range at fault."""
    if value is None:
        return QuietHours(())
    if not isinstance(value, str):
        raise QuietHoursError(f"expected time ranges ({_EXAMPLES}), got {value!r}", "type",
                              type(value).__name__)
    ranges: list[tuple[int, int]] = []
    for part in (p for p in re.split(r"[\s,;]+", value.strip()) if p):
        m = _RANGE.match(part)
        if not m:
            raise QuietHoursError(f"expected HH:MM-HH:MM ({_EXAMPLES}), got {part!r}",
                                  "range", part)
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise QuietHoursError(f"no such time of day in {part!r}", "time", part)
        start, end = h1 * 60 + m1, (h2 * 60 + m2) % 1440
        if start == end:
            raise QuietHoursError(
                f"{part!r} would stop uploads all day; remove it or shorten it", "range", part)
        ranges.append((start, end))
    table = QuietHours(tuple(ranges))
    if ranges and all(table.covering(m) is not None for m in range(1440)):
        raise QuietHoursError(f"{value!r} leaves no time of day for uploads", "range", value)
    return table
