"""A whole pass (pipeline/runner.py, BackupPass) in process: every stage wired as in a
real pass, against the fake server of tests/fake_server.py, with a real SQLite state
and real files in tmp_path. No server process, no real sleeping (a fake clock, whose
sleep the retries and the wait for a server gone use)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from immich_backupd.config import parse_settings
from immich_backupd.errors import QuotaExceededError, ServerUnavailableError
from immich_backupd.immich.client import Quota, UploadRequest
from immich_backupd.immich.versions import ServerVersion
from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from immich_backupd.model import ON_SERVER, FileStatus, PassOutcome
from immich_backupd.pipeline.connect import ServerInfo
from immich_backupd.pipeline.runner import BackupPass, Hold, PassResult, PassScope
from immich_backupd.pipeline.server import OFFLINE_LIMIT
from immich_backupd.state import FAILED, StateReader, StateStore
from tests.fake_server import NO_QUOTA, FakeClock, FakeServer

OLD = 1_600_000_000  # an mtime long settled
NOW = OLD + 10**6  # the fake clock's start: every file here is settled


def photo(path: Path, body: bytes, *, mtime: int = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff" + body)
    os.utime(path, (mtime, mtime))
    return path


class Run:
    """The parts of one pass: settings for ``lib``, the state, the fake server."""

    def __init__(self, tmp_path: Path, server: FakeServer, *, quota: Quota = NO_QUOTA,
                 backup: str = "") -> None:
        self.lib = tmp_path / "lib"
        self.state_dir = tmp_path / "state"
        self.settings = parse_settings(
            f"server:\n  url: http://127.0.0.1:9\n  api_key: k\nstate_dir: {self.state_dir}\n"
            f"albums:\n  include:\n    - {self.lib}\n"
            "backup:\n  concurrency: 1\n  album_sync: false\n" + backup,
            env={"HOME": str(tmp_path)})
        self.server = server
        self.info = ServerInfo(version=ServerVersion(3, 1, 0), media=DEFAULT_MEDIA_TYPES,
                               quota=quota, permissions=("all",), user_id="user-1")
        self.clock = FakeClock(NOW)
        self.backup: BackupPass | None = None

    async def run(self, **kwargs: object) -> PassResult:
        store = await StateStore.open(self.state_dir)
        try:
            self.backup = BackupPass(self.settings, self.server, store, self.info,
                                     clock=self.clock, sleep=self.clock.sleep, **kwargs)
            return await self.backup.run()
        finally:
            await store.close()

    def statuses(self) -> dict[str, str]:
        """Name -> status of every record in the state."""
        reader = StateReader(self.state_dir)
        try:
            return {path.name: str(status) for status in FileStatus
                    for path in reader.paths_with_status(status, 1000)}
        finally:
            reader.close()

    def last_pass(self) -> dict[str, object]:
        reader = StateReader(self.state_dir)
        try:
            found = reader.last_pass()
            assert found is not None
            return found
        finally:
            reader.close()


async def test_a_normal_pass_backs_everything_up_and_says_complete(tmp_path):
    server = FakeServer()
    r = Run(tmp_path, server)
    photo(r.lib / "a.jpg", b"a" * 100)
    photo(r.lib / "2024" / "b.jpg", b"b" * 100)
    photo(r.lib / "big.jpg", os.urandom(300_000))  # hashed by the workers, not the scanner
    known = photo(r.lib / "known.jpg", b"already there")
    server.assets[hashlib.sha1(known.read_bytes()).digest()] = "asset-known"

    result = await r.run()

    assert (result.outcome, result.error) == (PassOutcome.COMPLETE, None)
    p = result.progress
    assert (p.seen, p.uploaded, p.duplicates, p.failed) == (4, 3, 1, 0)
    assert result.held == [] and result.settle_at is None and result.new_versions == []
    assert sorted(server.uploads) == ["a.jpg", "b.jpg", "big.jpg"]  # not the known one
    assert r.statuses() == {"a.jpg": "uploaded", "b.jpg": "uploaded", "big.jpg": "uploaded",
                            "known.jpg": "duplicate"}
    row = r.last_pass()
    assert (row["outcome"], row["seen"], row["uploaded"], row["duplicates"]) == (
        "complete", 4, 3, 1)

    # The next pass: nothing changed but one photo edited, uploaded again as a new
    # version (its record was read for it); the unchanged ones are only counted.
    photo(r.lib / "a.jpg", b"a, edited")
    again = await r.run()
    assert again.outcome is PassOutcome.COMPLETE
    assert again.new_versions == [r.lib / "a.jpg"]
    assert (again.progress.uploaded, again.progress.backed_up) == (1, 4)
    assert sorted(server.uploads) == ["a.jpg", "a.jpg", "b.jpg", "big.jpg"]


async def test_a_full_quota_ends_the_pass_with_what_went_up_recorded(tmp_path):
    quota = Quota(size=3_500, usage=0)  # room for two of the four files
    server = FakeServer(quota=quota)
    r = Run(tmp_path, server, quota=quota)
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        photo(r.lib / name, name.encode() * 333)  # 1,668 bytes each

    result = await r.run()

    assert result.outcome is PassOutcome.QUOTA
    assert isinstance(result.error, QuotaExceededError)
    assert "quota exceeded" in str(result.error)
    assert result.progress.uploaded == 2 and len(server.uploads) == 2
    statuses = r.statuses()
    assert sorted(statuses.values()) == ["uploaded", "uploaded"]  # the rest: no record,
    assert FAILED not in statuses.values()  # not failed: backed up once there is room
    assert r.last_pass()["outcome"] == "quota"


async def test_a_server_gone_for_good_ends_the_pass_offline_without_failing_files(tmp_path):
    server = FakeServer()

    def goes_away(req: UploadRequest) -> None:
        server.online = False

    server.on_upload = goes_away
    r = Run(tmp_path, server)
    photo(r.lib / "a.jpg", b"a" * 100)
    photo(r.lib / "b.jpg", b"b" * 100)

    result = await r.run()

    assert result.outcome is PassOutcome.OFFLINE
    assert isinstance(result.error, ServerUnavailableError)
    assert server.api_url in str(result.error)
    # It retried, then waited for the server (fake time, no real sleep) for as long as
    # a pass waits, and gave up: no file is marked failed, all are tried next time.
    assert r.clock.now - NOW > OFFLINE_LIMIT and len(r.clock.sleeps) > 8
    assert result.progress.failed == 0 and r.statuses() == {}
    assert r.last_pass()["outcome"] == "offline"


async def test_a_stop_lets_the_upload_in_flight_finish_and_takes_no_new_work(tmp_path):
    server = FakeServer()
    r = Run(tmp_path, server)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        photo(r.lib / name, name.encode() * 50)

    def stop_at_first(req: UploadRequest) -> None:
        assert r.backup is not None
        r.backup.request_stop()

    server.on_upload = stop_at_first

    result = await r.run()

    assert (result.outcome, result.error) == (PassOutcome.STOPPED, None)
    assert len(server.uploads) == 1  # the one in flight, then nothing new
    assert r.statuses() == {server.uploads[0]: "uploaded"}  # and it is recorded
    assert r.last_pass()["outcome"] == "stopped"


async def test_files_changed_while_hashed_or_sent_are_held_for_later(tmp_path):
    server = FakeServer()
    r = Run(tmp_path, server)
    hashed = photo(r.lib / "hashed.jpg", b"h" * 100)
    sent = photo(r.lib / "sent.jpg", b"s" * 100)
    photo(r.lib / "calm.jpg", b"c" * 100)

    def written_after_the_scan(path: Path, st: object) -> Hold:
        # The scan has its stat; a writer changes it before the hash stage reads it.
        if path == hashed:
            photo(hashed, b"h" * 200, mtime=OLD + 5)
        return Hold.SETTLED

    def written_while_sent(req: UploadRequest) -> None:
        if req.path == sent:
            photo(sent, b"s" * 300, mtime=OLD + 7)

    server.on_upload = written_while_sent

    result = await r.run(scope=PassScope(hold=written_after_the_scan))

    assert sorted(result.held) == [hashed, sent]  # the hash stage's and the upload stage's
    assert r.statuses() == {"calm.jpg": "uploaded"}  # the held ones: no record yet
    assert result.progress.failed == 0 and result.progress.skipped == 2
    assert sorted(server.uploads) == ["calm.jpg", "sent.jpg"]  # hashed.jpg never went
    # Left for the next pass, which backs them up as they are now.
    server.on_upload = None
    again = await r.run()
    assert again.held == [] and again.progress.uploaded == 2
    assert set(r.statuses().values()) <= set(ON_SERVER)
