"""The state knows whose memory it is, and learns what was trashed or deleted in Immich.

The real CLI against the stand-in: a state pointed at another (empty) server or another
user uploads everything there and says why; ``verify`` (and ``backup.verify_interval``)
sees trash and deletions, which are counted, not uploaded again, and uploaded again by
``retry --deleted``.
"""

from __future__ import annotations

import sqlite3

import pytest

from immich_standin import StandinServer

from .conftest import check_clean, server_assets, write_config


def _backed_up(setup, srv):
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(server_assets(srv)) == len(setup.lib.expected)
    return proc


@pytest.mark.parametrize("version", ["3.1.0", "2.7.0"])
def test_the_same_state_on_an_empty_server_uploads_everything_there_and_says_why(
        server, make_setup, version):
    setup = make_setup(server)
    _backed_up(setup, server)
    with StandinServer(version=version) as other:
        write_config(setup.tmp, other, setup.lib)
        proc = setup.run("once")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        n = len(setup.lib.expected)
        assert {a.checksum_hex for a in server_assets(other).values()} == \
            set(setup.lib.expected.values())
        assert "another server or user" in proc.stdout  # said once, in words
        assert f"0 of the {n} files known were already there" in proc.stdout
        assert "another server or user" in proc.stderr  # and in the log
        status = setup.json("status")
        assert status["backed_up"] == status["total"] == n
        assert status["counts"].get("pending", 0) == 0
        assert status["state"] == "complete"
        # Recorded: the next pass is an ordinary one.
        again = setup.run("once")
        assert again.returncode == 0 and "another server" not in again.stdout
        assert other.state.counters.created == n
        check_clean(other)
    # Nothing was uploaded twice to the first server either.
    assert server.state.counters.created == len(setup.lib.expected)


def test_another_users_key_on_the_same_server_gets_its_own_copy(server, make_setup):
    setup = make_setup(server)
    _backed_up(setup, server)
    user, key = server.state.add_user_with_key(email="second@example.com")
    write_config(setup.tmp, server, setup.lib, api_key=key)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "second@example.com" in proc.stdout
    mine = [a for a in server.state.assets.values() if a.owner_id == user.id]
    assert len(mine) == len(setup.lib.expected)


def test_a_state_from_an_older_release_on_a_wiped_server_uploads_again(server, make_setup):
    """No identity recorded (an older release) and the same address: a server with
    none of the files the state says it has is a new or emptied one."""
    setup = make_setup(server)
    _backed_up(setup, server)
    conn = sqlite3.connect(setup.state_dir / "state.sqlite3")
    with conn:
        conn.execute("DELETE FROM meta WHERE key IN ('server_identity', 'last_verify')")
    conn.close()
    for asset in list(server.state.assets.values()):
        server.state.delete_asset(asset.id)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert len(server_assets(server)) == len(setup.lib.expected)
    assert setup.json("status")["deleted_on_server"] == 0


def _trash_and_delete(server, setup):
    """Trash one backed-up photo and delete two for good; their checksums."""
    assets = sorted(server_assets(server).values(), key=lambda a: a.original_file_name)
    images = [a for a in assets if a.type == "IMAGE"]
    trashed, deleted = images[0], images[1:3]
    server.state.trash_asset(trashed.id)
    for asset in deleted:
        server.state.delete_asset(asset.id)
    return trashed, deleted


