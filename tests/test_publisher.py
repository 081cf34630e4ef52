"""The daemon's publisher: a change that comes within the throttle's interval of the
last publish goes out when the interval is over, not only with the next call."""

from __future__ import annotations

import asyncio
from pathlib import Path

from immich_backupd.daemon.publish import DaemonState, Watching
from immich_backupd.daemon.publisher import Publisher, View
from immich_backupd.daemon.sdnotify import SdNotify
from immich_backupd.model import DaemonPhase
from immich_backupd.report.live import read_live


async def test_a_throttled_change_is_published_when_the_interval_is_over(tmp_path: Path):
    state = DaemonState(state=DaemonPhase.IDLE)
    settling = [8]

    def view() -> View:
        return View(state, {}, settling[0], 0, Watching({}, False, None), False, 0)

    pub = Publisher(SdNotify({}), tmp_path, view, interval=0.5)
    await pub.fresh()  # the state's figures just read: no read (and its publish) due
    pub.publish(force=True)
    assert read_live(tmp_path)["state"] == DaemonPhase.IDLE
    # A pass starts right after: it takes the files that were being written.
    state.state, settling[0] = DaemonPhase.SCANNING, 0
    pub.publish()  # within the interval: not now...
    assert read_live(tmp_path)["state"] == DaemonPhase.IDLE
    await asyncio.sleep(0.9)  # ...but once it is over, with no other call
    live = read_live(tmp_path)
    assert live["state"] == DaemonPhase.SCANNING and not live.get("held")
    pub.quiet()
