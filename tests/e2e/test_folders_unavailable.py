"""Folders that are not there or cannot be read: never "✓", nothing forgotten, waited for.

A USB disk or a share not mounted (yet) is waited for by the daemon and reported by
`once` (exit 1); a folder that goes away after it was backed up never looks like "every
file in it was deleted", and nothing is uploaded again when it comes back. A folder the
service user cannot read is a problem shown in `once`, `status` and its exit code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from immich_standin.library import JPEG

from .conftest import server_assets
from .test_daemon import Daemon, wait_until


def test_a_folder_that_goes_away_is_waited_for_and_nothing_is_forgotten(server, make_setup):
    setup = make_setup(server)
    phone = setup.lib.include[1]
    assert setup.run("once").returncode == 0
    n = len(setup.lib.expected)

    # Unmounted: the mount point stays, empty.
    away = setup.tmp / "away"
    shutil.move(phone, away)
    phone.mkdir()
    empty = setup.run("once")
    assert empty.returncode == 1, empty.stdout + empty.stderr
    assert "✓" not in empty.stdout
    assert f"⏸ Waiting for {phone} (empty: not mounted?)" in empty.stdout
    status = setup.json("status")
    assert status["state"] == "waiting"
    assert status["headline"] == f"⏸ Waiting for {phone} (empty: not mounted?)"
    assert status["backed_up"] == status["total"] == n  # nothing taken for deleted
    assert status["folder_problems"] == [{"path": str(phone), "kind": "missing",
                                          "detail": "empty"}]

    # Not there at all.
    phone.rmdir()
    gone = setup.run("once")
    assert gone.returncode == 1 and f"⏸ Waiting for {phone} (not mounted)" in gone.stdout
    text = setup.run("status").stdout
    assert text.splitlines()[0] == f"⏸ Waiting for {phone} (not mounted)"
    assert "Backup complete" not in text
    check = setup.run("check")
    assert f"Waiting for {phone} (not mounted)" in check.stdout, check.stdout

    # Back: nothing uploaded, nothing even read again.
    shutil.move(away, phone)
    uploads = server.state.counters.upload_requests
    back = setup.run("once")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "✓ Backup complete" in back.stdout
    assert server.state.counters.upload_requests == uploads
    assert setup.last_pass()["hashed"] == 0
    status = setup.json("status")
    assert status["state"] == "complete" and status["folder_problems"] == []
    assert status["backed_up"] == status["total"] == n


@contextmanager
def once_unable_to_read(setup, folder: Path) -> Iterator[subprocess.CompletedProcess[str]]:
    """``once`` run while ``folder`` is mode 000, which it stays for the block (readable
    again after). As root, ``once`` runs under setpriv without the capabilities that read
    everything. Skips the test where the folder cannot be made unreadable."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv(1): cannot make a folder unreadable")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    folder.chmod(0)
    try:
        proc = setup.run("once", prefix=prefix)
        if "Permission denied" not in proc.stderr + proc.stdout and proc.returncode == 0:
            pytest.skip("this machine lets the test read a mode-000 folder")
        yield proc
    finally:
        folder.chmod(0o755)


def test_an_unreadable_folder_is_a_problem_everywhere(server, make_setup):
    setup = make_setup(server)
    locked = setup.lib.include[0] / "2024" / "Locked"
    locked.mkdir(parents=True)
    (locked / "secret.jpg").write_bytes(JPEG + os.urandom(1000))
    with once_unable_to_read(setup, locked) as proc:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "✓" not in proc.stdout
        assert f"✗ Cannot read {locked}: permission denied" in proc.stdout
        assert set(server_assets(server)) == set(setup.lib.expected.values())  # the rest
        status = setup.json("status")
        assert status["state"] == "failed"
        assert status["headline"] == f"✗ Cannot read {locked}: permission denied"
    # Readable again: complete.
    again = setup.run("once")
    assert again.returncode == 0 and "✓ Backup complete" in again.stdout
    assert setup.json("status")["folder_problems"] == []


def test_one_failed_file_and_one_unreadable_folder_never_say_done(server, make_setup):
    """Issue 14, point 7: a pass with a file that failed after its last try and a folder
    it cannot read prints no ✓, exits 1, and status says what is not backed up."""
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    folder = setup.lib.include[0] / "2024" / "Later"
    folder.mkdir(parents=True)
    (folder / "IMG_9001.jpg").write_bytes(JPEG + os.urandom(3000))
    locked = setup.lib.include[0] / "2024" / "Locked"
    locked.mkdir()
    (locked / "secret.jpg").write_bytes(JPEG + os.urandom(1000))
    server.faults.fail("POST", "/api/assets", 500, times=None)  # every try of the new file
    with once_unable_to_read(setup, locked) as proc:
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "✓" not in proc.stdout and "complete" not in proc.stdout.lower(), out
        assert f"Cannot read {locked}" in proc.stdout
        assert "1 failed" in proc.stdout and "IMG_9001.jpg" in out
        assert [Path(f["path"]).name for f in setup.json("failed")] == ["IMG_9001.jpg"]
        status = setup.json("status")
        assert status["state"] == "failed"
        assert not status["headline"].startswith("✓")
        text = setup.run("status").stdout
        assert "✓" not in text.splitlines()[0] and "Backup complete" not in text


def test_the_daemon_waits_for_a_missing_folder_then_backs_it_up(server, make_setup, tmp_path):
    setup = make_setup(server, trigger_delay="300ms", max_delay="3s")
    usb = tmp_path / "usb" / "Photos"
    config = setup.config.read_text().replace(
        f'"{setup.lib.include[1]}"', f'"{setup.lib.include[1]}", "{usb}"')
    setup.config.write_text(config)
    d = Daemon(setup, tmp_path)
    try:
        d.wait_notify(lambda m: m == "READY=1")
        expected = set(setup.lib.expected.values())
        wait_until(lambda: set(server_assets(server)) == expected, 30, "the first backup")
        wait_until(lambda: setup.json("status")["state"] == "waiting", 10, "the waiting state")
        status = setup.json("status")
        assert status["headline"] == f"⏸ Waiting for {usb} (not mounted)"
        assert any(m == f"STATUS=Waiting for {usb} (not mounted)" for m in d.lines())

        # It appears (a late mkdir, a disk): its photos go up within seconds.
        usb.mkdir(parents=True)
        (usb / "late.jpg").write_bytes(JPEG + os.urandom(5000))
        start = time.monotonic()
        wait_until(lambda: len(server_assets(server)) == len(expected) + 1, 15,
                   "the photo in the folder that appeared")
        assert time.monotonic() - start < 15
        wait_until(lambda: setup.json("status")["state"] == "complete", 10, "complete")
    finally:
        assert d.stop() == 0, d.stderr()
