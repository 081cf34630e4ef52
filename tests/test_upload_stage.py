"""The upload stage (pipeline/upload.py) against the fake server of tests/fake_server.py,
which answers uploads as the stand-in does (201 with a new id, 200 "duplicate" for a
checksum it has, 400 "Unsupported file type ...", 400 "Quota has been exceeded!" past
the quota, a live photo's still naming its video), with the record stage on a real
SQLite file and real files. No server process."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from immich_backupd.errors import QuotaExceededError
from immich_backupd.immich.client import (
    Quota,
)
from immich_backupd.model import VANISHED
from immich_backupd.pipeline.plan import END, Candidate, Unit
from immich_backupd.pipeline.record import Recorder
from immich_backupd.pipeline.upload import UploadStage
from immich_backupd.report.progress import Progress, Reporter
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import DUPLICATE, FAILED, UNSUPPORTED, UPLOADED, StateStore
from tests.fake_server import NO_QUOTA, FakeServer


def cand(tmp_path: Path, name: str, data: bytes | None = None, kind: str = "image"
         ) -> Candidate:
    path = tmp_path / "lib" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    body = data if data is not None else name.encode() * 10
    path.write_bytes(body)
    c = Candidate(path=path, stat=FileStat.from_stat_result(name, os.stat(path)), kind=kind,
                  album=None, hidden=False)
    c.sha1, c.blake3 = hashlib.sha1(body).digest(), hashlib.blake2b(body, digest_size=32).digest()
    return c



def stage(server: FakeServer, store: StateStore, quota: Quota = NO_QUOTA
          ) -> tuple[UploadStage, Recorder, list[BaseException], list[Path]]:
    rec = Recorder(store, Progress(), Reporter(), give_back=lambda n: None)
    fatal: list[BaseException] = []
    upload = UploadStage(server, rec, quota=quota, stopping=lambda: False,
                         fail_pass=fatal.append)
    return upload, rec, fatal, upload.held


async def test_new_and_known_files_are_recorded(tmp_path, store):
    server = FakeServer()
    up, again = cand(tmp_path, "a.jpg"), cand(tmp_path, "copy.jpg", b"a.jpg" * 10)
    upload, rec, fatal, _ = stage(server, store)
    await upload.upload_unit(Unit([up]))
    await upload.upload_unit(Unit([again]))
    await rec.flush()
    assert (up.outcome, again.outcome) == (UPLOADED, DUPLICATE)
    assert (await store.get(up.path)).remote_id == up.remote_id == "asset-1"
    assert (await store.get(again.path)).remote_id == "asset-1"
    assert up.tries == 1 and fatal == []
    assert rec.progress.bytes_uploaded == up.stat.size  # the duplicate sent nothing new


async def test_a_live_photo_goes_video_first_hidden_and_the_still_names_it(tmp_path, store):
    server = FakeServer()
    video, still = cand(tmp_path, "IMG.mov", kind="video"), cand(tmp_path, "IMG.heic")
    upload, *_ = stage(server, store)
    await upload.upload_unit(Unit([video, still], is_live_pair=True))
    assert server.uploads == ["IMG.mov", "IMG.heic"]
    assert server.hidden == {video.remote_id}
    assert server.live[still.remote_id] == video.remote_id


async def test_a_refused_type_is_unsupported_not_failed(tmp_path, store):
    server = FakeServer(refuse=(".xyz",))
    c = cand(tmp_path, "odd.xyz")
    upload, *_ = stage(server, store)
    await upload.upload_unit(Unit([c]))
    r = await store.get(c.path)
    assert (r.status, r.error) == (UNSUPPORTED, "Unsupported file type .xyz")


async def test_a_full_quota_ends_the_pass_before_the_file_is_sent(tmp_path, store):
    server = FakeServer(quota=Quota(size=100, usage=95))
    c = cand(tmp_path, "big.jpg")
    upload, _, fatal, _ = stage(server, store, quota=Quota(size=100, usage=95))
    q: asyncio.Queue[object] = asyncio.Queue()
    q.put_nowait(Unit([c]))
    q.put_nowait(END)
    await upload.run(q)
    assert isinstance(fatal[0], QuotaExceededError) and server.uploads == []
    assert c.outcome is None  # not failed: backed up once there is room


async def test_a_file_gone_before_its_upload_is_forgotten(tmp_path, store):
    server = FakeServer()
    c = cand(tmp_path, "gone.jpg")
    c.path.unlink()
    upload, _, fatal, _ = stage(server, store)
    await upload.upload_unit(Unit([c]))
    assert c.outcome is VANISHED and await store.get(c.path) is None and fatal == []


async def test_a_file_that_cannot_be_read_fails_and_is_tried_again_later(tmp_path, store):
    server = FakeServer()
    c = cand(tmp_path, "odd.jpg")
    c.path.unlink()
    c.path.mkdir()  # replaced by a folder since the scan: reading it fails
    upload, rec, *_ = stage(server, store)
    await upload.upload_unit(Unit([c]))
    r = await store.get(c.path)
    assert r.status == FAILED and r.error.startswith("cannot read: ")
    assert r.next_attempt_at is not None and rec.progress.failed == 1
