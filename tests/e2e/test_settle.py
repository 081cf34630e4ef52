"""Nothing torn, in any mode (issue 14): a file still being written, by a real writer in
chunks with pauses, never reaches the stand-in as a fragment: not from `once`, not from
the daemon's full rescans (with no file events for the writes, as on a network share).
The finished file goes up once the writer is done; one that outlasts `once`'s wait is
reported with exit 1, never "✓"; a file changed after its backup goes up again as a new
version, and `once` says so."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

from immich_standin import StandinServer
from immich_standin.library import JPEG

from .conftest import server_assets
from .test_daemon import start_backed_up, wait_until


class SlowWriter(threading.Thread):
    """Writes ``chunks`` random chunks of ``chunk`` bytes to ``path`` (through ``via``,
    another name of the same file, when given: the file is made there and linked to
    ``path``, so a watcher of ``path``'s folder sees it created and nothing more, as
    with a writer on another machine), ``pause`` seconds apart; calls ``after_each``
    after each chunk."""

    def __init__(self, path: Path, *, chunks: int, chunk: int, pause: float,
                 via: Path | None = None, after_each=None) -> None:
        super().__init__(daemon=True)
        self.path, self.via = path, via or path
        self.chunks, self.chunk, self.pause = chunks, chunk, pause
        self.after_each = after_each
        self.data = bytearray(JPEG)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.via.write_bytes(self.data)
        if via is not None:
            os.link(via, path)

    def run(self) -> None:
        with self.via.open("r+b") as fh:
            fh.seek(0, os.SEEK_END)
            for _ in range(self.chunks):
                time.sleep(self.pause)
                piece = os.urandom(self.chunk)
                fh.write(piece)
                fh.flush()
                self.data += piece
                if self.after_each is not None:
                    self.after_each()

    @property
    def sha1(self) -> str:
        return hashlib.sha1(bytes(self.data)).hexdigest()


def stored(srv: StandinServer, name: str) -> list[tuple[int, str]]:
    """(size, SHA-1) of every asset of that file name the server keeps."""
    with srv.state.lock:
        return sorted((a.size, a.checksum_hex) for a in srv.state.assets.values()
                      if a.original_file_name == name)


def test_once_waits_for_a_file_being_written_and_uploads_it_whole(server, make_setup):
    # settle 2 s: `once` waits up to 8 s; the writer pauses 0.7 s, for about 5 s.
    setup = make_setup(server, photos=2, settle_time="2s")
    target = setup.lib.include[0] / "2024" / "Holiday" / "slow.jpg"
    writer = SlowWriter(target, chunks=8, chunk=1_250_000, pause=0.7)
    writer.start()
    time.sleep(1.5)  # `once` starts while the file is a fragment
    proc = setup.run("once")
    writer.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ Backup complete" in proc.stdout
    assert stored(server, "slow.jpg") == [(len(writer.data), writer.sha1)]  # whole, once
    assert set(server_assets(server)) == {*setup.lib.expected.values(), writer.sha1}


def test_once_reports_a_file_still_written_after_its_wait_then_the_next_run_takes_it(
        server, make_setup):
    # settle 1 s: `once` waits up to 4 s; the writer pauses 0.4 s, for about 10 s.
    setup = make_setup(server, photos=2, settle_time="1s")
    target = setup.lib.include[0] / "2024" / "Holiday" / "long.jpg"
    writer = SlowWriter(target, chunks=25, chunk=100_000, pause=0.4)
    writer.start()
    proc = setup.run("once")
    assert writer.is_alive(), "the writer ended before `once`: the test proves nothing"
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "✓" not in proc.stdout
    assert "1 file is still being written; run again" in proc.stdout, proc.stdout
    assert str(target) in proc.stdout  # named
    assert stored(server, "long.jpg") == []  # no fragment
    assert set(server_assets(server)) == set(setup.lib.expected.values())  # the rest is up

    writer.join()
    again = setup.run("once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "✓ Backup complete" in again.stdout
    assert stored(server, "long.jpg") == [(len(writer.data), writer.sha1)]


def test_daemon_full_rescans_never_upload_a_file_being_written(server, make_setup, tmp_path):
    """The writes go through a second name of the file outside the watched folders, so
    the daemon's watcher sees none of them (as with a writer on another machine): only
    the full rescans, forced after every chunk, look at the file. Pauses of 1.5 s are
    longer than the old one-second rule."""
    setup = make_setup(server, photos=2, settle_time="3s", trigger_delay="300ms",
                       max_delay="3s")
    d = start_backed_up(setup, server, tmp_path)
    try:
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        target = setup.lib.include[0] / "2024" / "Holiday" / "remote.jpg"
        rescans = 0

        def rescan() -> None:
            nonlocal rescans
            rescans += 1
            d.proc.send_signal(signal.SIGUSR1)

        writer = SlowWriter(target, chunks=6, chunk=300_000, pause=1.5,
                            via=outside / "remote.jpg", after_each=rescan)
        writer.start()
        writer.join()
        assert rescans == 6
        # After the last write: no event, no signal; the daemon comes back by itself.
        wait_until(lambda: writer.sha1 in server_assets(server), 15, "the finished file")
        time.sleep(1)
        log = d.stderr()
    finally:
        code = d.stop()
    assert code == 0, d.stderr()
    assert stored(server, "remote.jpg") == [(len(writer.data), writer.sha1)], log
    assert log.count("SIGUSR1: backing up now") == 6
    assert "still being written" in log
    # Held files are looked at again when they may have settled, not every trigger_delay:
    # the start, the file's creation, the rescans, the pass after it settled (one spare).
    assert log.count("backup pass (") <= rescans + 4, log


def test_a_file_changed_after_its_backup_goes_up_as_a_new_version(server, make_setup):
    setup = make_setup(server, photos=2)
    first = setup.run("once")
    assert first.returncode == 0, first.stderr
    photo = setup.lib.include[0] / "2024" / "Holiday" / "IMG_1000.jpg"
    old = hashlib.sha1(photo.read_bytes()).hexdigest()
    with photo.open("ab") as fh:  # edited in place: new bytes, new mtime
        fh.write(os.urandom(2_000))
    new = hashlib.sha1(photo.read_bytes()).hexdigest()
    second = setup.run("once")
    assert second.returncode == 0, second.stderr
    assert "1 file changed after its last backup and was uploaded again as a new version" \
        in second.stdout, second.stdout
    assert "✓ Backup complete" in second.stdout
    assert stored(server, "IMG_1000.jpg") == sorted(
        [(photo.stat().st_size - 2_000, old), (photo.stat().st_size, new)])
    assert "uploaded" in second.stderr and "a new version" in second.stderr


def test_daemon_a_photo_renamed_in_from_outside_goes_up_without_waiting_settle_time(
        server, make_setup, tmp_path):
    """A download or a copy finished in another folder and renamed into place is whole:
    the rename vouches for it, so the daemon does not wait out settle_time (the bench's
    daemon latency went from ~1 s to 30 s when such a rename counted as "created")."""
    setup = make_setup(server, photos=2, settle_time="30s", trigger_delay="300ms",
                       max_delay="3s")
    d = start_backed_up(setup, server, tmp_path)
    try:
        staging = tmp_path / "downloads"
        staging.mkdir()
        data = JPEG + os.urandom(200_000)
        (staging / "new.jpg").write_bytes(data)
        os.rename(staging / "new.jpg", setup.lib.include[0] / "new.jpg")
        sha1 = hashlib.sha1(data).hexdigest()
        started = time.monotonic()
        wait_until(lambda: sha1 in server_assets(server), 25, "the renamed photo")
        assert time.monotonic() - started < 15  # well under settle_time
    finally:
        code = d.stop()
    assert code == 0, d.stderr()
