"""The dashboard and its API, served by a real daemon against the stand-in, driven by
Debian's Chromium (headless, through chromedriver) and by plain HTTP requests.

Every JSON answer is validated against the OpenAPI document shipped in the package.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from immich_backupd.dashboard.server import HERE
from immich_backupd.i18n import for_languages

from .test_daemon import Daemon, new_photo, on_server, wait_until

SPEC = json.loads((HERE / "openapi.json").read_text())


def valid(doc: Any, schema: str) -> Any:
    jsonschema.validate(doc, {"$ref": f"#/components/schemas/{schema}",
                              "components": SPEC["components"]})
    return doc


class Http:
    """One request at a time to the dashboard, with the headers a test chooses."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookie: str | None = None

    def request(self, method: str, path: str, body: Any = None, *,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            all_headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
            if self.cookie:
                all_headers.setdefault("Cookie", self.cookie)
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                all_headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=all_headers)
            answer = conn.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            conn.close()


def start(setup, tmp_path: Path) -> tuple[Daemon, str, str]:
    """The daemon with its dashboard on a free port; (daemon, login link, API token)."""
    config = json.loads(setup.config.read_text())
    config["dashboard"] = {"listen": "127.0.0.1:0"}
    setup.config.write_text(json.dumps(config))
    d = Daemon(setup, tmp_path)
    d.wait_notify(lambda m: m == "READY=1")
    wait_until(lambda: setup.run("dashboard").returncode == 0, 10, "the dashboard")
    link = setup.run("dashboard").stdout.strip()
    token = setup.run("dashboard", "--api-token").stdout.strip()
    return d, link, token


def test_api_answers_with_the_token_and_refuses_everything_else(server, dash_setup, tmp_path):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    d, link, token = start(setup, tmp_path)
    try:
        assert link.startswith("http://127.0.0.1:") and "/login?token=" in link
        assert len(link.splitlines()) == 1
        api = Http(link)
        auth = {"Authorization": f"Bearer {token}"}
        status, headers, body = api.request("GET", "/api/v1/status", headers=auth)
        assert status == 200
        data = valid(json.loads(body), "Status")
        cli = setup.json("status")
        assert (data["backed_up"], data["total"]) == (cli["backed_up"], cli["total"])
        assert data["total"] == data["backed_up"] == len(setup.lib.expected)
        assert data["paused"] is False and data["daemon"] is True
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        valid(json.loads(api.request("GET", "/api/v1/failed", headers=auth)[2]), "Failed")

        def refused(code: int, method: str, path: str, **kw: Any) -> None:
            got, _, answer = api.request(method, path, **kw)
            assert got == code, (method, path, kw, answer)
            if path.startswith("/api/"):
                valid(json.loads(answer), "Error")

        refused(401, "GET", "/api/v1/status")  # no token, no session
        refused(401, "GET", "/")
        refused(401, "GET", "/api/v1/status", headers={"Authorization": "Bearer nope"})
        refused(421, "GET", "/api/v1/status", headers={**auth, "Host": "evil.example:80"})
        refused(403, "POST", "/api/v1/pause",
                headers={**auth, "Origin": "http://evil.example"})
        refused(400, "POST", "/api/v1/retry", body={"paths": ["relative"]}, headers=auth)

        # A login link works once; the session then needs the CSRF token to change things.
        status, headers, _ = api.request("GET", urlsplit(link).path + "?" + urlsplit(link).query)
        assert status == 303
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        refused(401, "GET", urlsplit(link).path + "?" + urlsplit(link).query)
        api.cookie = cookie.split(";")[0]
        assert api.request("GET", "/")[0] == 200
        refused(403, "POST", "/api/v1/pause")  # no CSRF token
        refused(403, "POST", "/api/v1/pause", headers={"X-CSRF-Token": "forged"})
        api.cookie = None
        still = json.loads(api.request("GET", "/api/v1/status", headers=auth)[2])
        assert still["paused"] is False  # none of the refused requests changed anything

        # Pause holds new files back; resume lets them go.
        assert valid(json.loads(api.request("POST", "/api/v1/pause", headers=auth)[2]),
                     "Paused") == {"paused": True}
        photo = new_photo(setup.lib.include[0] / "paused" / "p.jpg")
        with pytest.raises(AssertionError):
            wait_until(lambda: on_server(server, photo), 3, "a photo while paused")
        valid(json.loads(api.request("POST", "/api/v1/resume", headers=auth)[2]), "Paused")
        wait_until(lambda: on_server(server, photo), 15, "the photo after resume")
        valid(json.loads(api.request("POST", "/api/v1/backup", headers=auth)[2]), "Started")
    finally:
        assert d.stop() == 0, d.stderr()
    proc = setup.run("dashboard")
    assert proc.returncode == 69 and "immich-backupd run" in proc.stderr


