"""`once` when things go wrong: server errors, dropped connections, quota, keys, files."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from immich_backupd.state import StateReader
from immich_standin import StandinServer
from immich_standin.library import JPEG

from .conftest import REPO, check_clean, server_assets


def all_uploaded_once(srv: StandinServer, setup) -> None:
    assert set(server_assets(srv)) == set(setup.lib.expected.values())


def test_server_errors_for_a_while_are_retried(server, make_setup):
    setup = make_setup(server)
    server.faults.fail("POST", "/api/assets", 503, times=2)
    server.faults.fail("POST", "/api/assets", 500, times=1)
    server.faults.rate_limit("POST", "/api/assets", retry_after=0, times=1)
    server.faults.fail("POST", "/api/assets/bulk-upload-check", 502, times=1)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    all_uploaded_once(server, setup)
    assert server.state.counters.faults_injected == 5
    assert "retrying in" in proc.stderr


def test_dropped_connections_mid_body_are_retried(server, make_setup):
    setup = make_setup(server, big_file_mb=20)
    server.faults.drop("POST", "/api/assets", after_bytes=100_000, times=3)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    all_uploaded_once(server, setup)
    assert server.state.counters.created == len(setup.lib.expected)


def test_persistent_failure_is_recorded_listed_and_retried_on_request(server, make_setup):
    setup = make_setup(server)
    server.faults.fail("POST", "/api/assets", 500, times=None)
    proc = setup.run("once")
    assert proc.returncode == 1, proc.stderr
    n = len(setup.lib.expected)
    failed = setup.json("failed")
    assert len(failed) == n
    assert all("500" in f["reason"] for f in failed)
    # Each was tried max_attempts (3) times: `failed` says so (not "1").
    assert all(f["attempts"] == 3 and f["next_attempt_at"] for f in failed)
    assert "immich-backupd failed" in proc.stdout

    # Not due yet: the next pass leaves them alone and hashes nothing - and says they
    # are not backed up (never "✓", exit 1).
    server.faults.clear()
    proc = setup.run("once")
    assert proc.returncode == 1
    assert "✓" not in proc.stdout
    assert f"✗ {n} files failed earlier and are not backed up" in proc.stdout
    assert server.state.counters.created == 0
    assert setup.last_pass()["hashed"] == 0

    one = Path(failed[0]["path"])
    proc = setup.run("retry", str(one))
    assert proc.returncode == 0 and f"will retry: {one}" in proc.stdout
    assert setup.run("once").returncode == 1  # the others still wait for their turn
    assert server.state.counters.created == 1
    assert setup.last_pass()["hashed"] == 0  # its hash was kept

    proc = setup.run("retry", "--all")
    assert f"{n - 1} files will be retried" in proc.stdout
    assert setup.run("once").returncode == 0
    all_uploaded_once(server, setup)
    assert setup.json("failed") == []


def test_quota_exceeded_stops_the_pass_without_failing_the_rest(make_setup):
    with StandinServer(quota=60_000) as srv:
        setup = make_setup(srv)
        proc = setup.run("once")
        assert proc.returncode == 73, proc.stderr
        assert "quota exceeded" in proc.stderr
        assert setup.json("failed") == []
        assert 0 < srv.state.counters.created < len(setup.lib.expected)
        srv.set_quota(None)
        assert setup.run("once").returncode == 0
        all_uploaded_once(srv, setup)
        check_clean(srv)


def test_quota_answer_from_the_server_stops_the_pass(server, make_setup):
    setup = make_setup(server)
    server.faults.fail("POST", "/api/assets", 400, times=1,
                       body=json.dumps({"message": "Quota has been exceeded!",
                                        "error": "Bad Request", "statusCode": 400}))
    proc = setup.run("once")
    assert proc.returncode == 73
    assert setup.json("failed") == []


def test_bad_key_and_missing_permission_exit_77(server, make_setup):
    setup = make_setup(server, api_key="not-a-key")
    proc = setup.run("once")
    assert proc.returncode == 77
    assert "rejected the API key" in proc.stderr and "Traceback" not in proc.stderr
    assert "not-a-key" not in proc.stderr + proc.stdout

    key = server.create_api_key(["user.read", "album.read", "album.create",
                                 "albumAsset.create"])
    setup = make_setup(server, api_key=key)
    proc = setup.run("once")
    assert proc.returncode == 77
    assert "asset.upload" in proc.stderr
    assert key not in proc.stderr + proc.stdout
    assert server.state.counters.upload_requests == 0


@pytest.mark.parametrize("version", ["1.106.0", "4.0.0"])
def test_unsupported_server_version_exit_69(version, make_setup):
    with StandinServer(version=version) as srv:
        setup = make_setup(srv)
        proc = setup.run("once")
        assert proc.returncode == 69
        assert f"version {version} is not supported" in proc.stderr
        assert srv.state.counters.upload_requests == 0


def test_unreachable_server_exit_69(make_setup, tmp_path):
    with StandinServer() as srv:
        setup = make_setup(srv)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = setup.config.read_text().replace(srv.url, f"http://127.0.0.1:{port}")
    setup.config.write_text(text)
    proc = setup.run("once")
    assert proc.returncode == 69
    assert "cannot reach the Immich server" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unsupported_answer_is_recorded_and_not_retried(server, make_setup):
    setup = make_setup(server)
    server.faults.fail("POST", "/api/assets", 400, times=1, body=json.dumps(
        {"message": "Unsupported file type weird.jpg", "error": "Bad Request",
         "statusCode": 400}))
    proc = setup.run("once")
    assert proc.returncode == 1
    failed = setup.json("failed")
    assert len(failed) == 1 and failed[0]["status"] == "unsupported"
    uploads = server.state.counters.upload_requests
    again = setup.run("once")
    assert again.returncode == 1 and "✓" not in again.stdout  # not backed up, ever
    assert "✗ 1 file cannot be backed up: the server refuses it" in again.stdout
    assert server.state.counters.upload_requests == uploads  # not retried


def test_trashed_duplicate_is_reported_not_uploaded(server, make_setup):
    setup = make_setup(server)
    target = next(p for p in setup.lib.expected if p.suffix == ".jpg")
    asset = server.state.seed_asset(server.user.id, target.read_bytes(), target.name,
                                    trashed=True)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "trash" in proc.stderr
    assets = server_assets(server)
    assert assets[asset.checksum_hex].id == asset.id and asset.is_trashed
    assert server.state.counters.created == len(setup.lib.expected) - 1
    status = setup.json("status")
    assert status["counts"]["trashed"] == 1


def test_early_duplicate_answer_is_a_duplicate_not_an_error(server, make_setup, tmp_path):
    setup = make_setup(server)
    big = setup.lib.include[0] / "big.jpg"
    big.write_bytes(JPEG + os.urandom(30 << 20))
    server.state.seed_asset(server.user.id, big.read_bytes(), "big.jpg")
    # Without the bulk check, only the checksum header can tell the server it has it.
    server.faults.fail("POST", "/api/assets/bulk-upload-check", 500, times=None)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.counters.early_duplicates >= 1
    reader = StateReader(setup.state_dir)
    try:
        assert reader.counts().get("duplicate") == 1
    finally:
        reader.close()


def test_proxy_413_says_what_to_change(server, make_setup):
    setup = make_setup(server)
    server.faults.payload_too_large("POST", "/api/assets", times=1)
    proc = setup.run("once")
    assert proc.returncode == 1
    (failed,) = setup.json("failed")
    assert "413" in failed["reason"] and "client_max_body_size" in failed["reason"]


def test_vanished_file_is_dropped_quietly(server, make_setup):
    """A file deleted between the scan and its read: not a failure."""
    import asyncio

    from immich_backupd.backup import run_pass
    from immich_backupd.config import load_settings
    from immich_backupd.report.progress import Reporter

    setup = make_setup(server)
    victim = setup.lib.include[0] / "2024" / "Holiday" / "IMG_1003.jpg"

    class DeleteOnFirstProgress(Reporter):
        def progress(self, progress):
            # Called once a folder is planned, before its files are hashed.
            if progress.planned and victim.exists() and progress.hashed == 0:
                victim.unlink()

    settings = load_settings(setup.config)
    result = asyncio.run(run_pass(settings, reporter=DeleteOnFirstProgress()))
    assert not victim.exists()
    assert result.outcome == "complete", result
    assert result.progress.failed == 0
    expected = {p: s for p, s in setup.lib.expected.items() if p != victim}
    assert set(server_assets(server)) == set(expected.values())


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root to run the CLI as an unprivileged user")
def test_unreadable_file_fails_with_permission_denied(server, make_setup):
    """Run as `nobody`, so that a 0600 root file is really unreadable (root reads all)."""
    top = Path(tempfile.mkdtemp(prefix="ibd-perm-"))
    try:
        top.chmod(0o755)
        setup = make_setup(server)
        lib_root = top / "lib"
        shutil.copytree(setup.lib.root, lib_root)
        secret = lib_root / "Pictures" / "2024" / "Holiday" / "IMG_1004.jpg"
        state = top / "state"
        state.mkdir()
        key = top / "api-key"
        key.write_text(server.api_key)
        cfg = json.loads(setup.config.read_text())
        cfg["server"]["api_key_file"] = str(key)
        cfg["state_dir"] = str(state)
        cfg["albums"]["include"] = [str(lib_root / "Pictures"), str(lib_root / "Phone")]
        cfg["albums"]["exclude"] = [e.replace(str(setup.lib.root), str(lib_root))
                                    for e in cfg["albums"]["exclude"]]
        config = top / "config.yaml"
        config.write_text(json.dumps(cfg))
        for path in (key, config):
            os.chown(path, 65534, 65534)
            path.chmod(0o600)
        os.chown(state, 65534, 65534)
        secret.chmod(0o600)  # owned by root: nobody cannot read it
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-m", "immich_backupd", "--config", str(config), "once"],
            capture_output=True, text=True, timeout=120, cwd=top,
            env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(top)}, check=False,
        )
        if "No module named" in proc.stderr or "Permission denied: '/" in proc.stderr[:300]:
            pytest.skip(f"the checkout is not readable by nobody: {proc.stderr[:200]}")
        assert proc.returncode == 1, proc.stderr
        proc2 = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-m", "immich_backupd", "--config", str(config), "failed",
             "--json"], capture_output=True, text=True, timeout=60, cwd=top,
            env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(top)}, check=False)
        (failed,) = json.loads(proc2.stdout)
        assert failed["path"] == str(secret) and failed["reason"] == "permission denied"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_config_error_exit_78_names_key_and_line(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("server:\n  url: http://127.0.0.1:1\n  api_key: k\nbackup:\n"
                   "  concurency: 2\n")
    proc = subprocess.run([sys.executable, "-m", "immich_backupd", "--config", str(bad), "once"],
                          capture_output=True, text=True, env={**os.environ,
                                                               "PYTHONPATH": str(REPO)},
                          check=False)
    assert proc.returncode == 78
    assert f"{bad}:5" in proc.stderr and "concurency" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_reports_the_server(server, make_setup):
    setup = make_setup(server)
    proc = setup.run("check")
    assert proc.returncode == 0, proc.stderr
    assert "Immich 3.1.0" in proc.stdout


def test_server_down_mid_pass_waits_and_resumes(server, make_setup):
    """Retries run out in well under a second here; the pass must wait, not fail all."""
    import threading

    setup = make_setup(server, photos=20)
    server.faults.latency("POST", "/api/assets", seconds=0.15)
    down = threading.Timer(0.8, server.faults.set_down, args=("close",))
    up = threading.Timer(4.0, server.faults.set_down, args=(None,))
    down.start()
    up.start()
    try:
        proc = setup.run("once")
    finally:
        down.cancel()
        up.cancel()
    assert proc.returncode == 0, proc.stderr
    assert "waiting for it to come back" in proc.stderr
    assert "the server is back" in proc.stderr
    assert setup.json("failed") == []
    all_uploaded_once(server, setup)
    assert server.state.counters.created == len(setup.lib.expected)


def test_empty_file_is_reported_not_sent(server, make_setup):
    setup = make_setup(server)
    empty = setup.lib.include[0] / "2024" / "Holiday" / "empty.jpg"
    empty.write_bytes(b"")
    proc = setup.run("once")
    assert proc.returncode == 1
    (failed,) = setup.json("failed")
    assert failed["path"] == str(empty) and "empty file" in failed["reason"]
    all_uploaded_once(server, setup)
    assert server.state.counters.upload_errors == 0  # nothing was sent to be refused
    again = setup.run("once")  # not sent again, and never "✓" while it is not backed up
    assert again.returncode == 1 and "✓" not in again.stdout
    assert server.state.counters.upload_errors == 0
