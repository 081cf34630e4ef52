"""Every upload the server finished is in the state when a pass stops early: on a quota
answer, on SIGTERM, on a fatal answer to another stage (issue 15, point 4).

The server's answers are delayed (latency), so that when the pass stops, other uploads
are in flight and finish on the server afterwards: a pass that dropped them, or a batch
of outcomes waiting for its commit, would leave assets on the server the state does
not know of.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from immich_standin import StandinServer

from .harness import make_tree, run_cli, start_cli, state_rows, write_config

ASSETS = "/api/assets"
QUOTA_BODY = json.dumps({"message": "Quota has been exceeded!", "error": "Bad Request",
                         "statusCode": 400})


def assert_all_recorded(srv: StandinServer, state_dir: Path) -> int:
    """Every asset on the server is recorded as backed up, under its id; return how many."""
    with srv.state.lock:
        on_server = {a.id: a.checksum for a in srv.state.assets.values()}
    recorded = {rid: sha1 for _, status, sha1, rid in state_rows(state_dir)
                if status in ("uploaded", "duplicate") and rid}
    missing = set(on_server) - set(recorded)
    assert not missing, f"{len(missing)} of {len(on_server)} assets on the server not recorded"
    assert all(recorded[i] == on_server[i] for i in on_server)
    return len(on_server)


def last_pass(state_dir: Path) -> dict:
    conn = sqlite3.connect(state_dir / "state.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM passes ORDER BY id DESC LIMIT 1").fetchone())
    finally:
        conn.close()


def status(config: Path) -> dict:
    proc = run_cli(config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def wait_for_created(srv: StandinServer, proc: subprocess.Popen[str], n: int) -> None:
    """Until the server has stored ``n`` assets, the CLI ``proc`` running all along."""
    deadline = time.monotonic() + 60
    while srv.state.counters.created < n:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)


def test_quota_stop_records_every_upload_the_server_finished(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=40)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=4)
    server.faults.latency("POST", ASSETS, 0.2)
    server.faults.on_handled("POST", ASSETS, skip=30, callback=lambda: server.faults.fail(
        "POST", ASSETS, 400, body=QUOTA_BODY, times=1))
    proc = run_cli(config, "once")
    assert proc.returncode == 73, proc.stderr
    assert "Traceback" not in proc.stderr
    stored = assert_all_recorded(server, tmp_path / "state")
    assert stored > 31  # those before the quota answer, and those in flight with it
    row = last_pass(tmp_path / "state")
    assert (row["outcome"], row["uploaded"]) == ("quota", stored)
    data = status(config)
    assert data["backed_up"] == stored
    assert data["state"] == "quota" and "quota" in data["headline"].lower()

    server.faults.clear()
    assert run_cli(config, "once").returncode == 0
    assert server.state.counters.created == len(tree.expected)  # nothing twice
    assert status(config)["state"] == "complete"


def test_sigterm_mid_pass_records_every_upload_the_server_finished(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=60)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=4)
    server.faults.latency("POST", ASSETS, 0.2)
    proc = start_cli(config, "once")
    try:
        wait_for_created(server, proc, 20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    stored = assert_all_recorded(server, tmp_path / "state")
    assert 20 <= stored < len(tree.expected)
    row = last_pass(tmp_path / "state")
    assert (row["outcome"], row["uploaded"]) == ("stopped", stored)
    assert status(config)["state"] == "stopped"


def test_a_fatal_answer_to_the_check_still_records_the_uploads_in_flight(server, tmp_path):
    """The key is revoked mid-pass: the bulk check of the next batch ends the pass (77);
    the uploads already in flight are finished and recorded all the same.

    The files are an hour old, so the scan hands them to the check as one group. The
    check must still go one request at a time behind the uploads, not ask about the
    whole group first (then no check was left to be refused, as happened in CI when
    most files were old enough)."""
    tree = make_tree(tmp_path / "lib", folders=6, per_folder=30)
    hour_ago = time.time() - 3600
    for path in tree.expected:
        os.utime(path, (hour_ago, hour_ago))
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=4,
                          check_batch_size=20)
    server.faults.latency("POST", ASSETS, 0.2)
    server.faults.on_handled("POST", ASSETS, skip=10, callback=lambda: server.faults.fail(
        "POST", "/api/assets/bulk-upload-check", 401, times=None,
        body=json.dumps({"message": "Invalid API key", "statusCode": 401})))
    proc = run_cli(config, "once")
    assert proc.returncode == 77, proc.stderr
    stored = assert_all_recorded(server, tmp_path / "state")
    assert stored > 10
    assert last_pass(tmp_path / "state")["outcome"] == "auth"


def test_an_aborted_pass_closes_its_row_and_keeps_what_was_answered(server, tmp_path):
    """Ctrl-C twice cuts the uploads in flight: the pass row is closed as aborted (not
    left 'running'), every upload already answered is recorded, and status says the
    pass stopped before the end."""
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=60)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=4)
    server.faults.latency("POST", ASSETS, 0.3)
    proc = start_cli(config, "once")
    try:
        wait_for_created(server, proc, 20)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    row = last_pass(tmp_path / "state")
    assert row["outcome"] == "aborted" and row["finished_at"]
    recorded = [r for r in state_rows(tmp_path / "state") if r[1] == "uploaded"]
    assert len(recorded) >= 20 and row["uploaded"] == len(recorded)
    assert status(config)["state"] == "stopped"