class _Forger(http.server.BaseHTTPRequestHandler):
    """Another site on loopback whose page posts a form to the dashboard."""

    target = ""

    def do_GET(self) -> None:
        page = (f'<form method="post" action="{self.target}/api/v1/pause" id="f">'
                '<input name="x" value="1"></form>'
                '<script>document.getElementById("f").submit()</script>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass


def commented_config(setup) -> str:
    """Make the setup's config the user's own file, YAML with comments (start() wrote
    the test's JSON); the text written, which an edit must keep the comments of."""
    config = json.loads(setup.config.read_text())
    text = "# my backup settings\n" + yaml.safe_dump(config, sort_keys=False).replace(
        "albums:\n", "albums:  # what goes to Immich\n", 1)
    setup.config.write_text(text)
    return text


def assert_comments_kept(text: str) -> None:
    assert text.startswith("# my backup settings\n")
    assert "albums:  # what goes to Immich\n" in text


def text_of(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def test_the_browser_shows_status_and_failed_uploads_and_retries_them(
        server, dash_setup, tmp_path, browser):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    d, link, token = start(setup, tmp_path)
    forger = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forger)
    threading.Thread(target=forger.serve_forever, daemon=True).start()
    try:
        base = link.split("/login")[0]
        browser.get(base + "/")  # no session yet
        assert "not logged in" in browser.find_element("tag name", "body").text
        browser.get(link)
        assert browser.current_url == base + "/"
        cli = setup.json("status")
        wait_until(lambda: text_of(browser, "backed-up") ==
                   f"{cli['backed_up']} of {cli['total']} backed up", 10, "the status card")
        assert text_of(browser, "headline") == cli["headline"] == "✓ Backup complete"
        assert text_of(browser, "last-backup").startswith("Last backup: ")

        # The server refuses a new photo: it shows up failed, with the reason.
        server.faults.fail("POST", "/api/assets", 500, times=None)
        data = new_photo(setup.lib.include[0] / "refused" / "r.jpg")
        wait_until(lambda: browser.find_elements("css selector", "#failed-list li"), 30,
                   "the failed upload on the page")
        item = browser.find_element("css selector", "#failed-list li")
        assert item.find_element("css selector", ".name").text == "r.jpg"
        assert "500" in item.find_element("css selector", ".reason").text
        assert "1 upload failed" in text_of(browser, "failed-count")
        assert not on_server(server, data)

        # A forged cross-site form post is refused and changes nothing.
        _Forger.target = base
        browser.get(f"http://127.0.0.1:{forger.server_address[1]}/")
        wait_until(lambda: "another site" in browser.page_source, 10, "the refusal")
        auth = {"Authorization": f"Bearer {token}"}
        status = json.loads(Http(link).request("GET", "/api/v1/status", headers=auth)[2])
        assert status["paused"] is False

        # Fixed: Retry all puts it on the server.
        server.faults.clear()
        browser.get(base + "/")
        wait_until(lambda: browser.find_element("id", "retry-all").is_displayed(), 10,
                   "the Retry all button")
        browser.find_element("id", "retry-all").click()
        wait_until(lambda: on_server(server, data), 30, "the retried photo on the server")
        cli = setup.json("status")
        wait_until(lambda: text_of(browser, "backed-up") ==
                   f"{cli['backed_up']} of {cli['total']} backed up", 10, "all of them")
        assert cli["backed_up"] == cli["total"] == len(setup.lib.expected) + 1
        wait_until(lambda: not browser.find_elements("css selector", "#failed-list li"), 10,
                   "the failed list emptied")

        # Nothing came from another origin.
        resources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(r.startswith(base + "/") for r in resources), resources
    finally:
        forger.shutdown()
        assert d.stop() == 0, d.stderr()


def test_the_page_speaks_the_browser_language():
    german = for_languages(["de-DE", "de", "en"])
    assert german.gettext("Retry all") == "Alle erneut versuchen"
    assert for_languages(["en-GB", "de"]).gettext("Retry all") == "Retry all"
    assert for_languages(["fr", "de"]).gettext("Retry all") == "Alle erneut versuchen"


def test_an_exclude_added_through_the_api_keeps_comments_and_is_applied(
        server, dash_setup, tmp_path):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    d, link, token = start(setup, tmp_path)
    try:
        text = commented_config(setup)
        root = setup.lib.include[0]
        (root / "private").mkdir()
        api = Http(link)
        auth = {"Authorization": f"Bearer {token}"}

        status, _, body = api.request("GET", "/api/v1/folders/browse?path=" + str(root),
                                      headers=auth)
        listing = valid(json.loads(body), "Browse")
        names = [f["name"] for f in listing["folders"]]
        assert "private" in names and status == 200
        known = sum(f["total"] for f in listing["folders"])
        assert 0 < known <= len(setup.lib.expected)

        bad = {"list": "exclude", "op": "add", "entry": "private"}
        assert api.request("POST", "/api/v1/folders", {"list": "nope"}, headers=auth)[0] == 400
        status, _, body = api.request("POST", "/api/v1/folders",
                                      {**bad, "list": "include"}, headers=auth)
        assert status == 422 and "albums.include" in valid(json.loads(body), "Error")[
            "error"]["message"]
        assert setup.config.read_text() == text  # refused: unchanged

        status, _, body = api.request("POST", "/api/v1/folders",
                                      {**bad, "entry": str(root / "private")}, headers=auth)
        assert status == 200, body
        assert str(root / "private") in valid(json.loads(body), "Folders")["exclude"]
        assert_comments_kept(setup.config.read_text())
        wait_until(lambda: "configuration reloaded" in d.stderr(), 15, "the reload")

        hidden = new_photo(root / "private" / "x.jpg")
        shown = new_photo(root / "public" / "y.jpg")
        wait_until(lambda: on_server(server, shown), 20, "the photo outside the exclude")
        assert not on_server(server, hidden)
    finally:
        assert d.stop() == 0, d.stderr()


def test_the_browser_leaves_a_folder_out_keeping_the_config_comments(
        server, dash_setup, tmp_path, browser):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    d, link, token = start(setup, tmp_path)
    try:
        commented_config(setup)
        root = setup.lib.include[0]
        (root / "private").mkdir()
        browser.get(link)
        wait_until(lambda: browser.find_elements(
            "css selector", f'#browse-list li[data-path="{root / "private"}"]'), 10,
            "the folder in the browser")
        assert text_of(browser, "browse-path") == str(root)
        item = browser.find_element("css selector",
                                    f'#browse-list li[data-path="{root / "private"}"]')
        assert item.find_element("css selector", ".counts").text == "0 of 0 backed up"
        item.find_element("css selector", ".exclude").click()
        wait_until(lambda: browser.find_elements(
            "css selector", f'#exclude-list li[data-entry="{root / "private"}"]'), 10,
            "the new exclude on the page")
        after = setup.config.read_text()
        assert_comments_kept(after)
        wait_until(lambda: "configuration reloaded" in d.stderr(), 15, "the reload")

        hidden = new_photo(root / "private" / "x.jpg")
        shown = new_photo(root / "public" / "y.jpg")
        wait_until(lambda: on_server(server, shown), 20, "the photo outside the exclude")
        assert not on_server(server, hidden)

        # Backing up the folder just left out is refused with the loader's words.
        browser.find_element("css selector",
                             f'#browse-list li[data-path="{root / "private"}"] .include').click()
        wait_until(lambda: browser.find_element("id", "error").is_displayed(), 10,
                   "the refusal")
        assert "albums.include" in text_of(browser, "error"), text_of(browser, "error")
        assert setup.config.read_text() == after

        # A switch of the settings screen is written the same way.
        box = browser.find_element("css selector",
                                   '#settings-list li[data-key="backup.album_sync"] input')
        assert box.is_selected()
        box.click()
        wait_until(lambda: "album_sync: false" in setup.config.read_text(), 10,
                   "album_sync written")
        assert setup.config.read_text().startswith("# my backup settings\n")
        wait_until(lambda: d.stderr().count("configuration reloaded") == 2, 15,
                   "the second reload")
        auth = {"Authorization": f"Bearer {token}"}
        answer = valid(json.loads(Http(link).request("GET", "/api/v1/settings",
                                                     headers=auth)[2]), "Toggles")
        assert {t["key"]: t["value"] for t in answer["toggles"]}["backup.album_sync"] is False
        status, _, body = Http(link).request("POST", "/api/v1/settings",
                                             {"key": "backup.album_sync", "value": "no"},
                                             headers=auth)
        assert status == 400 and "backup.album_sync" in valid(json.loads(body), "Error")[
            "error"]["message"]
    finally:
        assert d.stop() == 0, d.stderr()
