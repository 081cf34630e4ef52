"""Issue 19's run controls end to end, against the stand-in: the bandwidth cap holds a
real `once`, and bulk-import mode pauses the server's job queues during a large pass,
resumes them after it, and after a `kill -9` at the next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from immich_backupd.pipeline.jobpause import HEAVY_QUEUES
from tests.e2e.conftest import REPO, check_clean
from tests.e2e.test_daemon import wait_until


def set_server_keys(config, **keys) -> None:
    data = json.loads(config.read_text())
    data["server"].update(keys)
    config.write_text(json.dumps(data))


def test_once_keeps_to_the_bandwidth_cap(server, make_setup):
    """A 20 MB file at 4MB/s: at least ~4.5 s (a lower bound: a slow machine cannot
    make it fail; without the cap it takes a fraction of a second)."""
    setup = make_setup(server, big_file_mb=20, photos=0, bandwidth="4MB/s")
    started = time.monotonic()
    proc = setup.run("once")
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert took >= 4.5, took
    assert server.state.counters.created >= 1
    check_clean(server)


def test_a_large_pass_pauses_the_job_queues_and_resumes_them(server, make_setup):
    setup = make_setup(server, photos=6)
    set_server_keys(setup.config, pause_jobs_during_import=True, pause_jobs_threshold=3)
    server.state.jobs.set_paused("smartSearch", True)  # an admin's own choice
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    log = server.state.jobs.pause_log
    paused = [n for n, flag in log if flag and n != "smartSearch"]
    assert set(paused) == set(HEAVY_QUEUES) - {"smartSearch"}
    assert sorted(n for n, flag in log if not flag) == sorted(paused)  # each resumed once
    assert server.state.jobs.paused_names() == ["smartSearch"]  # left as the admin had it
    # The uploads went in while the queues were paused: their thumbnails waited.
    check_clean(server)


def test_a_small_pass_leaves_the_queues_alone(server, make_setup):
    setup = make_setup(server, photos=2)
    set_server_keys(setup.config, pause_jobs_during_import=True, pause_jobs_threshold=100)
    assert setup.run("once").returncode == 0
    assert server.state.jobs.pause_log == []


def test_a_key_that_may_not_pause_warns_and_backs_up(server, make_setup):
    _, key = server.state.add_user_with_key()  # every permission, but not an admin
    setup = make_setup(server, photos=4, api_key=key)
    set_server_keys(setup.config, pause_jobs_during_import=True, pause_jobs_threshold=1)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("cannot pause the server's job queues") == 1, proc.stderr
    assert server.state.jobs.pause_log == []


def test_queues_paused_by_a_killed_pass_are_resumed_at_the_next_start(server, make_setup):
    setup = make_setup(server, big_file_mb=8, photos=6, concurrency=1)
    set_server_keys(setup.config, pause_jobs_during_import=True, pause_jobs_threshold=2)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=1 << 20)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""}
    once = subprocess.Popen(
        [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), "once"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=setup.tmp)
    try:
        wait_until(lambda: set(server.state.jobs.paused_names()) == set(HEAVY_QUEUES), 60,
                   "the queues to be paused")
        once.send_signal(signal.SIGKILL)
        once.wait(10)
    finally:
        if once.poll() is None:
            once.kill()
    assert set(server.state.jobs.paused_names()) == set(HEAVY_QUEUES)  # left paused
    server.faults.clear()
    set_server_keys(setup.config, pause_jobs_during_import=False)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.jobs.paused_names() == []


def test_status_shows_the_cap_in_force(server, make_setup):
    setup = make_setup(server, photos=1, bandwidth="1.5MB/s", quiet_hours="")
    data = setup.json("status")
    assert data["run_controls"] == {"bandwidth": int(1.5 * (1 << 20)),
                                    "bandwidth_until": None, "quiet_until": None}
    text = setup.run("status").stdout
    assert "Upload cap: 1.5MB/s" in text, text
