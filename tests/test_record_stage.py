"""The record stage (pipeline/record.py) against a real SQLite state file, no server."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from immich_backupd.model import VANISHED, FileOutcome, Outcome, Vanished
from immich_backupd.pipeline import record
from immich_backupd.pipeline.plan import Candidate
from immich_backupd.pipeline.record import Recorder
from immich_backupd.report.progress import Progress, Reporter
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import (
    DUPLICATE,
    FAILED,
    TRASHED,
    UNSUPPORTED,
    UPLOADED,
    FileRecord,
    StateStore,
)


class Seen(Reporter):
    def __init__(self) -> None:
        self.files: list[tuple[str, str, str]] = []
        self.updates = 0

    def file_done(self, path: str, outcome: FileOutcome, detail: str = "") -> None:
        self.files.append((path, outcome, detail))

    def progress(self, progress: Progress) -> None:
        self.updates += 1


class Clock:
    def __init__(self, t: float | None = None) -> None:
        # The state stamps its rows with the real time (updated_at), so near it.
        t = time.time() if t is None else t
        self.t = t

    def __call__(self) -> float:
        return self.t


def cand(path: Path, data: bytes = b"photo", **kw) -> Candidate:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = os.stat(path)
    c = Candidate(path=path, stat=FileStat.from_stat_result(path.name, st), kind="image",
                  album=None, **kw)
    c.sha1, c.blake3 = b"s" * 20, path.name.encode().ljust(32, b".")
    return c



def recorder(store: StateStore, **kw) -> tuple[Recorder, Progress, Seen, list[int]]:
    progress, seen, freed = Progress(), Seen(), []
    rec = Recorder(store, progress, seen, give_back=freed.append, **kw)
    return rec, progress, seen, freed


async def test_outcomes_written_counted_and_reported_in_one_go(tmp_path, store):
    rec, progress, seen, freed = recorder(store)
    up, dup, bad = (cand(tmp_path / "p" / n) for n in ("a.jpg", "b.jpg", "c.jpg"))
    up.data = b"photo"
    await rec.now_many([Outcome(up, UPLOADED, "id-a"), Outcome(dup, DUPLICATE, "id-b"),
                        Outcome(bad, UNSUPPORTED, None, "unsupported file type")])
    a, b, c = [await store.get(x.path) for x in (up, dup, bad)]
    assert (a.status, a.remote_id, b.status, b.remote_id) == (UPLOADED, "id-a", DUPLICATE,
                                                              "id-b")
    assert (c.status, c.error) == (UNSUPPORTED, "unsupported file type")
    assert (progress.uploaded, progress.duplicates, progress.failed, progress.backed_up) == \
        (1, 1, 1, 2)
    assert [o for _, o, _ in seen.files] == [UPLOADED, DUPLICATE, UNSUPPORTED]
    assert seen.files[2][2] == "unsupported file type"
    assert freed == [5] and up.data is None  # the kept bytes went back to the budget
    assert rec.stack_dirs == {tmp_path / "p"}  # only files with a server asset count
    assert rec.new_versions == []
    assert up.outcome is UPLOADED and bad.outcome is UNSUPPORTED  # the enum, not a str


async def test_a_changed_file_uploaded_again_is_a_new_version(tmp_path, store):
    rec, *_ = recorder(store)
    c = cand(tmp_path / "x.jpg")
    c.record = FileRecord(path=c.path, size=1, mtime_ns=1, ino=1, status=UPLOADED,
                          blake3=b"old".ljust(32, b"."), remote_id="old")
    await rec.now(c, UPLOADED, remote_id="new")
    assert rec.new_versions == [c.path]


async def test_uploads_wait_for_the_batch_and_the_recorder_commits_the_rest(tmp_path, store):
    rec, progress, *_ = recorder(store)
    c = cand(tmp_path / "u.jpg")
    rec.soon(c, UPLOADED, "id-u")
    assert c.outcome is UPLOADED  # known at once (a live photo's still links by it)
    assert rec.waiting and await store.get(c.path) is None
    assert progress.uploaded == 0  # counted when committed

    async def producer() -> None:
        await asyncio.sleep(0)

    await rec.run([asyncio.create_task(producer())])
    assert not rec.waiting
    assert (await store.get(c.path)).status == UPLOADED and progress.uploaded == 1


async def test_a_full_upload_batch_wakes_the_recorder(tmp_path, store):
    rec, *_ = recorder(store)
    stop = asyncio.Event()
    producer = asyncio.create_task(stop.wait())
    runner = asyncio.create_task(rec.run([producer]))
    cands = [cand(tmp_path / f"{i}.jpg") for i in range(record.RECORD_BATCH)]
    for c in cands:
        rec.soon(c, DUPLICATE, f"id-{c.path.name}")
    for _ in range(50):  # well before RECORD_WAIT: woken by the batch, not the timeout
        await asyncio.sleep(0.001)
        if not rec.waiting:
            break
    assert not rec.waiting
    stop.set()
    await runner
    assert (await store.get(cands[-1].path)).status == DUPLICATE


async def test_check_outcomes_give_bytes_back_at_once_and_commit_when_old(tmp_path, store):
    mono = Clock(50.0)
    rec, progress, _, freed = recorder(store, monotonic=mono)
    c = cand(tmp_path / "t.jpg")
    c.data = b"12345678"
    await rec.later([Outcome(c, TRASHED, "id-t", "in the Immich trash")])
    assert freed == [8] and c.data is None and c.outcome is TRASHED
    assert not rec.checks_due()
    mono.t += record.CHECK_RECORD_WAIT
    assert rec.checks_due()
    await rec.flush(checks=False)  # uploads only: the check outcomes still wait
    assert rec.waiting
    await rec.flush()
    r = await store.get(c.path)
    assert (r.status, r.remote_id, r.error) == (TRASHED, "id-t", "in the Immich trash")
    assert progress.skipped == 1


async def test_failures_take_the_same_recorder_and_count_their_tries(tmp_path, store):
    clock = Clock()
    rec, progress, seen, _ = recorder(store, clock=clock)
    c = cand(tmp_path / "f.jpg")
    c.tries = 3
    c.data = b"xy"
    await rec.fail(c, "network: reset", retry=True)
    r = await store.get(c.path)
    assert (r.status, r.attempts, r.error) == (FAILED, 3, "network: reset")
    first_wait = r.next_attempt_at - clock.t
    assert first_wait > 0
    assert progress.failed == 1 and seen.files[-1] == (str(c.path), FAILED, "network: reset")
    assert c.data is None

    again = cand(tmp_path / "f.jpg")
    again.record, again.tries = r, 1
    clock.t = r.next_attempt_at
    await rec.fail(again, "network: reset", retry=True)
    r2 = await store.get(c.path)
    assert r2.attempts == 4  # the tries of all passes
    assert r2.next_attempt_at - clock.t > first_wait  # the wait grows by the passes


async def test_a_vanished_file_is_forgotten_not_failed(tmp_path, store):
    rec, progress, seen, _ = recorder(store)
    c = cand(tmp_path / "v.jpg")
    await rec.now(c, UPLOADED, remote_id="id-v")
    await rec.vanished(c)
    assert await store.get(c.path) is None
    assert (progress.failed, progress.skipped) == (0, 1)
    assert seen.files[-1][1] is VANISHED
    # A named member of the model, like every other outcome: not a bare string.
    assert isinstance(c.outcome, Vanished) and c.outcome is VANISHED


async def test_a_failed_commit_keeps_the_outcomes_for_the_last_flush(tmp_path, store):
    rec, progress, *_ = recorder(store)
    c = cand(tmp_path / "k.jpg")
    rec.soon(c, UPLOADED, "id-k")
    await store.close()
    with pytest.raises(ValueError):  # the closed database
        await rec.flush()
    assert rec.waiting and progress.uploaded == 0
    rec.store = await StateStore.open(tmp_path / "state")
    try:
        await rec.flush()
        assert (await rec.store.get(c.path)).status == UPLOADED
    finally:
        await rec.store.close()
