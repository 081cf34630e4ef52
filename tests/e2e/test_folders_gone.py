"""Folders whose photos are all gone: their records are forgotten, so counts stay true
and a failure of a file that is gone does not keep the status from ✓ for ever; an empty
folder (maybe a disk's mount point) is no proof of deletion (pipeline/gonefolders.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from immich_standin.library import JPEG

from .conftest import Setup, server_assets, write_config
from .test_daemon import Daemon, wait_until


def photos(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(JPEG + os.urandom(400))


def setup_library(server, tmp_path: Path, **backup) -> Setup:
    root = tmp_path / "lib"
    photos(root / "Rome", "a.jpg", "b.jpg")
    photos(root / "Paris", "c.jpg", "d.jpg")
    photos(root / "2019" / "Oslo" / "deep", "e.jpg")
    photos(root / "2019" / "Bergen", "f.jpg")
    photos(root / "Stay", "g.jpg")
    config = write_config(tmp_path, server, None, albums={"include": [str(root)]}, **backup)
    return Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                 state_dir=tmp_path / "state")


def totals(setup: Setup) -> tuple[int, int, int]:
    s = setup.json("status")
    return s["backed_up"], s["total"], s["failed"]


def test_a_folder_emptied_or_deleted_is_forgotten_and_the_server_keeps_its_copies(
        server, tmp_path):
    setup = setup_library(server, tmp_path)
    assert setup.run("once").returncode == 0
    assert totals(setup) == (7, 7, 0)
    root = tmp_path / "lib"
    for name in ("a.jpg", "b.jpg"):  # Rome keeps only a note: listed, no media
        (root / "Rome" / name).unlink()
    (root / "Rome" / "notes.txt").write_text("moved the photos away")
    shutil.rmtree(root / "Paris")  # deleted
    shutil.rmtree(root / "2019" / "Oslo")  # deleted with a folder inside; 2019 keeps Bergen
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert totals(setup) == (2, 2, 0)  # Bergen and Stay
    assert len(server_assets(server)) == 7  # a backup, not a sync: nothing deleted there
    assert setup.run("once").returncode == 0 and totals(setup) == (2, 2, 0)


def test_an_empty_folder_or_one_below_it_may_be_an_unplugged_disk_and_is_kept(
        server, tmp_path):
    setup = setup_library(server, tmp_path)
    assert setup.run("once").returncode == 0
    root = tmp_path / "lib"
    for name in ("a.jpg", "b.jpg"):  # Rome now empty: a mount point without its disk?
        (root / "Rome" / name).unlink()
    shutil.rmtree(root / "2019")  # 2019/Oslo/deep and 2019/Bergen gone, 2019 too...
    (root / "2019").mkdir()  # ...and 2019 there again, empty: an unplugged disk's mount point
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert totals(setup) == (7, 7, 0)  # nothing forgotten: the disk may come back


def test_a_failed_file_whose_folder_was_deleted_no_longer_keeps_the_status_from_done(
        server, tmp_path):
    setup = setup_library(server, tmp_path)
    server.faults.fail("POST", "/api/assets", 500, times=None)
    assert setup.run("once").returncode == 1
    server.faults.clear()
    shutil.rmtree(tmp_path / "lib" / "Paris")
    lib = tmp_path / "lib"  # the others now; Paris's failures are not retried by hand
    assert setup.run("retry", *(str(lib / f) for f in ("Rome", "2019", "Stay"))).returncode == 0
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    backed_up, total, failed = totals(setup)
    assert (backed_up, total, failed) == (5, 5, 0)
    assert setup.json("failed") == []


def test_the_daemon_forgets_a_folder_deleted_or_emptied_while_it_watches(server, tmp_path):
    """The daemon's pass for a deleted folder looks at that folder (gone, so not walked)
    or its parent (walked, not below): it forgot nothing, so the deleted photos stayed
    counted as backed up until a full rescan (by default an hour later)."""
    setup = setup_library(server, tmp_path, trigger_delay="300ms", max_delay="2s")
    daemon = Daemon(setup, tmp_path)
    try:
        daemon.wait_notify(lambda m: m == "READY=1")
        wait_until(lambda: totals(setup) == (7, 7, 0), 30, "the first backup")
        root = tmp_path / "lib"
        shutil.rmtree(root / "Paris")  # deleted while watched
        wait_until(lambda: totals(setup) == (5, 5, 0), 15, "Paris forgotten")
        shutil.rmtree(root / "2019" / "Oslo")  # a folder with a folder inside
        wait_until(lambda: totals(setup) == (4, 4, 0), 15, "2019/Oslo/deep forgotten")
        for name in ("a.jpg", "b.jpg"):  # Rome keeps only a note
            (root / "Rome" / name).unlink()
        (root / "Rome" / "notes.txt").write_text("moved the photos away")
        wait_until(lambda: totals(setup) == (2, 2, 0), 15, "Rome forgotten")
        photos(root / "Stay", "h.jpg")  # a later pass: nothing comes back
        wait_until(lambda: totals(setup) == (3, 3, 0), 15, "the new photo")
    finally:
        assert daemon.stop() == 0, daemon.stderr()
    assert "Traceback" not in daemon.stderr()
    assert len(server_assets(server)) == 8  # a backup, not a sync: nothing deleted there


def test_a_folder_renamed_while_the_daemon_watches_takes_its_tags_along(server, tmp_path):
    """The daemon's first pass after a rename holds the moved files (their events are
    fresh) and finds the old folder gone: forgetting its records there left the next
    pass nothing to find the moves by (inode), so the old folder-path tag stayed."""
    root = tmp_path / "lib"
    photos(root / "A" / "Rome", "a.jpg", "b.jpg")
    config = write_config(tmp_path, server, None, trigger_delay="300ms", max_delay="2s",
                          albums={"include": [{"path": str(root), "folder_as_tags": True}]})
    setup = Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                  state_dir=tmp_path / "state")

    def tags() -> list[list[str]]:
        with server.state.lock:
            names = {t.id: t.value for t in server.state.tags.values()}
            return sorted(sorted(names[i] for i in a.tag_ids)
                          for a in server.state.assets.values())

    daemon = Daemon(setup, tmp_path)
    try:
        daemon.wait_notify(lambda m: m == "READY=1")
        wait_until(lambda: tags() == [["A/Rome"], ["A/Rome"]], 30, "the first backup")
        (root / "A" / "Rome").rename(root / "A" / "Roma")
        wait_until(lambda: tags() == [["A/Roma"], ["A/Roma"]], 20, "the tags of Roma")
        wait_until(lambda: totals(setup) == (2, 2, 0), 10, "the moves counted once")
    finally:
        assert daemon.stop() == 0, daemon.stderr()
    assert server.state.counters.created == 2
