"""A dashboard listening beyond loopback: served only with a password (kept hashed, set
with ``dashboard --set-password``), logged in through a form, warned about without TLS
(log, ``status``, ``check``), and served over HTTPS with ``tls_cert``/``tls_key`` (a
self-signed certificate made here with the ``openssl`` command)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from .conftest import REPO
from .test_daemon import Daemon, wait_until

SECRET = "correct horse battery staple"


def cli(setup, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""}
    return subprocess.run(
        [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), *args],
        input=stdin, capture_output=True, text=True, timeout=60, env=env, cwd=setup.tmp,
        check=False)


def configure(setup, **dashboard: str) -> None:
    config = json.loads(setup.config.read_text())
    config["dashboard"] = {"listen": "0.0.0.0:0", **dashboard}
    setup.config.write_text(json.dumps(config))


def started(setup, tmp_path: Path) -> tuple[Daemon, int]:
    d = Daemon(setup, tmp_path)
    d.wait_notify(lambda m: m == "READY=1")
    wait_until(lambda: cli(setup, "dashboard").returncode == 0, 10, "the dashboard")
    link = cli(setup, "dashboard").stdout.strip()
    port = urlsplit(link).port
    assert port
    return d, port


class Client:
    """Requests to 127.0.0.1:port (plain or TLS) keeping the session cookie."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.port, self.context, self.cookie = port, context, ""

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn: http.client.HTTPConnection
        if self.context is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                               context=self.context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        all_headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        if body is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=all_headers)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        return answer


def test_beyond_loopback_no_password_no_dashboard(dash_setup, tmp_path):
    setup = dash_setup
    configure(setup)
    d = Daemon(setup, tmp_path)
    try:
        d.wait_notify(lambda m: m == "READY=1")  # backups run all the same
        wait_until(lambda: "needs a password" in d.stderr(), 10, "the refusal")
        proc = cli(setup, "dashboard")
        assert proc.returncode == 69
        data = json.loads(cli(setup, "status", "--json").stdout)
        assert "--set-password" in data["dashboard_warning"]
        assert "--set-password" in cli(setup, "status").stdout
        assert "--set-password" in cli(setup, "check").stdout
    finally:
        assert d.stop() == 0, d.stderr()

    assert cli(setup, "dashboard", "--set-password", stdin="short\n").returncode == 2
    proc = cli(setup, "dashboard", "--set-password", stdin=SECRET + "\n")
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    stored = setup.state_dir / "dashboard" / "password"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert SECRET not in stored.read_text() and stored.read_text().startswith("scrypt$")


def test_a_password_logs_in_and_without_tls_it_is_warned_about(dash_setup, tmp_path):
    setup = dash_setup
    configure(setup)
    assert cli(setup, "dashboard", "--set-password", stdin=SECRET + "\n").returncode == 0
    d, port = started(setup, tmp_path)
    try:
        wait_until(lambda: "without TLS" in d.stderr(), 5, "the warning in the log")
        assert "without TLS" in json.loads(cli(setup, "status", "--json").stdout)[
            "dashboard_warning"]
        web = Client(port)
        answer = web.request("GET", "/")
        assert answer.status == 303 and answer.headers["Location"] == "/login"
        assert web.request("GET", "/login").status == 200
        assert web.request("GET", "/static/dashboard.css").status == 200
        assert web.request("GET", "/api/v1/status").status == 401

        started_at = time.monotonic()
        wrong = web.request("POST", "/login", urlencode({"password": "guess1234"}))
        assert wrong.status == 401 and "Set-Cookie" not in wrong.headers
        assert time.monotonic() - started_at >= 1.0  # a wrong password costs a second
        forged = web.request("POST", "/login", urlencode({"password": SECRET}),
                             {"Origin": "http://evil.example"})
        assert forged.status == 403 and "Set-Cookie" not in forged.headers

        right = web.request("POST", "/login", urlencode({"password": SECRET}),
                            {"Origin": f"http://127.0.0.1:{port}"})
        assert right.status == 303, right.headers
        cookie = right.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        web.cookie = cookie.split(";")[0]
        assert web.request("GET", "/").status == 200
        assert web.request("GET", "/api/v1/status").status == 200
        # Any IP literal of this machine is ours; a name that is not is refused (421).
        assert web.request("GET", "/", headers={"Host": f"192.0.2.7:{port}"}).status == 200
        assert web.request("GET", "/", headers={"Host": f"rebind.example:{port}"}
                           ).status == 421
        assert SECRET not in d.stderr()
    finally:
        assert d.stop() == 0, d.stderr()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_serves_https_with_a_secure_cookie_and_no_warning(dash_setup, tmp_path):
    setup = dash_setup
    cert, key = tmp_path / "dash.crt", tmp_path / "dash.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True)
    configure(setup, tls_cert=str(cert), tls_key=str(key))
    assert cli(setup, "dashboard", "--set-password", stdin=SECRET + "\n").returncode == 0
    d, port = started(setup, tmp_path)
    try:
        assert cli(setup, "dashboard").stdout.startswith("https://")
        assert "without TLS" not in d.stderr()
        assert json.loads(cli(setup, "status", "--json").stdout)["dashboard_warning"] is None
        context = ssl.create_default_context(cafile=str(cert))
        web = Client(port, context)
        assert web.request("GET", "/login").status == 200
        right = web.request("POST", "/login", urlencode({"password": SECRET}),
                            {"Origin": f"https://127.0.0.1:{port}"})
        assert right.status == 303
        assert "Secure" in right.headers["Set-Cookie"]
        web.cookie = right.headers["Set-Cookie"].split(";")[0]
        assert web.request("GET", "/api/v1/status").status == 200
        with pytest.raises((http.client.HTTPException, OSError)):  # no plain HTTP there
            Client(port).request("GET", "/login")
    finally:
        assert d.stop() == 0, d.stderr()
