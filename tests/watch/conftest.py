"""Helpers for the watcher tests: a thread-safe event recorder with bounded waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from immich_backupd.scan.rules import AlbumRules
from immich_backupd.watch.observer import FolderWatcher

WAIT = 5.0  # seconds; every wait polls and returns as soon as the event is there


class Recorder:
    """The ``on_change`` callback: records (path, kind) from watchdog's threads."""

    def __init__(self) -> None:
        self.events: list[tuple[Path, str]] = []
        self._cond = threading.Condition()

    def __call__(self, path: Path, kind: str) -> None:
        with self._cond:
            self.events.append((path, kind))
            self._cond.notify_all()

    def wait_for(self, path: Path, kind: str | None = None, timeout: float = WAIT) -> bool:
        """Wait until ``path`` was reported (with ``kind``, if given)."""

        def seen() -> bool:
            return any(p == path and (kind is None or k == kind) for p, k in self.events)

        with self._cond:
            return self._cond.wait_for(seen, timeout)

    def kinds(self, path: Path) -> list[str]:
        with self._cond:
            return [k for p, k in self.events if p == path]

    def paths(self) -> set[Path]:
        with self._cond:
            return {p for p, _ in self.events}

    def clear(self) -> None:
        with self._cond:
            self.events.clear()


def wait_until(pred: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_watcher(recorder: Recorder) -> Iterator[Callable[..., FolderWatcher]]:
    """Build and start a FolderWatcher reporting to ``recorder``; stopped at teardown."""
    made: list[FolderWatcher] = []

    def make(include: list[Path], exclude: list[str] | None = None, **kw: object) -> FolderWatcher:
        w = FolderWatcher(AlbumRules(include, exclude or []), recorder, **kw)  # type: ignore[arg-type]
        made.append(w)
        w.start()
        return w

    yield make
    for w in made:
        w.stop()
