"""The watcher proves itself (a blind backend falls back to polling), and notices mounts."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from immich_backupd.scan.rules import AlbumRules
from immich_backupd.watch.mountwatch import affected_roots, changed_mount_points, mount_points
from immich_backupd.watch.observer import FolderWatcher
from tests.watch_doubles import BlindBackend

from .conftest import Recorder

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/usb\\040disk rw shared:20 - vfat /dev/sdb1 rw
41 22 0:36 / /srv/photos rw - nfs4 nas:/photos rw
"""


def test_mount_points_decode_escapes() -> None:
    assert mount_points(MOUNTINFO) == {("22", "/"), ("40", "/mnt/usb disk"),
                                       ("41", "/srv/photos")}
    assert mount_points("garbage\n\n") == frozenset()


def test_changed_mount_points_sees_a_new_mount_at_the_same_place() -> None:
    before = mount_points(MOUNTINFO)
    after = mount_points(MOUNTINFO.replace("41 22 0:36", "57 22 0:44"))
    assert changed_mount_points(before, after) == {"/srv/photos"}
    assert changed_mount_points(before, before) == set()


def test_affected_roots_at_below_and_above() -> None:
    roots = [Path("/srv/photos/phone"), Path("/home/a/Pictures"), Path("/mnt/usb disk")]
    assert affected_roots(roots, {"/srv/photos"}) == {Path("/srv/photos/phone")}
    assert affected_roots(roots, {"/home/a/Pictures/Trips"}) == {Path("/home/a/Pictures")}
    assert affected_roots(roots, {"/mnt/usb disk"}) == {Path("/mnt/usb disk")}
    assert affected_roots(roots, {"/home/b", "/mnt/usb"}) == set()


@pytest.mark.skipif(sys.platform != "linux", reason="inotify")
def test_probe_with_real_inotify_passes(tmp_path: Path, recorder: Recorder) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with FolderWatcher(AlbumRules([lib]), recorder) as w:
        assert w.probe(tmp_path / "state" / "watch-probe")
        assert not w.blind and w.watched_roots() == {lib: "native"}
        assert list((tmp_path / "state" / "watch-probe").iterdir()) == []  # cleaned up
        f = lib / "a.jpg"
        f.write_bytes(b"x")
        assert recorder.wait_for(f, "closed")
    assert not recorder.paths() & {tmp_path / "state" / "watch-probe"}


def test_a_blind_backend_falls_back_to_polling(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    lib = tmp_path / "lib"
    lib.mkdir()
    w = FolderWatcher(AlbumRules([lib]), recorder, poll_interval=0.05,
                      observer_factory=BlindBackend)
    with w:
        assert w.watched_roots() == {lib: "native"}
        assert not w.probe(tmp_path / "probe", timeout=0.5)
        assert w.blind
        assert w.watched_roots() == {lib: "polling"}
        assert "file watching does not work here" in caplog.text
        assert "polling every 0.05 s" in caplog.text
        f = lib / "a.jpg"
        f.write_bytes(b"x")
        assert recorder.wait_for(f, "created")
        # A reload tries native watching again; the daemon probes once more after it.
        w.reconfigure(AlbumRules([lib]))
        assert not w.blind and w.watched_roots() == {lib: "native"}
        assert not w.probe(tmp_path / "probe", timeout=0.2)
        assert w.watched_roots() == {lib: "polling"}


def test_probe_without_native_watching_has_nothing_to_prove(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with FolderWatcher(AlbumRules([lib]), Recorder(), use_polling=True,
                       poll_interval=0.05) as w:
        assert w.probe(tmp_path / "probe", timeout=0.2)
        assert not w.blind


# --- a filesystem mounted over a watched folder, for real --------------------------------


def test_a_mount_over_a_watched_folder_is_watched_and_rescanned(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        pytest.skip("needs unshare(1) on Linux")
    probe = Path(__file__).with_name("mount_probe.py")
    proc = subprocess.run(
        [unshare, "-U", "-r", "-m", "--propagation", "private", sys.executable, str(probe),
         str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and ("unshare" in proc.stderr or "mount" in proc.stderr):
        pytest.skip(f"cannot mount in a user namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    lib = str(tmp_path / "lib")
    assert result["rescans_after_mount"] == [lib]
    assert result["seen_on_mount"], "a photo written into the new mount was not reported"
    assert result["rescans_after_umount"] == [lib, lib]
    assert result["seen_after_umount"], "the folder under the mount is no longer watched"
