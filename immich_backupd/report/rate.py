"""How fast a pass sends, and how long it has left: plain functions, time passed in.

The terminal line of ``once``, ``live.json`` (for ``immich-backupd status``) and the
daemon's STATUS= line all take their rate and time left from here, so they agree.
"""

from __future__ import annotations

from collections import deque

from ..i18n import _
from .progress import Progress
from .text import human_bytes, human_duration, human_rate

WINDOW = 10.0  # seconds of samples a rate is taken over
MIN_SPAN = 1.0  # a rate needs samples at least this far apart
MIN_GAP = 0.25  # samples closer than this replace the last one (bounded memory)


class RateWindow:
    """Bytes per second over the last ``window`` seconds, from samples (time, bytes
    sent so far). A total lower than the last one starts the window over."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> None:
        if self.samples and total < self.samples[-1][1]:
            self.samples.clear()
        if len(self.samples) >= 2 and now - self.samples[-2][0] < MIN_GAP:
            self.samples[-1] = (now, total)
        else:
            self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()

    def value(self) -> float | None:
        """The rate, or None before there are samples ``MIN_SPAN`` apart."""
        if len(self.samples) < 2:
            return None
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 - t0 >= MIN_SPAN else None


class PassRate:
    """The rate of the pass being watched: starts over with each new ``Progress``
    (a daemon runs one pass after another; an hour-old sample says nothing)."""

    def __init__(self, window: float = WINDOW) -> None:
        self._window_seconds = window
        self._progress: Progress | None = None
        self._window = RateWindow(window)

    def update(self, progress: Progress, now: float) -> float | None:
        """Add a sample of ``progress`` at ``now``; the rate."""
        if progress is not self._progress:
            self._progress = progress
            self._window = RateWindow(self._window_seconds)
        self._window.add(now, progress.bytes_sent)
        return self._window.value()

    def rate_of(self, progress: Progress | None) -> float | None:
        """The last rate of ``progress`` (None for a pass not watched)."""
        if progress is None or progress is not self._progress:
            return None
        return self._window.value()


def time_left(bytes_left: int, rate: float | None) -> float | None:
    """Seconds until ``bytes_left`` are sent at ``rate``; None when nothing moves or
    nothing is left."""
    if not rate or rate <= 0 or bytes_left <= 0:
        return None
    return bytes_left / rate


def transfer(progress: Progress, rate: float | None) -> dict[str, object]:
    """What ``live.json`` adds to the progress: ``rate`` (bytes/s or None),
    ``seconds_left`` (or None) and ``more_to_come`` (the scan still finds files, so the
    time left is a lower bound)."""
    left = time_left(progress.bytes_left, rate)
    return {"rate": None if rate is None else round(rate, 1),
            "seconds_left": None if left is None else round(left, 1),
            "more_to_come": progress.scanning}


def progress_json(progress: Progress, rate: PassRate) -> dict[str, object]:
    """A pass's progress as published in live.json: its counts, and the rate and time
    left (``transfer``) as ``rate`` measures them."""
    return progress.to_json() | transfer(progress, rate.rate_of(progress))


def transfer_parts(*, sent: int, planned: int, rate: float | None,
                   seconds_left: float | None, more_to_come: bool) -> list[str]:
    """``["45 MB of 120 MB", "2.4 MB/s", "0:31 left"]``: the pieces every screen shows
    (what is unknown is left out; "at least 0:31 left" while the scan still runs)."""
    parts: list[str] = []
    if planned:
        parts.append(_("{sent} of {total}").format(sent=human_bytes(sent),
                                                   total=human_bytes(planned)))
    if rate:
        parts.append(human_rate(rate))
    if seconds_left is not None:
        text = human_duration(seconds_left)
        parts.append(_("at least {time} left").format(time=text) if more_to_come
                     else _("{time} left").format(time=text))
    return parts
