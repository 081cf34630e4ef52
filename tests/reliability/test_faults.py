"""Server faults: a flaky server, a slow link, and every kind of refusal, end to end.

The real CLI in a subprocess against the stand-in with fault injection. Each test ends
with :func:`verify_backup`: nothing lost, nothing twice, the right SHA-1, nothing marked
uploaded that the server did not confirm.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from immich_standin import StandinServer

from .harness import make_tree, run_cli, verify_backup, write_config

ASSETS = "/api/assets"


def inject_mix(srv: StandinServer, rate: float) -> None:
    """``rate`` of the uploads fail, spread evenly over 7 kinds; the same share of bulk
    checks and album updates; latency on every request and a slow link for uploads."""
    each = rate / 7
    f = srv.faults
    for status in (500, 502, 503, 504):
        f.fail("POST", ASSETS, status, times=None, rate=each)
    f.rate_limit("POST", ASSETS, retry_after=0.05, times=None, rate=each)
    f.drop("POST", ASSETS, after_bytes=700, times=None, rate=each)  # mid-body
    f.lose_answer("POST", ASSETS, times=None, rate=each)  # stored, answer lost
    f.fail("POST", "/api/assets/bulk-upload-check", 503, times=None, rate=rate)
    f.fail("PUT", "/api/albums/*/assets", 502, times=None, rate=rate)
    f.fail("POST", "/api/albums", 500, times=None, rate=rate)
    f.latency(None, "/api/*", 0.005, times=None)
    f.throttle("POST", ASSETS, bytes_per_second=400_000, times=None)


def test_thirty_percent_faults_every_file_once(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=6, per_folder=12, live_pairs=2)
    config = write_config(tmp_path, server.url, server.api_key, tree.include,
                          concurrency=3, check_batch_size=10,
                          retry={"max_attempts": 12, "initial": "5ms", "max": "40ms"})
    inject_mix(server, 0.30)
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)
    uploads = [r for r in server.state.requests if r.path == ASSETS]
    faulted = sum(1 for r in uploads if r.note.startswith(("fault", "dropped")))
    assert server.state.counters.faults_injected >= 20
    assert faulted >= 0.15 * len(uploads), (faulted, len(uploads))
    assert "Traceback" not in proc.stderr
    # A second pass over the same tree opens nothing and sends nothing.
    server.faults.clear()
    before = server.state.counters.upload_requests
    assert run_cli(config, "once").returncode == 0
    assert server.state.counters.upload_requests == before


def test_retries_back_off_as_the_policy_says(server, tmp_path):
    """Attempt times seen by the server: each gap within the jittered nominal delay."""
    tree = make_tree(tmp_path / "lib", folders=1, per_folder=1)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, album_sync=False,
                          retry={"max_attempts": 8, "initial": "200ms", "max": "800ms"})
    server.faults.fail("POST", ASSETS, 503, times=4)
    server.faults.rate_limit("POST", ASSETS, retry_after=0.7, times=1)
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr
    at = [r.at for r in server.state.requests if r.path == ASSETS]
    assert len(at) == 6
    gaps = [b - a for a, b in itertools.pairwise(at)]
    nominal = [0.2, 0.4, 0.8, 0.8]  # initial × 2^n, capped at max
    for gap, nom in zip(gaps, nominal, strict=False):
        assert nom / 2 - 0.01 <= gap <= nom + 0.25, (gaps, nominal)
    assert gaps[4] >= 0.7 - 0.01, gaps  # Retry-After is a floor
    assert proc.stderr.count("retrying in") == 5
    verify_backup(server, tree.expected, tmp_path / "state")


def _revoke_after(srv: StandinServer, n: int):
    """After the n-th upload was handled, revoke the default key."""
    srv.faults.on_handled("POST", ASSETS, lambda: srv.state.revoke_api_key(srv.api_key),
                          skip=n - 1)


def test_key_revoked_mid_pass_exit_77_nothing_marked_failed(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=15)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=1)
    _revoke_after(server, 5)
    proc = run_cli(config, "once")
    assert proc.returncode == 77, proc.stderr
    assert "rejected the API key" in proc.stderr and "Invalid API key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert 5 <= server.state.counters.created < len(tree.expected)
    failed = json.loads(run_cli(config, "failed", "--json").stdout)
    assert failed == []  # a bad key is not the files' fault
    # The user makes a new key: the next pass finishes the job, nothing twice.
    server.state.create_api_key(server.user.id, secret=server.api_key)
    assert run_cli(config, "once").returncode == 0
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)


def test_permission_removed_mid_pass_exit_77_names_it(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=10)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=1)

    def drop_upload_permission() -> None:
        key = server.state.key(server.api_key)
        assert key is not None
        key.permissions = ["user.read", "album.read", "album.create", "albumAsset.create"]

    server.faults.on_handled("POST", ASSETS, drop_upload_permission, skip=3)
    proc = run_cli(config, "once")
    assert proc.returncode == 77, proc.stderr
    assert "lacks the permission asset.upload" in proc.stderr
    assert json.loads(run_cli(config, "failed", "--json").stdout) == []
    server.state.key(server.api_key).permissions = ["all"]  # type: ignore[union-attr]
    assert run_cli(config, "once").returncode == 0
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)


def test_proxy_413_fails_the_file_and_says_what_to_change(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=1, per_folder=4)
    config = write_config(tmp_path, server.url, server.api_key, tree.include)
    server.faults.payload_too_large("POST", ASSETS, times=None)
    proc = run_cli(config, "once")
    assert proc.returncode == 1
    failed = json.loads(run_cli(config, "failed", "--json").stdout)
    assert len(failed) == 4
    assert all("413" in f["reason"] and "client_max_body_size" in f["reason"] for f in failed)
    assert server.state.counters.created == 0
    server.faults.clear()
    assert run_cli(config, "retry", "--all").returncode == 0
    assert run_cli(config, "once").returncode == 0
    verify_backup(server, tree.expected, tmp_path / "state")


def test_quota_reached_mid_pass_exit_73(tmp_path):
    with StandinServer() as srv:
        tree = make_tree(tmp_path / "lib", folders=1, per_folder=20, min_size=900,
                         max_size=1000)
        config = write_config(tmp_path, srv.url, srv.api_key, tree.include, concurrency=1)
        srv.faults.on_handled("POST", ASSETS, lambda: srv.set_quota(8_000), skip=4)
        proc = run_cli(config, "once")
        assert proc.returncode == 73, proc.stderr
        assert "quota exceeded" in proc.stderr and "Traceback" not in proc.stderr
        assert json.loads(run_cli(config, "failed", "--json").stdout) == []
        srv.set_quota(None)
        assert run_cli(config, "once").returncode == 0
        verify_backup(srv, tree.expected, tmp_path / "state")


def test_answers_that_are_not_json_or_not_the_expected_shape(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=5)
    config = write_config(tmp_path, server.url, server.api_key, tree.include,
                          retry={"max_attempts": 6, "initial": "5ms", "max": "20ms"})
    f = server.faults
    f.fail("POST", ASSETS, 201, times=2, body="<html>oops</html>", content_type="text/html")
    f.fail("POST", ASSETS, 201, times=2, body='{"status": "created"}')  # no id
    f.fail("POST", ASSETS, 200, times=1, body='["not", "an", "object"]')
    f.fail("POST", "/api/assets/bulk-upload-check", 200, times=None, body='{"results": 5}')
    f.fail("GET", "/api/albums", 200, times=1, body="<html>proxy</html>",
           content_type="text/html")
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr
    assert "unexpected answer" in proc.stderr or "not JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)


def test_album_failures_are_caught_up_next_pass(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=3, per_folder=4)
    config = write_config(tmp_path, server.url, server.api_key, tree.include)
    server.faults.fail("PUT", "/api/albums/*/assets", 500, times=None)
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr  # the files are backed up; albums lag
    assert "retried next pass" in proc.stderr
    server.faults.clear()
    assert run_cli(config, "once").returncode == 0
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)


def test_server_strings_cannot_forge_log_lines(server, tmp_path):
    """A message with newlines and ANSI escapes is data: one line, escapes shown."""
    tree = make_tree(tmp_path / "lib", folders=1, per_folder=1)
    config = write_config(tmp_path, server.url, server.api_key, tree.include)
    evil = "bad thing\n2026-01-01 00:00:00 INFO    uploaded /etc/shadow\x1b[2J\x1b[31m"
    server.faults.fail("POST", ASSETS, 400, times=None,
                       body=json.dumps({"message": evil, "statusCode": 400}))
    proc = run_cli(config, "once")
    assert proc.returncode == 1
    assert "\x1b" not in proc.stderr + proc.stdout
    assert "\nINFO" not in proc.stderr and "\n2026-01-01" not in proc.stderr
    (failed,) = json.loads(run_cli(config, "failed", "--json").stdout)
    assert "\n" not in failed["reason"] and "\x1b" not in failed["reason"]
    assert Path(failed["path"]) in tree.expected
