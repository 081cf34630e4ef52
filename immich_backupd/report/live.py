"""The running pass's progress, published for ``immich-backupd status``.

A small JSON file in the state directory, replaced atomically (write, then rename) at
most once a second, so that ``status`` in another process reads a whole snapshot
without touching the database the pass is writing. It holds ``Progress.to_json()`` and
the rate and time left (``rate.transfer``), which only the publisher can measure.

One writer (``LiveWriter``) puts the file down, for a ``once`` pass (``LiveFile``) and
for the daemon (which adds its own state to the pass's progress).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..model import FileOutcome, PassOutcome
from .progress import Progress, Reporter
from .rate import PassRate, progress_json

LIVE_NAME = "live.json"


def read_live(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / LIVE_NAME).read_text())
    except (OSError, ValueError):
        return None


class LiveWriter:
    """Replaces ``live.json`` in ``state_dir`` atomically (write, then rename), adding
    ``pid`` and ``updated_at``. The state folder is made (0700) if missing. A write that
    fails (a full or read-only state disk) is said once, as a warning, until one succeeds
    again; it never raises."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LIVE_NAME
        self._failed = False

    def write(self, data: dict[str, Any]) -> None:
        data = data | {"pid": os.getpid(), "updated_at": time.time()}
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
        except OSError as exc:
            if not self._failed:
                logging.getLogger("immich_backupd.report").warning(
                    "cannot update %s: %s", self.path, exc.strerror or exc)
            self._failed = True
        else:
            self._failed = False


class LiveFile(Reporter):
    """A pass's progress in live.json, at most once per ``interval`` seconds; the last
    state before a quiet spell and the outcome are always written."""

    def __init__(self, state_dir: Path, interval: float = 1.0) -> None:
        self.writer = LiveWriter(state_dir)
        self.path = self.writer.path
        self.interval = interval
        self._last = 0.0
        self._pending: asyncio.TimerHandle | None = None
        self._rate = PassRate()

    def _write(self, progress: Progress, **extra: Any) -> None:
        self.writer.write(progress_json(progress, self._rate) | extra)

    def progress(self, progress: Progress) -> None:
        now = time.monotonic()
        self._rate.update(progress, now)
        if now - self._last >= self.interval:
            self._last = now
            self._write(progress)
        elif self._pending is None:
            # Throttled: write the latest state when the interval is up, so the last
            # update before a quiet spell (a long upload's tail) is not lost.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._pending = loop.call_later(self._last + self.interval - now,
                                            self._flush, progress)

    def _flush(self, progress: Progress) -> None:
        self._pending = None
        self._last = time.monotonic()
        self._write(progress)

    def pass_done(self, progress: Progress, outcome: PassOutcome) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._write(progress, outcome=str(outcome))  # JSON: the enum's value


class Fanout(Reporter):
    """Several reporters as one; one failing does not stop the others."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters
        # file_done is called for every file (100,000 duplicates when a library is
        # adopted): only the reporters that do something with it are called.
        self._per_file = [r for r in reporters
                          if getattr(type(r), "file_done", None) is not Reporter.file_done]

    def file_done(self, path: str, outcome: FileOutcome, detail: str = "") -> None:
        for r in self._per_file:
            _safe(r.file_done, path, outcome, detail)

    def progress(self, progress: Progress) -> None:
        for r in self.reporters:
            _safe(r.progress, progress)

    def pass_done(self, progress: Progress, outcome: PassOutcome) -> None:
        for r in self.reporters:
            _safe(r.pass_done, progress, outcome)


def _safe(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        logging.getLogger("immich_backupd.report").exception("reporter %r failed", fn)
