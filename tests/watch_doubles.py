"""Watching backends that misbehave on purpose, for the watcher and daemon tests."""

from __future__ import annotations

import errno

from immich_backupd.watch.backend import WatchHooks


class BlindBackend:
    """Accepts every watch and never reports an event: a broken watcher (as the old
    observer was with watchdog 7.1.1)."""

    def __init__(self, hooks: WatchHooks) -> None:
        self.scheduled: list[str] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def schedule(self, root: str) -> object:
        self.scheduled.append(root)
        return root

    def unschedule(self, handle: object) -> None:
        self.scheduled.remove(str(handle))


class NoWatchesBackend(BlindBackend):
    """Fails to schedule like inotify at ``fs.inotify.max_user_watches``."""

    def schedule(self, root: str) -> object:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")
