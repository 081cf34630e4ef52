"""The daemon's status figures are read from a real state file in a worker thread, kept,
and read again only when they are older than the publish interval."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from immich_backupd.daemon import counts as counts_mod
from immich_backupd.daemon.counts import StateCounts
from immich_backupd.state import FAILED, UPLOADED, FileRecord, StateStore


async def _state(state_dir: Path, failed: int, uploaded: int) -> None:
    store = await StateStore.open(state_dir)
    try:
        for i in range(failed + uploaded):
            await store.put(FileRecord(path=Path(f"/p/{i}.jpg"), size=1, mtime_ns=1, ino=i + 1,
                                       status=FAILED if i < failed else UPLOADED))
    finally:
        await store.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_figures_come_from_the_state_file_and_are_kept_until_stale(tmp_path):
    async def main() -> None:
        await _state(tmp_path, failed=1, uploaded=2)
        clock = Clock()
        c = StateCounts(1.0, clock)
        assert c.value == {} and c.due()
        await c.refresh(tmp_path)
        assert (c.value["backed_up"], c.value["total"], c.value["failed"]) == (2, 3, 1)
        assert not c.due()
        clock.now += 0.5
        assert not c.due()
        clock.now += 0.5
        assert c.due()

    asyncio.run(main())


def test_the_read_runs_off_the_event_loop_and_a_background_read_publishes_after(
        tmp_path, monkeypatch):
    threads: list[threading.Thread] = []
    real = counts_mod.read_counts

    def recording(state_dir: Path) -> dict:
        threads.append(threading.current_thread())
        return real(state_dir)

    monkeypatch.setattr(counts_mod, "read_counts", recording)

    async def main() -> None:
        await _state(tmp_path, failed=0, uploaded=4)
        c = StateCounts(1.0, Clock())
        published = asyncio.Event()
        c.start(tmp_path, published.set)
        assert not c.due()  # one read at a time
        await asyncio.wait_for(published.wait(), 10)
        assert c.value["backed_up"] == 4
        assert threads and threads[0] is not threading.main_thread()

    asyncio.run(main())


def test_refresh_waits_for_a_running_read_and_reads_again(tmp_path, monkeypatch):
    """A pass has just recorded: the figures must include its records, not those of a
    read that started before them."""
    real = counts_mod.read_counts
    gate = threading.Event()
    first_read: list[dict] = []

    def slow_first(state_dir: Path) -> dict:
        value = real(state_dir)
        if not first_read:  # the read that began before the pass recorded
            first_read.append(value)
            gate.wait(10)
        return value

    monkeypatch.setattr(counts_mod, "read_counts", slow_first)

    async def main() -> None:
        await _state(tmp_path, failed=0, uploaded=1)
        c = StateCounts(1.0, Clock())
        c.start(tmp_path, lambda: None)
        while not first_read:
            await asyncio.sleep(0.01)
        store = await StateStore.open(tmp_path)
        try:
            await store.put(FileRecord(path=Path("/p/new.jpg"), size=1, mtime_ns=1, ino=99,
                                       status=UPLOADED))
        finally:
            await store.close()
        refresh = asyncio.create_task(c.refresh(tmp_path))
        await asyncio.sleep(0.05)
        assert not refresh.done()  # it waits for the running read
        gate.set()
        await refresh
        assert first_read[0]["backed_up"] == 1 and c.value["backed_up"] == 2

    asyncio.run(main())
