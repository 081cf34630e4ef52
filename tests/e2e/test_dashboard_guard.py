"""Every state-changing route of the dashboard refuses a request without the session, a
wrong ``Host``, a cross-origin request (``Origin`` or fetch metadata) and a session's
request without its CSRF token -- and such a refusal changes nothing: neither the config
file, nor the pause, nor the failed list. Driven over plain HTTP against a real daemon."""

from __future__ import annotations

import http.client
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from .test_daemon import wait_until
from .test_dashboard import Http, start, valid


def login(api: Http, link: str) -> str:
    """Log ``api`` in with the one-time ``link``; the session's CSRF token."""
    parts = urlsplit(link)
    status, headers, _ = api.request("GET", f"{parts.path}?{parts.query}")
    assert status == 303
    api.cookie = headers["Set-Cookie"].split(";")[0]
    status, _, page = api.request("GET", "/")
    assert status == 200
    text = page.decode()
    marker = 'name="csrf-token" content="'
    assert marker in text, text[:400]
    return text.split(marker, 1)[1].split('"', 1)[0]


def test_every_changing_route_refuses_forgeries_and_changes_nothing(server, dash_setup,
                                                                    tmp_path):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    d, link, token = start(setup, tmp_path)
    try:
        root = setup.lib.include[0]
        (root / "private").mkdir()
        changes: list[tuple[str, Any]] = [
            ("/api/v1/folders", {"list": "exclude", "op": "add",
                                 "entry": str(root / "private")}),
            ("/api/v1/settings", {"key": "backup.require_charging", "value": True}),
            ("/api/v1/pause", None),
            ("/api/v1/resume", None),
            ("/api/v1/backup", None),
            ("/api/v1/retry", {"all": True}),
        ]
        api = Http(link)
        csrf = login(api, link)
        config_before = setup.config.read_text()
        good = {"X-CSRF-Token": csrf}
        port = urlsplit(link).port
        forgeries: list[tuple[int, dict[str, str], bool]] = [
            (403, {}, True),  # the session without its CSRF token
            (403, {"X-CSRF-Token": "forged"}, True),
            (403, {**good, "Origin": "http://evil.example"}, True),
            (403, {**good, "Origin": f"http://127.0.0.1:{port + 1}"}, True),
            (403, {**good, "Sec-Fetch-Site": "cross-site"}, True),
            (421, {**good, "Host": f"evil.example:{port}"}, True),  # DNS rebinding
            (421, {"Authorization": f"Bearer {token}", "Host": f"rebind.example:{port}"},
             False),
            (401, good, False),  # no session at all
        ]
        for path, body in changes:
            for code, headers, with_session in forgeries:
                cookie, api.cookie = api.cookie, api.cookie if with_session else None
                got, _, answer = api.request("POST", path, body, headers=headers)
                api.cookie = cookie
                assert got == code, (path, headers, with_session, answer)
                valid(json.loads(answer), "Error")
        # Nothing above changed anything.
        assert setup.config.read_text() == config_before
        auth = {"Authorization": f"Bearer {token}"}
        status = json.loads(api.request("GET", "/api/v1/status", headers=auth)[2])
        assert status["paused"] is False
        assert "configuration reloaded" not in d.stderr()

        # The same requests with the session's CSRF token are taken.
        for path, body in changes:
            got, _, answer = api.request("POST", path, body, headers=good)
            assert got == 200, (path, answer)
        after = setup.config.read_text()
        assert str(root / "private") in after and "require_charging" in after
    finally:
        assert d.stop() == 0, d.stderr()


def test_log_out_and_rotation_refuse_the_old_session_and_token_at_once(server, dash_setup,
                                                                     tmp_path):
    setup = dash_setup
    d, link, token = start(setup, tmp_path)
    try:
        api = Http(link)
        csrf = login(api, link)
        # Log out: the cookie is worth nothing afterwards, even replayed.
        cookie = api.cookie
        status, headers, _ = api.request("POST", "/logout", headers={"X-CSRF-Token": csrf})
        assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]
        api.cookie = cookie
        assert api.request("GET", "/api/v1/status")[0] == 401

        # Rotation: a logged-in browser, an open event stream and the API token all stop
        # working at the next request; the new token works.
        csrf = login(api, setup.run("dashboard").stdout.strip())
        assert api.request("GET", "/api/v1/status")[0] == 200
        parts = urlsplit(link)
        stream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        stream.request("GET", "/api/v1/events", headers={
            "Host": f"{parts.hostname}:{parts.port}", "Cookie": api.cookie})
        events = stream.getresponse()
        assert events.status == 200 and events.readline().startswith(b"event: status")
        proc = setup.run("dashboard", "--rotate")
        assert proc.returncode == 0, proc.stderr
        assert token not in proc.stdout and len(proc.stdout.splitlines()) == 1
        assert api.request("GET", "/api/v1/status")[0] == 401
        assert api.request("POST", "/api/v1/pause", headers={"X-CSRF-Token": csrf})[0] == 401
        old = {"Authorization": f"Bearer {token}"}
        assert api.request("GET", "/api/v1/status", headers=old)[0] == 401
        api.cookie = None
        new = setup.run("dashboard", "--api-token").stdout.strip()
        assert new and new != token
        got, _, body = api.request("GET", "/api/v1/status",
                                   headers={"Authorization": f"Bearer {new}"})
        assert got == 200 and json.loads(body)["paused"] is False
        started = time.monotonic()
        assert events.read() is not None  # the stream ends (read returns at its end)
        assert time.monotonic() - started < 5
        stream.close()
        assert "rotated" in d.stderr() and new not in d.stderr()
    finally:
        assert d.stop() == 0, d.stderr()


def test_open_opens_the_link_and_the_page_speaks_the_browser_language(
        server, dash_setup, tmp_path):
    setup = dash_setup
    d, _link, _token = start(setup, tmp_path)
    try:
        opened = tmp_path / "opened"
        browser_cmd = (f"{sys.executable} -c \"import sys; open(sys.argv[2], 'w')"
                       f".write(sys.argv[1])\" %s {opened}")
        proc = setup.run("dashboard", "--open", env={"BROWSER": browser_cmd})
        assert proc.returncode == 0, proc.stderr
        wait_until(lambda: opened.exists() and opened.read_text(), 10, "the browser")
        printed = proc.stdout.strip()
        assert opened.read_text() == printed and "/login?token=" in printed
        api = Http(printed)
        login(api, printed)  # the opened link logs in (once)
        german = api.request("GET", "/", headers={"Accept-Language": "de-DE,de;q=0.9"})[2]
        assert 'lang="de"' in german.decode() and "Alle erneut versuchen" in german.decode()
        english = api.request("GET", "/", headers={"Accept-Language": "en-GB"})[2]
        assert "Retry all" in english.decode()
        refused = api.request("POST", "/api/v1/pause", {},
                              headers={"Accept-Language": "de", "X-CSRF-Token": "x"})
        assert refused[0] == 403 and "CSRF" in json.loads(refused[2])["error"]["message"]
    finally:
        assert d.stop() == 0, d.stderr()
