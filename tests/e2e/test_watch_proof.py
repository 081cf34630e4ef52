"""The daemon proves its file watching: blind (a backend that delivers nothing), it polls,
warns and says so in `status`, the STATUS= line and `check`; and a filesystem mounted
over an include folder while it runs is backed up within seconds."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from immich_backupd.cli.check_local import check_watching
from immich_backupd.cli.check_screen import Screen
from immich_backupd.config import load_settings
from immich_backupd.daemon.core import Daemon
from immich_backupd.daemon.watching import POLL_INTERVAL
from immich_standin.library import JPEG
from tests.watch_doubles import BlindBackend

from .conftest import REPO, server_assets, until

TRIGGER = 0.3
PROBLEM = f"file watching does not work here: polling every {POLL_INTERVAL:g} s"


async def test_a_blind_watcher_polls_and_says_so(server, make_setup, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    setup = make_setup(server, trigger_delay=f"{int(TRIGGER * 1000)}ms", max_delay="3s")
    settings = load_settings(setup.config)
    daemon = Daemon(setup.config, settings, watch_backend=BlindBackend)
    task = asyncio.create_task(daemon.run())
    try:
        expected = set(setup.lib.expected.values())
        await until(lambda: set(server_assets(server)) == expected, 30, "the first backup")
        assert "file watching does not work here" in caplog.text
        assert PROBLEM in daemon._status_text()  # what systemctl status shows
        status = await asyncio.to_thread(setup.run, "status")
        assert PROBLEM in status.stdout, status.stdout
        live = (await asyncio.to_thread(setup.json, "status"))["live"]
        assert live["watch_blind"] is True
        assert set(live["watching"].values()) == {"polling"}

        # A new photo still goes up: within trigger_delay + the poll interval.
        data = JPEG + os.urandom(30_000)
        (setup.lib.include[0] / "new.jpg").write_bytes(data)
        took = await until(lambda: len(server_assets(server)) == len(expected) + 1,
                           TRIGGER + POLL_INTERVAL + 4, "the new photo")
        assert took < TRIGGER + POLL_INTERVAL + 4
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0


def test_check_says_when_file_watching_does_not_work(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "server": {"url": "http://127.0.0.1:9", "api_key": "k" * 40},
        "state_dir": str(tmp_path / "state"), "albums": {"include": [str(tmp_path / "photos")]}}))
    config.chmod(0o600)
    settings = load_settings(config)
    out = io.StringIO()
    screen = Screen(out, ["Watching"])
    check_watching(screen, "Watching", settings, backend=BlindBackend)
    (item,) = screen.items
    assert item.status == "warn"
    assert item.text == PROBLEM
    assert not (tmp_path / "state").exists() or list((tmp_path / "state").iterdir()) == []


# --- a filesystem mounted over an include folder while the daemon runs ---------------------


def test_a_disk_mounted_over_an_include_folder_is_backed_up(server, make_setup, tmp_path):
    unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
    if unshare is None or nsenter is None or sys.platform != "linux":
        pytest.skip("needs unshare(1) and nsenter(1) on Linux")
    setup = make_setup(server, photos=2, trigger_delay=f"{int(TRIGGER * 1000)}ms",
                       max_delay="3s", rescan_interval="1h")
    usb = setup.lib.include[0] / "usb"
    usb.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C"}
    log = (tmp_path / "daemon.log").open("w")
    # The daemon in a mount namespace of its own: the test mounts there, not on the host.
    proc = subprocess.Popen(
        [unshare, "-U", "-r", "-m", "--propagation", "private", sys.executable, "-m",
         "immich_backupd", "--config", str(setup.config), "run"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        expected = set(setup.lib.expected.values())
        deadline = time.monotonic() + 30
        while set(server_assets(server)) != expected:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            assert time.monotonic() < deadline, "the first backup"
            time.sleep(0.1)
        time.sleep(1)  # the watcher runs (the first pass starts after it)
        mount = subprocess.run(
            [nsenter, "--preserve-credentials", "-U", "-m", "-t", str(proc.pid), "mount",
             "-t", "tmpfs", "usb", str(usb)], capture_output=True, text=True)
        if mount.returncode != 0:
            pytest.skip(f"cannot mount in the daemon's namespace: {mount.stderr.strip()}")
        # Write through the daemon's view of the filesystem, where the mount is.
        data = JPEG + os.urandom(20_000)
        Path(f"/proc/{proc.pid}/root{usb}/from-the-disk.jpg").write_bytes(data)
        start = time.monotonic()
        while len(server_assets(server)) != len(expected) + 1:
            assert time.monotonic() - start < TRIGGER + 5, "the photo on the new mount"
            time.sleep(0.05)
        assert "mounted or unmounted at" in (tmp_path / "daemon.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=60) == 0, (tmp_path / "daemon.log").read_text()
        finally:
            log.close()
