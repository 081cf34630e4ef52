"""Security: the API key never leaks; TLS is verified unless the user says otherwise."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from immich_standin import StandinServer

from .harness import (
    cli_env,
    make_tree,
    run_cli,
    start_cli,
    verify_backup,
    write_config,
)

KEY = "SeCrEtKeY-" + "k" * 24  # the conftest server's key


def _grep_tree(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(path)
    return hits


def test_the_api_key_appears_nowhere(server, tmp_path):
    """Through a pass with faults, a revoked key, debug logging, a crash with a
    traceback, the daemon, status/failed/check: not in any output, argument, or file
    of the state folder."""
    assert server.api_key == KEY
    tree = make_tree(tmp_path / "lib", folders=2, per_folder=6)
    config = write_config(tmp_path, server.url, KEY, tree.include)
    cfg = json.loads(config.read_text())
    cfg["log_level"] = "debug"
    config.write_text(json.dumps(cfg))
    outputs: list[str] = []
    server.faults.fail("POST", "/api/assets", 500, times=2)
    server.faults.fail("POST", "/api/assets", 400, times=1,
                       body=json.dumps({"message": "Unsupported file type x.jpg"}))
    server.faults.drop("POST", "/api/assets", after_bytes=100, times=1)

    # A run, seen from outside while it runs: its arguments and environment.
    # (Slow uploads keep it running while it is looked at: the pass itself is quick.)
    server.faults.latency("POST", "/api/assets", 2.0, times=3)
    proc = start_cli(config, "once", stderr_path=tmp_path / "once.log")
    time.sleep(1.0)
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
    proc.wait(timeout=120)
    assert KEY.encode() not in cmdline and KEY.encode() not in environ
    outputs.append((tmp_path / "once.log").read_text())
    for args in (("status",), ("status", "--json"), ("failed",), ("failed", "--json"),
                 ("check",), ("retry", "--all"), ("once",)):
        p = run_cli(config, *args)
        outputs += [p.stdout, p.stderr]

    # The key revoked mid-pass (401 answers).
    server.faults.clear()
    (tree.root / "new").mkdir()
    for i in range(5):
        (tree.root / "new" / f"n{i}.jpg").write_bytes(b"\xff\xd8" + os.urandom(300))
    server.faults.on_handled("POST", "/api/assets",
                             lambda: server.state.revoke_api_key(KEY), skip=1)
    p = run_cli(config, "once")
    assert p.returncode == 77
    outputs += [p.stdout, p.stderr]
    server.state.create_api_key(server.user.id, secret=KEY)

    # A crash with a traceback: an unexpected error deep in the pass.
    crasher = (
        "import sys, runpy\n"
        "from immich_backupd import state\n"
        "async def boom(self, *args, **kwargs): raise RuntimeError('injected failure')\n"
        "state.StateStore.put_rows = boom\n"
        "sys.argv = ['immich-backupd', '--config', sys.argv[1], 'once']\n"
        "runpy.run_module('immich_backupd', run_name='__main__')\n"
    )
    (tree.root / "new" / "crash.jpg").write_bytes(b"\xff\xd8" + os.urandom(300))
    p = subprocess.run([sys.executable, "-c", crasher, str(config)], capture_output=True,
                       text=True, timeout=120, env=cli_env(), cwd=tmp_path, check=False)
    assert p.returncode != 0 and "Traceback" in p.stderr and "injected failure" in p.stderr
    outputs += [p.stdout, p.stderr]

    # The daemon, for a few seconds, then SIGTERM.
    (tree.root / "new" / "d.jpg").write_bytes(b"\xff\xd8" + os.urandom(300))
    daemon = start_cli(config, "run", stderr_path=tmp_path / "daemon.log")
    time.sleep(2.5)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    outputs.append((tmp_path / "daemon.log").read_text())

    assert all(KEY not in out for out in outputs), "the API key was printed"
    assert _grep_tree(tmp_path / "state", KEY.encode()) == []
    assert len("".join(outputs)) > 2000  # we did look at something


def test_key_and_config_readable_by_others_give_a_warning(server, tmp_path):
    """Decision: a warning, not an error (nothing requires a private key file, and a
    shared-group NAS setup may need it); the warning says how to fix it."""
    tree = make_tree(tmp_path / "lib", folders=1, per_folder=2)
    config = write_config(tmp_path, server.url, KEY, tree.include)
    (tmp_path / "api-key").chmod(0o644)
    p = run_cli(config, "once")
    assert p.returncode == 0, p.stderr
    assert "readable by group/others" in p.stderr and "chmod 600" in p.stderr
    cfg = json.loads(config.read_text())
    del cfg["server"]["api_key_file"]
    cfg["server"]["api_key"] = KEY
    config.write_text(json.dumps(cfg))
    config.chmod(0o640)
    p = run_cli(config, "once")
    assert p.returncode == 0, p.stderr
    assert "readable by group/others" in p.stderr and KEY not in p.stderr + p.stdout


# -- TLS ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1, and one for another name."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("certs")
    out = {}
    for name, san in (("good", "IP:127.0.0.1"), ("wrongname", "DNS:photos.example.com")):
        cert, key = d / f"{name}.pem", d / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2",
                        "-subj", "/CN=immich-standin", "-addext", f"subjectAltName={san}"],
                       check=True, capture_output=True)
        out[name], out[name + "_key"] = cert, key
    return out


def _https_server(cert: Path, key: Path) -> StandinServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return StandinServer(ssl_context=ctx, api_key=KEY)


def test_tls_is_verified_by_default_a_ca_file_works_and_off_is_loud(certs, tmp_path):
    with _https_server(certs["good"], certs["good_key"]) as srv:
        assert srv.url.startswith("https://")
        tree = make_tree(tmp_path / "lib", folders=1, per_folder=3)
        # Default: verified, and a self-signed certificate is refused with a clear error.
        config = write_config(tmp_path, srv.url, KEY, tree.include)
        p = run_cli(config, "once")
        assert p.returncode == 69, p.stderr
        assert "certificate" in p.stderr.lower() and "Traceback" not in p.stderr
        assert "self-signed" in p.stderr or "CERTIFICATE_VERIFY_FAILED" in p.stderr, p.stderr
        assert srv.state.counters.upload_requests == 0
        # server.ca_file: trusted, works.
        config = write_config(tmp_path, srv.url, KEY, tree.include,
                              server_extra={"ca_file": str(certs["good"])})
        p = run_cli(config, "once")
        assert p.returncode == 0, p.stderr
        assert "verification is OFF" not in p.stderr
        verify_backup(srv, tree.expected, tmp_path / "state")
        # verify_tls: false: works, with a loud warning on every run.
        (tree.root / "000" / "Album 0000" / "more.jpg").write_bytes(b"\xff\xd8" + b"x" * 99)
        config = write_config(tmp_path, srv.url, KEY, tree.include,
                              server_extra={"verify_tls": False})
        p = run_cli(config, "once")
        assert p.returncode == 0, p.stderr
        assert "WARNING" in p.stderr and "TLS certificate verification is OFF" in p.stderr
        assert srv.state.counters.created == 4


def test_tls_certificate_for_another_name_is_refused_even_with_its_ca(certs, tmp_path):
    with _https_server(certs["wrongname"], certs["wrongname_key"]) as srv:
        tree = make_tree(tmp_path / "lib", folders=1, per_folder=1)
        config = write_config(tmp_path, srv.url, KEY, tree.include,
                              server_extra={"ca_file": str(certs["wrongname"])})
        p = run_cli(config, "once")
        assert p.returncode == 69, p.stderr
        assert "certificate" in p.stderr.lower() and "127.0.0.1" in p.stderr, p.stderr
        assert srv.state.counters.upload_requests == 0
