"""The daemon's STATUS= line and live.json, published together.

:class:`Publisher` owns what publishing needs across calls: the live.json writer, the
state's figures (read in a thread, :class:`counts.StateCounts`), the upload rate of the
running pass and the once-a-second throttle. What the daemon itself is doing comes from
a :class:`View` it hands over at each publish; the words are ``publish.status_text``'s
and ``publish.live_data``'s (pure).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..report.live import LiveWriter
from ..report.rate import PassRate
from .counts import StateCounts
from .publish import DaemonState, Watching, live_data, status_text
from .sdnotify import SdNotify

PUBLISH_INTERVAL = 1.0  # live.json and STATUS= at most once a second


@dataclass(frozen=True)
class View:
    """What the daemon is doing, taken at the moment it publishes."""

    status: DaemonState
    condition_held: Mapping[Path, str]  # kind by path: held by the conditions
    settling: int  # files held because they are still being written
    charger: int  # photos and videos waiting for the charger
    watching: Watching
    paused: bool
    queued: int  # file events not yet taken by a pass


class Publisher:
    """STATUS= and live.json of one daemon: at most once per ``interval`` unless forced."""

    def __init__(self, sd: SdNotify, state_dir: Path, view: Callable[[], View],
                 interval: float = PUBLISH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sd = sd
        self.view = view
        self.interval = interval
        self.clock = clock
        self.state_dir = state_dir
        self.live = LiveWriter(state_dir)
        self.counts = StateCounts(interval, clock)
        self.rate = PassRate()  # of the pass in ``status.progress``
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._quiet = False  # stopping: no more timed publishes

    def move(self, state_dir: Path) -> None:
        """A reload changed ``state_dir``: write and read there from now on."""
        if state_dir != self.state_dir:
            self.state_dir = state_dir
            self.live = LiveWriter(state_dir)

    async def fresh(self) -> None:
        """Read the state's figures now (a pass has just ended, the daemon starts)."""
        await self.counts.refresh(self.state_dir)

    def soon(self) -> None:
        """Publish within ``interval``, once for a burst of calls (file events while no
        pass runs to publish the count of files waiting)."""
        self._later(self.interval)

    def _later(self, delay: float) -> None:
        """A timed publish in ``delay`` seconds unless one is due already (on the
        event loop; from another thread nothing is scheduled)."""
        if self._timer is not None or self._quiet:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(max(0.0, delay), self._timed)

    def quiet(self) -> None:
        """The daemon stops: no timed publish any more (forced ones still go out)."""
        self._quiet = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed(self) -> None:
        self._timer = None
        self.publish(force=True)

    def text(self) -> str:
        return self._text(self.view())

    def publish(self, force: bool = False) -> None:
        """Publish now, or (throttled) once the interval since the last one is over: a
        change that came too soon after the last publish is never dropped. The pass
        that started uploading right after one was published stayed 'idle, 8 files
        still being written' in status until its first file finished, as nothing
        called again before that."""
        now = self.clock()
        if not force and now - self._last < self.interval:
            self._later(self._last + self.interval - now)
            return
        self._last = now
        if self.counts.due():  # publish again with the new figures once read
            self.counts.start(self.state_dir, lambda: self.publish(force=True))
        v = self.view()
        text = self._text(v)
        self.sd.status(text)
        self.live.write(live_data(
            v.status, text, queued=v.queued, held=v.settling, paused=v.paused,
            condition_held=v.condition_held, charger=v.charger, watching=v.watching,
            rate=self.rate))

    def _text(self, v: View) -> str:
        return status_text(v.status, self.counts.value, condition_held=v.condition_held,
                           settling=v.settling, charger=v.charger, watching=v.watching,
                           rate=self.rate, paused=v.paused)
