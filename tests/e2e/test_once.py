"""`immich-backupd once` end to end: a generated library, the real CLI, the stand-in server."""

from __future__ import annotations

import shutil

import pytest

from immich_backupd.immich.versions import format_duration_v2
from immich_standin import StandinServer
from immich_standin.library import touch_later

from .conftest import check_clean, server_albums, server_assets


def assert_backed_up(srv: StandinServer, setup) -> None:
    lib = setup.lib
    assets = server_assets(srv)
    assert set(assets) == set(lib.expected.values())
    albums = server_albums(srv)
    assert albums == lib.albums
    for still, video in lib.live_pairs:
        s, v = assets[lib.expected[still]], assets[lib.expected[video]]
        assert s.live_photo_video_id == v.id
        assert v.visibility == "hidden"
    for media, sidecar in lib.sidecars.items():
        assert assets[lib.expected[media]].sidecar == sidecar.read_bytes()
    for video, ms in lib.durations.items():
        assert assets[lib.expected[video]].duration in (str(ms), format_duration_v2(ms))


def test_first_backup_then_nothing_to_do(server: StandinServer, make_setup):
    setup = make_setup(server, big_file_mb=300)
    first = setup.run("once")
    assert first.returncode == 0, first.stderr
    assert_backed_up(server, setup)
    n = len(setup.lib.expected)
    assert server.state.counters.created == n
    assert f"{n} uploaded" in first.stdout
    assert setup.last_pass()["hashed"] == n
    with server.state.lock:
        calls = [(r.method, r.path) for r in server.state.requests]
    assert calls.count(("GET", "/api/albums")) == 1  # looked up once per pass
    assert calls.count(("POST", "/api/albums")) == len(setup.lib.albums)

    before = server.state.counters
    uploads, checks = before.upload_requests, before.bulk_checks
    second = setup.run("once")
    assert second.returncode == 0, second.stderr
    assert server.state.counters.upload_requests == uploads  # uploads nothing
    assert server.state.counters.bulk_checks == checks  # asks nothing
    last = setup.last_pass()
    assert last["hashed"] == 0 and last["seen"] == n  # opens nothing
    assert_backed_up(server, setup)

    status = setup.json("status")
    assert status["backed_up"] == n == status["total"]
    assert status["failed"] == 0 and status["last_backup_at"]
    assert status["server"]["version"] == "3.1.0"
    assert status["albums"]["Holiday"] == len(setup.lib.albums["Holiday"])


@pytest.mark.parametrize("version", ["2.7.0", "3.1.0"])
def test_each_supported_version(version: str, make_setup):
    with StandinServer(version=version) as srv:
        setup = make_setup(srv)
        proc = setup.run("once")
        assert proc.returncode == 0, proc.stderr
        assert_backed_up(srv, setup)
        with srv.state.lock:
            assets = list(srv.state.assets.values())
        if version.startswith("2."):
            assert all(a.device_id and a.device_asset_id for a in assets)
            # one device id per install, kept across runs
            assert len({a.device_id for a in assets}) == 1
        else:
            assert all(a.device_id is None for a in assets)
        check_clean(srv)


def test_modified_file_goes_up_again_moved_and_copied_files_do_not(server, make_setup):
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    lib = setup.lib
    holiday = lib.include[0] / "2024" / "Holiday"
    edited = holiday / "IMG_1000.jpg"
    with edited.open("ab") as fh:
        fh.write(b"edited")
    touch_later(edited)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.counters.created == len(lib.expected) + 1
    assert lib.sha1_of(edited) in server_assets(server)

    # Moved on the same disk: same inode, size, mtime: not read, not checked, not sent.
    counters = server.state.counters
    uploads, checks = counters.upload_requests, counters.bulk_checks
    moved_to = lib.include[0] / "2024" / "Family" / "IMG_1001.jpg"
    (holiday / "IMG_1001.jpg").rename(moved_to)
    # Copied: a new inode, so hashed once, but its content is known: not sent.
    copied = lib.include[1] / "DCIM" / "Copies" / "IMG_1002.jpg"
    copied.parent.mkdir()
    shutil.copy2(holiday / "IMG_1002.jpg", copied)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.counters.upload_requests == uploads
    assert server.state.counters.bulk_checks == checks
    assert setup.last_pass()["hashed"] == 1  # the copy only
    albums = server_albums(server)
    assert lib.sha1_of(moved_to) in albums["Family"]
    assert lib.sha1_of(copied) in albums["Copies"]


def test_second_runner_is_refused_while_the_lock_is_held(server, make_setup):
    from immich_backupd.state.lock import RunLock

    setup = make_setup(server)
    with RunLock(setup.state_dir):
        proc = setup.run("once")
    assert proc.returncode == 75
    assert "holds the lock" in proc.stderr
    assert server.state.counters.upload_requests == 0


def test_deleted_files_leave_the_counts_but_stay_on_the_server(server, make_setup):
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    n = len(setup.lib.expected)
    holiday = setup.lib.include[0] / "2024" / "Holiday"
    (holiday / "IMG_1000.jpg").unlink()
    (holiday / "IMG_1001.jpg").rename(holiday / "renamed.jpg")
    assert setup.run("once").returncode == 0
    status = setup.json("status")
    assert status["total"] == status["backed_up"] == n - 1
    assert status["albums"]["Holiday"] == len(setup.lib.albums["Holiday"]) - 1
    assert set(server_assets(server)) == set(setup.lib.expected.values())  # nothing deleted
