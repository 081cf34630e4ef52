"""Upload bandwidth: a cap (``5MB/s``), an rclone-style timetable, and a token bucket.

Pure: no I/O, no clock of its own (every decision takes the time it is about). The upload
stream asks :class:`TokenBucket` how long to wait before it may send the next chunk; the
cap in force comes from :meth:`Timetable.limit_at`, asked again at each change time, so
``"08:00,1MB/s 23:00,off"`` switches at 08:00 and 23:00 without a restart.

Grammar (``backup.bandwidth``), after rclone's ``--bwlimit`` (fs/bwtimetable.go):

* a rate alone, in force all the time: ``5MB/s``, ``512KB/s``, ``1.5M``, ``off``;
* or entries separated by spaces or semicolons, each ``HH:MM,RATE`` (every day) or
  ``Ddd-HH:MM,RATE`` (one weekday, ``Mon`` … ``Sun``): ``"08:00,1MB/s 23:00,off"``.
  An entry holds from its time until the next entry's; the last one of the day (of the
  week, when weekdays are given) holds past midnight until the first.

Rates are bytes per second with the binary suffixes rclone uses: ``K``/``KB``/``KiB`` =
1,024 bytes, ``M``/``MB``/``MiB`` = 1,048,576, ``G``/``GB``/``GiB`` = 1,073,741,824;
``B`` or no suffix means bytes; an optional ``/s`` may follow. ``off`` (or ``0``) means no
cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["BandwidthError", "Slot", "Timetable", "TokenBucket", "format_rate",
           "parse_rate", "parse_timetable"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
          "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:/\s*s)?\s*$", re.IGNORECASE)
_WHEN = re.compile(r"^(?:([A-Za-z]{3})-)?(\d{1,2}):(\d{2})$")
_EXAMPLES = 'e.g. 5MB/s, 512KB/s, off, or "08:00,1MB/s 23:00,off"'


class BandwidthError(ValueError):
    """Why a value is not a bandwidth, in English (``str()``), and as data for a
    translation: ``reason`` is ``rate``, ``time``, ``weekday``, ``entry``, ``order`` or
    ``type``; ``shown`` the part of the value at fault."""

    def __init__(self, message: str, reason: str, shown: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.shown = shown


def parse_rate(text: str) -> int | None:
    """Bytes per second for ``text`` (``5MB/s``, ``512k``, ``1.5M``), or None for no cap
    (``off``, ``0``). Raise :class:`BandwidthError` for anything else."""
    if text.strip().lower() in ("off", "none", "unlimited"):
        return None
    m = _RATE.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise BandwidthError(f"expected a rate ({_EXAMPLES}), got {text!r}", "rate", text)
    rate = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    return rate or None


def format_rate(rate: int | None) -> str:
    """``rate`` as the config writes it: ``off``, ``512KB/s``, ``1.5MB/s``."""
    if rate is None:
        return "off"
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if rate >= size:
            return f"{rate / size:.3g}{unit}/s"
    return f"{rate}B/s"


@dataclass(frozen=True)
class Slot:
    """From ``minute`` of the week (or of every day, when ``weekday`` is None) on, the
    cap is ``rate`` bytes per second (None: no cap)."""

    weekday: int | None  # 0 = Monday, as datetime.weekday()
    minute: int  # minutes after midnight
    rate: int | None


@dataclass(frozen=True)
class Timetable:
    """The caps over a week. An empty table means no cap at all."""

    slots: tuple[Slot, ...]

    @property
    def capped(self) -> bool:
        """Whether any cap can apply (an empty or all-``off`` table: never)."""
        return any(s.rate is not None for s in self.slots)

    def _expanded(self) -> list[tuple[int, int | None]]:
        """(minute of the week, rate) for every slot, sorted; daily slots repeat."""
        out: list[tuple[int, int | None]] = []
        for s in self.slots:
            days = range(7) if s.weekday is None else (s.weekday,)
            out.extend((d * 1440 + s.minute, s.rate) for d in days)
        return sorted(out, key=lambda x: x[0])

    def limit_at(self, when: datetime) -> tuple[int | None, datetime | None]:
        """The cap in force at ``when`` (a local time) and when it next changes (None:
        never). A time before the first slot of the week falls under the last one."""
        table = self._expanded()
        if not table:
            return None, None
        now = when.weekday() * 1440 + when.hour * 60 + when.minute
        current = table[-1][1]
        for minute, rate in table:
            if minute <= now:
                current = rate
        later = [m for m, r in table if m > now and r != current]
        if not later:
            # The next change is in next week's table (or never, if all are the same).
            later = [m + 7 * 1440 for m, r in table if r != current]
        if not later:
            return current, None
        start = when.replace(second=0, microsecond=0)
        return current, start + timedelta(minutes=later[0] - now)


def parse_timetable(value: object) -> Timetable:
    """A :class:`Timetable` for the config value ``backup.bandwidth``. Raise
    :class:`BandwidthError` with the entry at fault."""
    if value is None:
        return Timetable(())
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BandwidthError(f"expected a rate ({_EXAMPLES}), got {value!r}", "type",
                             type(value).__name__)
    text = str(value).strip()
    if "," not in text and not _WHEN.match(text):
        return Timetable((Slot(None, 0, parse_rate(text)),))  # one rate ("5 MB/s" too)
    entries = [e for e in re.split(r"[\s;]+", text) if e]
    if not entries:
        raise BandwidthError(f"expected a rate ({_EXAMPLES}), got {text!r}", "rate", text)
    slots: list[Slot] = []
    for entry in entries:
        when, sep, rate = entry.partition(",")
        m = _WHEN.match(when)
        if not sep or not m:
            raise BandwidthError(
                f"expected HH:MM,RATE or Mon-HH:MM,RATE ({_EXAMPLES}), got {entry!r}",
                "entry", entry)
        day, hh, mm = m.group(1), int(m.group(2)), int(m.group(3))
        if hh > 23 or mm > 59:
            raise BandwidthError(f"no such time of day: {when!r}", "time", when)
        if day is not None and day.lower() not in WEEKDAYS:
            raise BandwidthError(f"no such weekday: {day!r} (Mon … Sun)", "weekday", day)
        slots.append(Slot(None if day is None else WEEKDAYS.index(day.lower()),
                          hh * 60 + mm, parse_rate(rate)))
    daily = [s.minute for s in slots if s.weekday is None]
    if len(set(daily)) != len(daily):
        raise BandwidthError(f"a time is given twice in {text!r}", "order", text)
    return Timetable(tuple(slots))


class TokenBucket:
    """A byte budget that refills at ``rate`` bytes per second, up to ``burst`` bytes.

    :meth:`reserve` takes ``n`` bytes (possibly into debt) and returns how many seconds
    the caller must wait before sending them, so that over any stretch no more than
    ``burst + rate × seconds`` bytes go out. All uploads share one bucket: the cap is
    for all of them together. ``set_rate`` changes the rate from ``now`` on (a timetable
    switching); ``None`` lifts the cap (reserve returns 0).
    """

    def __init__(self, rate: int | None, now: float, burst: int | None = None) -> None:
        self._rate = rate
        self._burst = burst
        self._level = float(self._capacity())
        self._at = now

    def _capacity(self) -> int:
        if self._burst is not None:
            return self._burst
        # A quarter of a second of traffic: smooth, yet few wake-ups.
        return max(64 << 10, (self._rate or 0) // 4)

    @property
    def rate(self) -> int | None:
        return self._rate

    def _refill(self, now: float) -> None:
        if self._rate is not None and now > self._at:
            self._level = min(float(self._capacity()),
                              self._level + (now - self._at) * self._rate)
        self._at = max(self._at, now)

    def set_rate(self, rate: int | None, now: float) -> None:
        self._refill(now)
        self._rate = rate
        self._level = min(self._level, float(self._capacity()))
        if rate is None:
            self._level = float(self._capacity())

    def reserve(self, n: int, now: float) -> float:
        """Seconds to wait before sending ``n`` more bytes at ``now``."""
        if self._rate is None:
            return 0.0
        self._refill(now)
        self._level -= n
        return 0.0 if self._level >= 0 else -self._level / self._rate
