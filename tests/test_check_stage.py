"""The check stage (pipeline/check.py) against the fake server of tests/fake_server.py,
which answers the bulk check as the stand-in does (accept, or reject as a duplicate with
the asset id and whether it is in the trash; an empty request is a 500), with the record
stage on a real SQLite file. No server process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from immich_backupd.errors import AuthError
from immich_backupd.immich.errors import ApiError
from immich_backupd.pipeline.check import CheckStage, parts
from immich_backupd.pipeline.plan import END, Candidate, Unit
from immich_backupd.pipeline.record import Recorder
from immich_backupd.report.progress import Progress, Reporter
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import DUPLICATE, TRASHED, StateStore
from tests.fake_server import FakeServer


def cand(tmp_path: Path, name: str) -> Candidate:
    path = tmp_path / "lib" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(name.encode())
    c = Candidate(path=path, stat=FileStat.from_stat_result(name, os.stat(path)),
                  kind="image", album=None)
    c.sha1, c.blake3 = name.encode().ljust(20, b"."), name.encode().ljust(32, b".")
    return c



def stage(server: FakeServer, store: StateStore, batch_size: int = 3,
          queued: list[int] | None = None) -> tuple[CheckStage, Recorder]:
    rec = Recorder(store, Progress(), Reporter(), give_back=lambda n: None)
    on_queued = (lambda n: queued.append(n)) if queued is not None else (lambda n: None)
    return CheckStage(server, rec, batch_size=batch_size, stopping=lambda: False,
                      on_queued=on_queued), rec


async def test_new_files_are_queued_and_known_ones_recorded(tmp_path, store):
    new, dup, trashed = (cand(tmp_path, n) for n in ("new.jpg", "dup.jpg", "bin.jpg"))
    upload_q: asyncio.Queue[object] = asyncio.Queue()
    server = FakeServer({dup.sha1: "asset-d", trashed.sha1: "asset-t"}, trashed={"asset-t"})
    queued: list[int] = []
    check, rec = stage(server, store, queued=queued)
    await check.check_batch([Unit([c]) for c in (new, dup, trashed)], upload_q)
    assert upload_q.qsize() == 1 and upload_q.get_nowait().members == [new]
    assert (dup.outcome, dup.remote_id) == (DUPLICATE, "asset-d")
    assert (trashed.outcome, trashed.remote_id) == (TRASHED, "asset-t")
    assert new.outcome is None and queued == [1]
    await rec.flush()
    r = await store.get(trashed.path)
    assert r.status == TRASHED and "trash" in r.error


async def test_one_request_at_a_time_each_parts_uploads_queued_before_the_next(
        tmp_path, store):
    """Why: a fatal answer to a later check must find the earlier part's uploads
    already going (tests/reliability/test_stops_recorded.py)."""
    upload_q: asyncio.Queue[object] = asyncio.Queue()
    server = FakeServer(upload_q=upload_q)
    check, _ = stage(server, store, batch_size=3)
    units = [Unit([cand(tmp_path, f"{i}.jpg")]) for i in range(8)]
    await check.check_batch(units, upload_q)
    assert [len(r) for r in server.requests] == [3, 3, 2]
    assert server.seen_queue == [0, 3, 6]  # the part before was queued already
    assert check.to_upload == 8


async def test_a_live_pair_is_kept_whole_in_one_request(tmp_path, store):
    units = [Unit([cand(tmp_path, "a.jpg")]), Unit([cand(tmp_path, "b.heic"),
                                                     cand(tmp_path, "b.mov")],
                                                    is_live_pair=True),
             Unit([cand(tmp_path, "c.jpg")])]
    assert [[len(u.members) for u in p] for p in parts(units, 2)] == [[1], [2], [1]]


async def test_a_failed_check_uploads_everything_with_the_checksum(tmp_path, store):
    upload_q: asyncio.Queue[object] = asyncio.Queue()
    server = FakeServer(check_error=ApiError(500, "Internal server error"))
    check, _ = stage(server, store)
    units = [Unit([cand(tmp_path, f"{i}.jpg")]) for i in range(2)]
    await check.check_batch(units, upload_q)
    assert upload_q.qsize() == 2


async def test_a_rejected_key_ends_the_check(tmp_path, store):
    server = FakeServer(check_error=ApiError(401, "Invalid API key"))
    check, _ = stage(server, store)
    with pytest.raises(AuthError):
        await check.check_batch([Unit([cand(tmp_path, "x.jpg")])], asyncio.Queue())


async def test_the_run_batches_what_comes_and_ends_each_uploader(tmp_path, store):
    check_q: asyncio.Queue[object] = asyncio.Queue()
    upload_q: asyncio.Queue[object] = asyncio.Queue()
    server = FakeServer()
    check, _ = stage(server, store, batch_size=100)
    for i in range(3):
        check_q.put_nowait([Unit([cand(tmp_path, f"{i}.jpg")])])
    check_q.put_nowait(END)
    await check.run(check_q, upload_q, n_uploaders=2)
    assert [len(r) for r in server.requests] == [3]  # one request for what had come
    items = [upload_q.get_nowait() for _ in range(upload_q.qsize())]
    assert items[-2:] == [END, END] and len(items) == 5 and check.ends_sent == 2
