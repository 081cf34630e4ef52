"""The server's background job queues, modelled: what an upload queues, pausing, and cost.

A real Immich server queues work for each new asset (metadata extraction, thumbnails,
video conversion, then faces, smart search, duplicates...) and runs it on the same CPUs
that receive uploads; on a small box that work slows a large import (measured on a real
v3.1.0 server on 2 cores: 300 files in 9.3 s with the queues running, 3.3 s with them
paused). The stand-in models this:

* each created asset queues one job in ``metadataExtraction`` and
  ``thumbnailGeneration`` (and ``videoConversion`` for a video);
* with ``job_seconds`` 0 (the default) jobs of a running queue finish at once, so no
  other test pays anything; with ``job_seconds`` > 0, ``workers`` threads run the jobs,
  each burning that much CPU time in Python, so they compete with the request handlers
  for the interpreter as a real server's jobs compete for its cores;
* a paused queue keeps its jobs (counted as ``paused``) and runs them when resumed;
  ``backgroundTask`` cannot be paused (the real server answers 400).

Queue names are the spec's ``QueueName`` enum of the emulated version.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

UNPAUSABLE = "backgroundTask"
#: What a new asset queues, by asset type.
ON_UPLOAD = {"IMAGE": ("metadataExtraction", "thumbnailGeneration"),
             "VIDEO": ("metadataExtraction", "thumbnailGeneration", "videoConversion")}


@dataclass
class Queue:
    name: str
    is_paused: bool = False
    waiting: int = 0
    active: int = 0
    completed: int = 0
    failed: int = 0
    delayed: int = 0

    def dto(self) -> dict[str, Any]:
        """QueueResponseDto."""
        paused = self.waiting if self.is_paused else 0
        return {"name": self.name, "isPaused": self.is_paused, "statistics": {
            "active": self.active, "completed": self.completed, "delayed": self.delayed,
            "failed": self.failed, "paused": paused,
            "waiting": 0 if self.is_paused else self.waiting}}


@dataclass
class JobQueues:
    """All queues of one server; thread-safe (``lock``)."""

    names: list[str]
    job_seconds: float = 0.0
    workers: int = 2
    queues: dict[str, Queue] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Every change of a paused flag, in order: (queue, paused) — what tests check.
    pause_log: list[tuple[str, bool]] = field(default_factory=list)
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def __post_init__(self) -> None:
        self.queues = {n: Queue(n) for n in self.names}

    # -- what the API does ---------------------------------------------------------
    def set_paused(self, name: str, paused: bool) -> Queue:
        """Pause or resume ``name``; ValueError for ``backgroundTask``."""
        if paused and name == UNPAUSABLE:
            raise ValueError("The BackgroundTask queue cannot be paused")
        with self.lock:
            queue = self.queues[name]
            if queue.is_paused != paused:
                self.pause_log.append((name, paused))
            queue.is_paused = paused
            if not paused:
                self._run_free(queue)
        self._poke()
        return queue

    def enqueue(self, asset_type: str) -> None:
        """Queue what a new asset of ``asset_type`` makes the server do."""
        with self.lock:
            for name in ON_UPLOAD.get(asset_type, ON_UPLOAD["IMAGE"]):
                queue = self.queues.get(name)
                if queue is None:
                    continue
                queue.waiting += 1
                if not queue.is_paused:
                    self._run_free(queue)
        self._poke()

    def paused_names(self) -> list[str]:
        with self.lock:
            return [q.name for q in self.queues.values() if q.is_paused]

    # -- running jobs --------------------------------------------------------------
    def _run_free(self, queue: Queue) -> None:
        """Jobs that cost nothing finish at once (lock held)."""
        if self.job_seconds <= 0:
            queue.completed += queue.waiting
            queue.waiting = 0

    def _poke(self) -> None:
        if self._wake is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _take(self) -> Queue | None:
        with self.lock:
            for queue in self.queues.values():
                if queue.waiting and not queue.is_paused:
                    queue.waiting -= 1
                    queue.active += 1
                    return queue
        return None

    def _burn(self, queue: Queue) -> None:
        """One job: ``job_seconds`` of CPU in Python (holding the interpreter in slices,
        like a server's worker holds a core)."""
        end = time.thread_time() + self.job_seconds
        x = 0
        while time.thread_time() < end:
            for i in range(2000):
                x ^= i * i
        with self.lock:
            queue.active -= 1
            queue.completed += 1

    async def run(self) -> None:
        """The workers, until cancelled (started by the server when ``job_seconds`` > 0)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

        async def worker() -> None:
            while True:
                queue = self._take()
                if queue is None:
                    assert self._wake is not None
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await asyncio.to_thread(self._burn, queue)

        await asyncio.gather(*(worker() for _ in range(self.workers)))
