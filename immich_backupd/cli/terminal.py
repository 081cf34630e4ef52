"""The live progress of ``once`` on a terminal: one line, redrawn, throttled.

``TerminalProgress`` is a ``Reporter``: it draws ``↑ 12 of 50 · 45 MB of 120 MB ·
2.4 MB/s · 0:31 left · IMG_1234.jpg 45%`` on stderr with a carriage return, at most every
``interval`` seconds, cut to the terminal's width. Anything else written to stderr (log
warnings, messages) goes through ``LineAwareStream``, which clears the line first and
redraws it after, so lines never mix. ``PlainProgress`` is the same for a pipe or a log
file: a plain line every ``interval`` (30 s), nothing redrawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import PurePath
from typing import TextIO

from ..i18n import _
from ..model import PassOutcome
from ..report.progress import Progress, Reporter
from ..report.rate import RateWindow, transfer, transfer_parts
from ..report.statusline import waiting_text
from ..report.text import count
from .common import term_width


def progress_line(p: Progress, rate: float | None) -> tuple[str, str]:
    """The line for ``p``, as (fixed part, current file): the caller cuts the file part."""
    if p.waiting_for:
        return "⏸ " + waiting_text(p.waiting_for), ""
    if not p.planned:
        return _("Scanning… {n} files found").format(n=count(p.seen)), ""
    more = "+" if p.scanning else ""
    parts = [_("↑ {n} of {total}").format(n=count(min(p.done + 1, p.planned)),
                                          total=count(p.planned)) + more]
    figures = transfer(p, rate)
    parts += transfer_parts(sent=p.bytes_sent, planned=p.bytes_planned,
                            rate=figures["rate"], seconds_left=figures["seconds_left"],
                            more_to_come=p.scanning)
    current = next(iter(p.uploads.values()), None)
    file_part = ""
    if current is not None:
        file_part = f"{PurePath(current.path).name} {current.percent:.0f}%"
        if len(p.uploads) > 1:
            file_part += f" (+{len(p.uploads) - 1})"
    return " · ".join(parts), file_part


def fit(fixed: str, file_part: str, width: int) -> str:
    if not file_part:
        return fixed[: width - 1]
    room = width - 1 - len(fixed) - 3
    if room < 8:
        return fixed[: width - 1]
    if len(file_part) > room:
        file_part = "…" + file_part[-(room - 1):]
    return f"{fixed} · {file_part}"


class TerminalProgress(Reporter):
    """One redrawn line on a terminal (see the module docstring)."""

    def __init__(self, stream: TextIO, *, interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic,
                 width: Callable[[], int] = term_width) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.width = width
        self.line = ""  # what is drawn now ("" when nothing is)
        self._last = -1e9
        self._rate = RateWindow()
        self._latest: Progress | None = None

    def progress(self, progress: Progress) -> None:
        now = self.clock()
        self._rate.add(now, progress.bytes_sent)
        self._latest = progress
        if now - self._last < self.interval:
            return
        self._last = now
        self.draw()

    def draw(self) -> None:
        if self._latest is None:
            return
        fixed, file_part = progress_line(self._latest, self._rate.value())
        self.line = fit(fixed, file_part, self.width())
        self.stream.write("\r" + self.line + "\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.line:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.line = ""

    def pass_done(self, progress: Progress, outcome: PassOutcome) -> None:
        self.clear()
        self._latest = None


class PlainProgress(Reporter):
    """A progress line every ``interval`` seconds, for a pipe or a log file."""

    def __init__(self, stream: TextIO, *, interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._last = clock()
        self._rate = RateWindow(window=60.0)

    def progress(self, progress: Progress) -> None:
        now = self.clock()
        self._rate.add(now, progress.bytes_sent)
        if now - self._last < self.interval or not progress.planned:
            return
        self._last = now
        fixed, file_part = progress_line(progress, self._rate.value())
        print(f"{fixed} · {file_part}" if file_part else fixed, file=self.stream, flush=True)


class LineAwareStream:
    """Wraps stderr so that other writes clear the live line first and redraw it after."""

    def __init__(self, stream: TextIO, live: TerminalProgress) -> None:
        self._stream = stream
        self._live = live

    def write(self, text: str) -> int:
        drawn = bool(self._live.line)
        self._live.clear()
        n = self._stream.write(text)
        if drawn and text.endswith("\n"):
            self._live.draw()
        return n

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