def test_verify_counts_trash_and_deletions_and_they_are_not_uploaded_again(
        server, make_setup):
    setup = make_setup(server, photos=8)
    _backed_up(setup, server)
    trashed, deleted = _trash_and_delete(server, setup)
    created = server.state.counters.created
    proc = setup.run("verify")
    assert proc.returncode == 0, proc.stderr
    assert "2 files were deleted in Immich; they stay on this disk and are not uploaded " \
        "again" in proc.stdout
    assert "1 file is in the Immich trash" in proc.stdout
    assert deleted[0].original_file_name in proc.stdout  # listed by name
    status = setup.json("status")
    assert status["deleted_on_server"] == 2 and status["trashed"] == 1
    assert status["backed_up"] == status["total"] - 3
    assert status["last_verify"]["deleted"] == 2
    screen = setup.run("status").stdout
    assert "2 files were deleted in Immich" in screen
    assert "1 file is in the Immich trash: restore it there" in screen
    # Not uploaded again by the passes that follow.
    assert setup.run("once").returncode == 0
    assert server.state.counters.created == created
    # The trashed one emptied from the trash: deleted, not "in the trash" any more.
    server.state.delete_asset(trashed.id)
    setup.run("verify")
    status = setup.json("status")
    assert status["deleted_on_server"] == 3 and status["trashed"] == 0
    assert "Immich trash" not in setup.run("status").stdout
    # retry --all is about failures; it points at --deleted.
    assert "retry --deleted" in setup.run("retry", "--all").stdout
    # retry --deleted uploads them again.
    proc = setup.run("retry", "--deleted")
    assert proc.returncode == 0 and "3 files deleted in Immich will be uploaded again" \
        in proc.stdout
    assert setup.json("status")["state"] == "pending"
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.counters.created == created + 3
    assert len(server_assets(server)) == len(setup.lib.expected)
    status = setup.json("status")
    assert status["deleted_on_server"] == 0 and status["backed_up"] == status["total"]


def test_a_restored_file_counts_as_backed_up_after_the_next_verify(server, make_setup):
    setup = make_setup(server)
    _backed_up(setup, server)
    asset = next(a for a in server_assets(server).values() if a.type == "IMAGE")
    server.state.trash_asset(asset.id)
    setup.run("verify")
    assert setup.json("status")["trashed"] == 1
    server.state.restore_asset(asset.id)
    proc = setup.run("verify")
    assert "1 file is on the server again" in proc.stdout
    status = setup.json("status")
    assert status["trashed"] == 0 and status["backed_up"] == status["total"]


def test_verify_interval_runs_it_at_the_start_of_a_pass(server, make_setup):
    setup = make_setup(server)
    _backed_up(setup, server)
    _trash_and_delete(server, setup)
    # The default (a day): the pass right after does not ask again.
    proc = setup.run("once")
    assert "deleted in Immich" not in proc.stdout
    assert setup.json("status")["deleted_on_server"] == 0
    write_config(setup.tmp, server, setup.lib, verify_interval="1ms")
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "2 files were deleted in Immich" in proc.stdout
    assert "1 file is in the Immich trash" in proc.stdout
    status = setup.json("status")
    assert status["deleted_on_server"] == 2 and status["trashed"] == 1


def test_verify_without_a_server_exits_69(make_setup, tmp_path):
    with StandinServer(version="3.1.0") as srv:
        setup = make_setup(srv)
        _backed_up(setup, srv)
    proc = setup.run("verify")
    assert proc.returncode == 69
    assert "cannot reach" in proc.stderr


def test_another_server_that_fails_the_check_gets_no_pass_until_it_answers(
        server, make_setup):
    setup = make_setup(server)
    _backed_up(setup, server)
    with StandinServer(version="3.1.0") as other:
        write_config(setup.tmp, other, setup.lib)
        other.faults.fail("POST", "/api/assets/bulk-upload-check", 500, times=None)
        proc = setup.run("once")
        assert proc.returncode == 69, proc.stdout + proc.stderr
        assert "✓" not in proc.stdout
        assert other.state.counters.created == 0
        other.faults.clear()
        proc = setup.run("once")
        assert proc.returncode == 0, proc.stderr
        assert "another server or user" in proc.stdout
        assert len(server_assets(other)) == len(setup.lib.expected)


def test_a_scheduled_verify_that_fails_leaves_the_pass_alone(server, make_setup):
    setup = make_setup(server, verify_interval="1ms")
    _backed_up(setup, server)
    _trash_and_delete(server, setup)
    server.faults.fail("POST", "/api/assets/bulk-upload-check", 500, times=None)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "verify against the server failed" in proc.stderr
    assert setup.json("status")["deleted_on_server"] == 0  # nothing learnt, nothing guessed
    server.faults.clear()
    assert "2 files were deleted in Immich" in setup.run("once").stdout
