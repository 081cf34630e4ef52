"""FolderWatcher with real inotify (and polling) on tmp_path; every wait is bounded."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.watch.backend import Backend, WatchHooks
from immich_backupd.watch.inotify import IN_Q_OVERFLOW, RawEvent
from immich_backupd.watch.inotify_tree import InotifyBackend
from immich_backupd.watch.observer import FolderWatcher
from tests.watch_doubles import NoWatchesBackend

from .conftest import Recorder

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify")

MakeWatcher = Callable[..., FolderWatcher]


def write(path: Path, data: bytes = b"data") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def inotify_watch_count() -> int:
    """Count this process's inotify watches (``inotify wd:`` lines of its fdinfo)."""
    total = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            text = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        total += sum(line.startswith("inotify wd:") for line in text.splitlines())
    return total


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    d = tmp_path / "lib"
    d.mkdir()
    return d


def test_created_written_closed(lib: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    w = make_watcher([lib])
    assert w.watched_roots() == {lib: "native"}
    f = lib / "a.jpg"
    with f.open("wb") as fh:
        fh.write(b"x" * 1000)
        fh.flush()
        assert recorder.wait_for(f, "modified")
        assert "closed" not in recorder.kinds(f)
    assert recorder.wait_for(f, "closed")
    kinds = recorder.kinds(f)
    assert kinds[0] == "created"
    assert "opened" not in kinds  # readers' and writers' opens are not asked for by default
    # A reader costs nothing: no event at all.
    recorder.clear()
    f.read_bytes()
    sentinel = write(lib / "sentinel.jpg")
    assert recorder.wait_for(sentinel, "closed")
    assert f not in recorder.paths()


def test_report_opens(lib: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    make_watcher([lib], report_opens=True)
    f = write(lib / "a.jpg")
    assert recorder.wait_for(f, "closed")
    assert recorder.kinds(f)[:2] == ["created", "opened"]


def test_filtered_events_are_not_reported(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    (lib / "Private").mkdir()
    (lib / "@eaDir" / "a.jpg").mkdir(parents=True)
    (lib / ".hidden").mkdir()
    make_watcher([lib], ["Private", "*_edit.jpg", "Trips/raw/"], media=DEFAULT_MEDIA_TYPES)
    unwanted = [
        write(lib / "Private" / "p.jpg"),
        write(lib / "x_edit.jpg"),
        write(lib / ".DS_Store"),
        write(lib / "._a.jpg"),
        write(lib / "b.jpg.part"),
        write(lib / "c.crdownload"),
        write(lib / "@eaDir" / "a.jpg" / "SYNOPHOTO_THUMB_XL.jpg"),
        write(lib / ".hidden" / "h.jpg"),
        write(lib / "notes.txt"),  # not media
        write(lib / "Trips" / "raw" / "r.jpg"),
    ]
    (lib / "emptydir").mkdir()
    (lib / "emptydir").rmdir()
    (lib / "Private" / "sub").mkdir()  # a folder in an excluded one: not even reported
    wanted = write(lib / "Trips" / "keep.jpg")
    sidecar = write(lib / "Trips" / "keep.jpg.xmp")
    # Trips is new: files written before its watch is in place come as "created" only
    # (watchdog walks a new folder), so wait for any report.
    assert recorder.wait_for(sidecar)
    assert recorder.wait_for(wanted)
    assert recorder.wait_for(lib / "emptydir", "deleted")
    reported = recorder.paths()
    assert not reported & set(unwanted)
    assert lib / "Private" / "sub" not in reported
    assert lib / "Trips" in reported  # a new folder: "created"
    assert recorder.kinds(lib / "emptydir") == ["created", "deleted"]
    # folder "modified" events (one per change inside) are never reported
    assert all(not (p.is_dir() and k == "modified") for p, k in recorder.events)


def test_file_in_new_subfolders(lib: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    make_watcher([lib])
    deep = lib / "2024" / "Rome" / "day1"
    os.makedirs(deep)
    files = [write(deep / f"{i}.jpg") for i in range(3)]
    later = write(deep / "later.jpg")
    for f in [*files, later]:
        assert recorder.wait_for(f), f
    assert recorder.wait_for(lib / "2024", "created")


def test_moved_in_from_outside(
    lib: Path, tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    make_watcher([lib])
    outside = write(tmp_path / "outside" / "in.jpg")
    shutil.copytree(tmp_path / "outside", tmp_path / "outdir")
    os.rename(outside, lib / "in.jpg")
    # Renamed into place: whole, like a move inside the tree (the daemon need not wait
    # settle_time for it), although no "deleted" came first.
    assert recorder.wait_for(lib / "in.jpg", "moved")
    os.rename(tmp_path / "outdir", lib / "album")  # a folder moved in: its files reported
    assert recorder.wait_for(lib / "album" / "in.jpg")


def test_moves_inside_report_destination_and_source_deletion(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    make_watcher([lib])
    a = write(lib / "a.jpg")
    assert recorder.wait_for(a, "closed")
    (lib / "sub").mkdir()
    # Until its watch is in place a move into a new folder shows as a deletion and a
    # creation (watchdog's walk of the new folder); wait for it to get a clean "moved".
    assert recorder.wait_for(lib / "sub", "created")
    os.rename(a, lib / "sub" / "b.jpg")
    assert recorder.wait_for(lib / "sub" / "b.jpg", "moved")
    assert recorder.wait_for(a, "deleted")
    # Downloaded as a partial, renamed when complete: only the final name is reported.
    part = write(lib / "c.jpg.part")
    os.rename(part, lib / "c.jpg")
    assert recorder.wait_for(lib / "c.jpg", "moved")
    assert part not in recorder.paths()
    # A folder renamed: its files arrive as moves.
    os.rename(lib / "sub", lib / "renamed")
    assert recorder.wait_for(lib / "renamed" / "b.jpg", "moved")
    assert recorder.wait_for(lib / "renamed", "moved")


def test_reconfigure_adds_and_removes_roots(
    tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    w = make_watcher([a])
    w.reconfigure(AlbumRules([b]))
    assert w.watched_roots() == {b: "native"}
    gone = write(a / "x.jpg")
    seen = write(b / "y.jpg")
    assert recorder.wait_for(seen, "closed")
    assert gone not in recorder.paths()
    w.reconfigure(AlbumRules([a, b]))
    assert w.watched_roots() == {a: "native", b: "native"}
    again = write(a / "z.jpg")
    assert recorder.wait_for(again, "closed")


def test_reconfigure_with_new_exclusions_rewatches(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    (lib / "Private").mkdir()
    w = make_watcher([lib], ["Private"])
    w.reconfigure(AlbumRules([lib], []))  # Private is no longer excluded: needs a watch now
    f = write(lib / "Private" / "p.jpg")
    assert recorder.wait_for(f, "closed")
    w.reconfigure(AlbumRules([lib], ["Private"]))
    recorder.clear()
    write(lib / "Private" / "q.jpg")
    sentinel = write(lib / "s.jpg")
    assert recorder.wait_for(sentinel, "closed")
    assert recorder.paths() == {sentinel}


def test_missing_root_is_skipped_then_retried(
    tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    later = tmp_path / "usb"
    w = make_watcher([later])
    assert w.watched_roots() == {}
    assert "cannot watch" in caplog.text
    later.mkdir()
    w.reconfigure(AlbumRules([later]))
    assert w.watched_roots() == {later: "native"}
    f = write(later / "a.jpg")
    assert recorder.wait_for(f, "closed")


def test_nested_roots_share_one_watch_unless_a_hidden_folder_is_between(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    inner = lib / "inner"
    hidden_inner = lib / ".cache" / "photos"
    inner.mkdir()
    hidden_inner.mkdir(parents=True)
    w = make_watcher([lib, inner, hidden_inner])
    assert w.watched_roots() == {lib: "native", hidden_inner: "native"}
    f = write(inner / "a.jpg")
    g = write(hidden_inner / "b.jpg")
    assert recorder.wait_for(f, "closed")
    assert recorder.wait_for(g, "closed")
    assert recorder.kinds(f).count("closed") == 1


def test_ignored_and_excluded_folders_get_no_inotify_watch(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    for i in range(3):
        (lib / f"album{i}").mkdir()
    for i in range(20):
        (lib / "album0" / "@eaDir" / f"IMG_{i}.JPG").mkdir(parents=True)
        (lib / "Private" / f"d{i}").mkdir(parents=True)
        (lib / "#snapshot" / f"s{i}").mkdir(parents=True)
    before = inotify_watch_count()
    w = make_watcher([lib], ["Private"])
    assert inotify_watch_count() - before == 4  # lib and album0..2
    # Folders created later: a normal one gets a watch, an excluded one does not.
    (lib / "album1" / "Private").mkdir()
    (lib / "album1" / "new").mkdir()
    assert recorder.wait_for(lib / "album1" / "new", "created")
    assert inotify_watch_count() - before == 5
    w.stop()
    assert inotify_watch_count() == before


def test_queue_overflow_requests_a_rescan(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    overflows: list[int] = []
    w = make_watcher([lib], on_overflow=lambda: overflows.append(1))
    native = w._roots.native
    assert isinstance(native, InotifyBackend)
    (lib / "made-while-events-were-lost").mkdir()
    with native._lock:  # the reader thread takes it too
        native.handle([RawEvent(-1, IN_Q_OVERFLOW, 0, b"")])
    assert overflows == [1]
    assert "max_queued_events" in caplog.text
    # The walk after the overflow put a watch on the folder whose creation was lost.
    f = write(lib / "made-while-events-were-lost" / "after.jpg")
    assert recorder.wait_for(f, "closed")


def test_a_failing_callback_does_not_kill_the_watcher(
    lib: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()

    def flaky(path: Path, kind: str) -> None:
        if path.name == "boom.jpg":
            raise RuntimeError("boom")
        rec(path, kind)

    with FolderWatcher(AlbumRules([lib]), flaky):
        write(lib / "boom.jpg")
        f = write(lib / "fine.jpg")
        assert rec.wait_for(f, "closed")
    assert "boom" in caplog.text


def test_polling(lib: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    (lib / "Private").mkdir()
    w = make_watcher([lib], ["Private"], use_polling=True, poll_interval=0.05)
    assert w.watched_roots() == {lib: "polling"}
    write(lib / "Private" / "p.jpg")
    write(lib / ".hidden.jpg")
    f = write(lib / "sub" / "a.jpg")
    assert recorder.wait_for(f, "created")
    os.rename(f, lib / "b.jpg")
    assert recorder.wait_for(lib / "b.jpg", "moved")
    assert recorder.wait_for(f, "deleted")
    assert not {lib / "Private" / "p.jpg", lib / ".hidden.jpg"} & recorder.paths()
    w.stop()
    assert w.watched_roots() == {}


def test_start_stop_idempotent_and_context_manager(lib: Path) -> None:
    rec = Recorder()
    w = FolderWatcher(AlbumRules([lib]), rec)
    w.stop()
    with w:
        w.start()
        assert "native" in repr(w)
    w.stop()
    w.reconfigure(AlbumRules([lib]))  # while stopped: just remembered
    assert w.watched_roots() == {}


# --- running out of inotify watches: an injected failure ------------------------------------


def test_watch_limit_falls_back_to_polling(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    w = make_watcher([lib], poll_interval=0.05, observer_factory=NoWatchesBackend)
    assert w.watched_roots() == {lib: "polling"}
    text = caplog.text
    assert "fs.inotify.max_user_watches is " in text
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in text
    assert "/etc/sysctl.d/" in text
    f = write(lib / "a.jpg")
    assert recorder.wait_for(f, "created")


def test_instance_limit_falls_back_to_polling(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    def no_instances(hooks: WatchHooks) -> Backend:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    w = make_watcher([lib], poll_interval=0.05, observer_factory=no_instances)
    assert w.watched_roots() == {lib: "polling"}
    assert "fs.inotify.max_user_instances" in caplog.text
    f = write(lib / "a.jpg")
    assert recorder.wait_for(f, "created")


def test_reconfigure_retries_inotify_for_a_fallen_back_root(
    lib: Path, recorder: Recorder, make_watcher: MakeWatcher
) -> None:
    class LimitedBackend(InotifyBackend):  # real inotify; fails while "full"
        full = True

        def schedule(self, root: str) -> str:
            if LimitedBackend.full:
                raise OSError(errno.ENOSPC, "inotify watch limit reached")
            return super().schedule(root)

    w = make_watcher([lib], poll_interval=0.05, observer_factory=LimitedBackend)
    assert w.watched_roots() == {lib: "polling"}
    LimitedBackend.full = False  # the user raised the limit, then sent SIGHUP
    w.reconfigure(AlbumRules([lib]))
    assert w.watched_roots() == {lib: "native"}
    f = write(lib / "a.jpg")
    assert recorder.wait_for(f, "created")


# --- running out of inotify watches for real ------------------------------------------------


def test_real_watch_limit_in_a_user_namespace(tmp_path: Path) -> None:
    """Exhaust real inotify watches: at start (a root larger than the limit falls back to
    polling, a small root next to it stays on inotify) and at run time (new folders)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1)")
    probe = Path(__file__).with_name("limit_probe.py")
    proc = subprocess.run(
        [unshare, "-U", "-r", sys.executable, str(probe), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode == 77 or (proc.returncode != 0 and "unshare" in proc.stderr):
        pytest.skip(f"cannot lower the limit in a user namespace: {proc.stdout}{proc.stderr}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    big, small, grow = (str(tmp_path / n) for n in ("a_big", "b_small", "c_grow"))
    assert result["at_start"] == {big: "polling", small: "native", grow: "native"}
    (warning,) = result["warned_at_start"]
    assert f"inotify ran out of watches for {big}" in warning
    assert "sudo sysctl fs.inotify.max_user_watches=" in warning
    assert "/etc/sysctl.d/" in warning
    assert "user.max_inotify_watches" in warning  # the namespace's limit is the lower one
    assert result["polled_seen"] and result["native_seen"]
    assert result["switched"] and result["late_seen"]
    assert result["final"] == {big: "polling", small: "native", grow: "polling"}
