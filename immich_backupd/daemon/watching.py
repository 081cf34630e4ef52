"""The daemon's file watcher: started on the include folders with callbacks that hand
its events to the event loop, and proven to deliver events (else it polls)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..scan.rules import AlbumRules
from ..watch import FolderWatcher
from ..watch.backend import BackendFactory
from .publish import NOT_WATCHING, Watching

log = logging.getLogger("immich_backupd.daemon")

POLL_INTERVAL = 5.0  # seconds between polls where native file watching fails
PROBE_DIR = "watch-probe"  # in state_dir: where the watcher proves that events arrive


async def start_watcher(settings: Settings, loop: asyncio.AbstractEventLoop, *,
                        on_change: Callable[[Path, str], None],
                        on_overflow: Callable[[], None],
                        on_rescan: Callable[[Path], None],
                        backend: BackendFactory | None) -> FolderWatcher:
    """A running watcher of ``settings``' include folders whose events reach the three
    callbacks on ``loop`` (called there, never on the watcher's threads), probed."""

    def change(path: Path, kind: str) -> None:
        loop.call_soon_threadsafe(on_change, path, kind)

    def overflow() -> None:
        loop.call_soon_threadsafe(on_overflow)

    def rescan(root: Path) -> None:
        loop.call_soon_threadsafe(on_rescan, root)

    watcher = FolderWatcher(AlbumRules.from_settings(settings.albums), change,
                            on_overflow=overflow, on_rescan=rescan,
                            poll_interval=POLL_INTERVAL, observer_factory=backend)
    await asyncio.to_thread(watcher.start)
    await probe(watcher, settings.state_dir)
    return watcher


async def reconfigure(watcher: FolderWatcher, settings: Settings) -> None:
    """Watch the include folders of ``settings`` instead, and probe again."""
    await asyncio.to_thread(watcher.reconfigure, AlbumRules.from_settings(settings.albums))
    await probe(watcher, settings.state_dir)


async def probe(watcher: FolderWatcher, state_dir: Path) -> None:
    """Prove that events arrive (see :meth:`FolderWatcher.probe`): without them the
    watcher polls, and its ``blind`` says so. Logs what is watched, and how."""
    await asyncio.to_thread(watcher.probe, state_dir / PROBE_DIR)
    modes = watcher.watched_roots()
    log.info("watching %d folder%s (%s)", len(modes), "s" if len(modes) != 1 else "",
             ", ".join(f"{p}: {m}" for p, m in modes.items()))


def watching_of(watcher: FolderWatcher | None) -> Watching:
    """What the watcher watches and whether it polls, for the status line and live.json."""
    if watcher is None:
        return NOT_WATCHING
    return Watching(watcher.watched_roots(), watcher.blind, watcher.poll_interval)
