"""`once` stopped by signals, and read by `status` while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from .conftest import REPO, server_assets


def start_once(setup) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), "once"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=setup.tmp,
        env={**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""},
    )


def wait_for_upload(setup, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = setup.run("status", "--json")
        data = json.loads(proc.stdout) if proc.returncode == 0 else {}
        uploads = (data.get("live") or {}).get("uploads") or []
        if any(u["path"].endswith(name) for u in uploads):
            return data
        time.sleep(0.2)
    raise AssertionError(f"{name} never showed as uploading")


def test_status_while_running_then_sigterm_keeps_everything(server, make_setup):
    setup = make_setup(server, big_file_mb=24, concurrency=1)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=3 << 20)
    proc = start_once(setup)
    try:
        data = wait_for_upload(setup, "BIG_0001.mov")
        assert data["running"] and data["pid"] == proc.pid
        failed = setup.run("failed", "--json")  # works while the pass holds the lock
        assert failed.returncode == 0 and json.loads(failed.stdout) == []
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out
    done = set(server_assets(server))
    big = setup.lib.expected[next(p for p in setup.lib.expected if p.name == "BIG_0001.mov")]
    assert big in done  # the upload in flight was finished, not thrown away

    server.faults.clear()
    again = setup.run("once")
    assert again.returncode == 0, again.stderr
    assert set(server_assets(server)) == set(setup.lib.expected.values())
    assert server.state.counters.created == len(setup.lib.expected)  # nothing twice


def test_second_signal_aborts_and_the_next_pass_completes_exactly_once(server, make_setup):
    setup = make_setup(server, big_file_mb=64, concurrency=1)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=4 << 20)
    proc = start_once(setup)
    try:
        wait_for_upload(setup, "BIG_0001.mov")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    server.faults.clear()
    again = setup.run("once")
    assert again.returncode == 0, again.stderr
    assert set(server_assets(server)) == set(setup.lib.expected.values())
    assert server.state.counters.created == len(setup.lib.expected)
