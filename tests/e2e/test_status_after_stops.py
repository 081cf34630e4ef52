"""``status`` after the last run stopped short never shows the earlier "✓" (issue 15).

Each test backs a library up (``status`` says ✓), adds a photo, then breaks one thing
for real -- the key revoked on the stand-in, the stand-in stopped, the state folder's
disk made read-only or full (a tmpfs, root only) -- runs ``once``, and reads ``status``
and ``status --json``: the headline says what is wrong, and ✓ comes back only after a
pass that finished.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from immich_standin import StandinServer
from immich_standin.library import JPEG

from .conftest import Setup, check_clean
from .test_daemon import Daemon, wait_until


def status(setup: Setup) -> dict:
    proc = setup.run("status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    first = setup.run("status").stdout.splitlines()[0]
    assert first == data["headline"]
    return data


def backed_up_then_new_photo(setup: Setup) -> None:
    assert setup.run("once").returncode == 0
    assert status(setup)["headline"] == "✓ Backup complete"
    (setup.lib.include[0] / "later.jpg").write_bytes(os.urandom(4096))


def test_a_revoked_key_is_the_headline_until_a_pass_finishes(server, make_setup):
    setup = make_setup(server)
    backed_up_then_new_photo(setup)
    server.state.revoke_api_key(server.api_key)
    assert setup.run("once").returncode == 77
    data = status(setup)
    assert data["state"] == "auth" and data["last_stop"]["reason"] == "auth"
    assert data["headline"].startswith("✗ The server refused the API key")
    assert "✓" not in setup.run("status").stdout.splitlines()[0]

    key = server.create_api_key(["all"])
    setup.config.parent.joinpath("api-key").write_text(key + "\n")
    assert setup.run("once").returncode == 0
    data = status(setup)
    assert (data["state"], data["last_stop"]) == ("complete", None)


def test_a_server_gone_is_the_headline(make_setup):
    with StandinServer(version="3.1.0") as srv:
        setup = make_setup(srv)
        backed_up_then_new_photo(setup)
        check_clean(srv)
    proc = setup.run("once")
    assert proc.returncode == 69, proc.stderr
    data = status(setup)
    assert data["state"] == "offline"
    assert data["headline"] == ("✗ The Immich server could not be reached at the last "
                                "backup: the rest follows when it answers again")


def test_an_unsupported_server_is_the_headline(make_setup, tmp_path):
    with StandinServer(version="3.1.0") as srv:
        setup = make_setup(srv)
        backed_up_then_new_photo(setup)
    with StandinServer(version="1.106.0") as old:
        setup.config.write_text(setup.config.read_text().replace(srv.url, old.url))
        assert setup.run("once").returncode == 69
    assert status(setup)["state"] == "unsupported"


@pytest.fixture
def state_disk(tmp_path) -> Iterator[Path]:
    """A 2 MiB tmpfs for the state folder (root only)."""
    mnt = tmp_path / "statefs"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
            capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def on_disk(setup: Setup, mnt: Path) -> Setup:
    setup.config.write_text(setup.config.read_text().replace(
        json.dumps(str(setup.state_dir)), json.dumps(str(mnt / "state"))))
    return Setup(tmp=setup.tmp, lib=setup.lib, config=setup.config, state_dir=mnt / "state")


def test_a_read_only_state_disk_is_said_by_status(server, make_setup, state_disk):
    setup = on_disk(make_setup(server), state_disk)
    backed_up_then_new_photo(setup)
    subprocess.run(["mount", "-o", "remount,ro", str(state_disk)], check=True)
    assert setup.run("once").returncode == 74
    proc = setup.run("status")  # SQLite cannot open a WAL database there: one line, 74
    assert proc.returncode == 74 and proc.stdout == ""
    assert "is on a read-only disk" in proc.stderr and "chown" not in proc.stderr


def test_a_full_state_disk_then_the_pass_it_cut_off(server, make_setup, state_disk):
    setup = on_disk(make_setup(server), state_disk)
    backed_up_then_new_photo(setup)
    filler = state_disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True,
                   check=False)
    assert setup.run("once").returncode == 74
    proc = setup.run("status")  # not even room to read (SQLite's shared memory file)
    assert proc.returncode == 74 and proc.stdout == ""
    assert f"no space left for the state folder {setup.state_dir}" in proc.stderr
    with filler.open("r+b") as f:  # room to read, not for a pass
        f.truncate(filler.stat().st_size - 200_000)
    data = status(setup)
    assert data["state"] == "state" and data["last_stop"]["detail"] == "full"
    assert data["headline"] == (f"✗ The disk of the state folder {setup.state_dir} is "
                                "full: nothing is backed up until there is room")

    # A pass cut off (its row never closed: killed, or the disk filled up under it),
    # with room again: not the ✓ of the pass before it.
    filler.unlink()
    import sqlite3
    conn = sqlite3.connect(setup.state_dir / "state.sqlite3")
    with conn:
        conn.execute("INSERT INTO passes(started_at, outcome) VALUES(1e9, 'running')")
    conn.close()
    data = status(setup)
    assert data["state"] == "interrupted"
    assert data["headline"].startswith("✗ The last backup was cut off")
    assert setup.run("once").returncode == 0
    assert status(setup)["state"] == "complete"


def test_a_daemon_stopped_mid_upload_says_stopped_not_being_written(server, make_setup,
                                                                    tmp_path):
    """A pass left new photos as being written; the next took them and was stopped
    (SIGTERM) mid-upload. status said "⏸ 10 files are still being written" from the
    first pass's record, of files written long before, not that the backup stopped."""
    setup = make_setup(server, concurrency=1, trigger_delay="300ms", max_delay="2s",
                       settle_time="3s")
    daemon = Daemon(setup, tmp_path)
    stopped = False
    try:
        daemon.wait_notify(lambda m: m == "READY=1")
        wait_until(lambda: status(setup)["state"] == "complete", 30, "the first backup")
        server.faults.throttle("POST", "/api/assets", bytes_per_second=40_000)
        folder = setup.lib.include[0] / "Slow"
        folder.mkdir()
        for i in range(10):
            (folder / f"s{i}.jpg").write_bytes(JPEG + os.urandom(60_000))
        wait_until(lambda: status(setup)["being_written"]["count"] == 10, 15, "held")
        created = server.state.counters.created
        wait_until(lambda: server.state.counters.created > created, 30, "an upload")
        assert daemon.stop() == 0, daemon.stderr()
        stopped = True
    finally:
        if not stopped:
            daemon.kill()
    assert "pass stopped" in daemon.stderr()
    data = status(setup)
    assert data["state"] == "stopped", data["headline"]
    assert data["being_written"]["count"] == 0
