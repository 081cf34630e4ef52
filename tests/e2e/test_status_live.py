"""`status` while a first backup runs: the total found so far (never "0 of 0"), the
bytes sent counting the upload in flight, the rate and the time left, in `status`,
`status --json` and the daemon's STATUS= line. A real daemon, the stand-in reading the
upload slowly (a slow link), `status` in another process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from .conftest import REPO
from .test_daemon import Daemon, wait_until


def test_status_during_a_first_backup_tells_how_far_and_how_fast(server, make_setup,
                                                                 tmp_path):
    setup = make_setup(server, big_file_mb=48, concurrency=1, trigger_delay="500ms",
                       max_delay="3s")
    server.faults.throttle("POST", "/api/assets", bytes_per_second=6 << 20)  # ~8 s
    d = Daemon(setup, tmp_path)
    try:
        seen: dict = {}

        def sending_with_a_rate() -> bool:
            data = setup.json("status")
            live = data["live"] or {}
            uploads = live.get("uploads") or []
            if any(u["path"].endswith("BIG_0001.mov") for u in uploads) \
                    and live.get("rate") and live.get("seconds_left"):
                seen.update(data)
                return True
            return False

        wait_until(sending_with_a_rate, 30, "status to show the big upload with a rate")
        live = seen["live"]
        in_flight = sum(u["sent"] for u in live["uploads"])
        assert in_flight > 0
        assert live["bytes_sent"] == live["bytes_uploaded"] + in_flight
        assert live["bytes_sent"] <= live["bytes_planned"]
        assert 1 << 20 < live["rate"] < 6 * (6 << 20)
        assert live["seconds_left"] > 0
        assert seen["total"] >= live["seen"] > 0  # the files found so far, not 0 of 0
        assert seen["state"] == "uploading"

        text = setup.run("status").stdout
        assert not re.search(r"\b0 of 0\b", text), text
        assert re.search(r"↑ [\d.]+ [KMG]?B of [\d.]+ MB sent · [\d.]+ MB/s · "
                         r"(at least )?[\d:]+s? left", text), text

        d.wait_notify(lambda m: m.startswith("STATUS=Uploading")
                      and "MB/s" in m and " left" in m, timeout=20)
    finally:
        server.faults.clear()
        assert d.stop() == 0, d.stderr()


def test_status_during_once_shows_the_rate_too(server, make_setup, tmp_path):
    setup = make_setup(server, big_file_mb=48, concurrency=1)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=6 << 20)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""}
    log = tmp_path / "once.log"
    with log.open("w") as err:
        once = subprocess.Popen(
            [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), "once"],
            stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=setup.tmp)
    try:
        seen: dict = {}

        def sending_with_a_rate() -> bool:
            live = setup.json("status")["live"] or {}
            if live.get("uploads") and live.get("rate") and live.get("seconds_left"):
                seen.update(live)
                return True
            return False

        wait_until(sending_with_a_rate, 30, "status to show once's upload with a rate")
        assert not seen.get("daemon")
        assert seen["bytes_sent"] > seen["bytes_uploaded"]  # the upload in flight counts
        server.faults.clear()
        assert once.wait(timeout=60) == 0, log.read_text()
    finally:
        if once.poll() is None:
            once.kill()
            once.wait()


def test_status_never_shows_more_sent_than_the_server_has(server, make_setup, tmp_path):
    """What ``once`` publishes as sent (live.json, read by ``status``) is at most what
    the server has received of the uploads, read as they go over a link of 2 MB/s.
    Counting what aiohttp was handed, it ran MBs ahead: the socket buffers."""
    setup = make_setup(server, big_file_mb=16, concurrency=1)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=2_000_000)
    bodies = server.faults.record("POST", "/api/assets", times=None).bodies
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""}
    log = tmp_path / "once.log"
    live_json = setup.state_dir / "live.json"
    checked: list[tuple[int, int]] = []
    with log.open("w") as err:
        once = subprocess.Popen(
            [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), "once"],
            stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=setup.tmp)
    try:
        deadline = time.monotonic() + 90
        while once.poll() is None and time.monotonic() < deadline:
            try:
                live = json.loads(live_json.read_text())
            except (OSError, ValueError):  # not there yet
                live = {}
            # Read after live.json: the server has at least what it had when that was
            # written. Body bytes: the files' are fewer.
            arrived = sum(body[-1][1] for body in list(bodies) if body)
            if live.get("uploads"):
                checked.append((live["bytes_sent"], arrived))
            time.sleep(0.05)
        assert once.wait(timeout=30) == 0, log.read_text()
    finally:
        if once.poll() is None:
            once.kill()
            once.wait()
    ahead = [(sent, arrived) for sent, arrived in checked if sent > arrived]
    assert not ahead, ahead[:5]
    assert len({sent for sent, _ in checked}) >= 4, checked  # it moved while we looked
