"""End-to-end fixtures: the real CLI in a subprocess against the in-repo Immich stand-in.

Every server fixture asserts at teardown that every request the client sent validated
against the OpenAPI spec of the version the stand-in plays, and (for v3) that no field
v3 does not know was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from immich_standin import StandinServer
from immich_standin.library import Library, make_library
from immich_standin.view import server_albums, server_assets  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


async def until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait on the event loop (a daemon may run on it) until ``pred()``; return how long
    it took. Raise AssertionError naming ``what`` after ``timeout`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def check_clean(srv: StandinServer) -> None:
    assert srv.state.violations == [], "requests not valid per the OpenAPI spec"
    if srv.version.startswith("3."):
        assert srv.state.unknown_fields == [], "fields v3 does not know were sent"


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with StandinServer(version="3.1.0") as srv:
        yield srv
        check_clean(srv)


@dataclass
class Setup:
    """A library, a config pointing at a server, and a way to run the CLI on it."""

    tmp: Path
    lib: Library
    config: Path
    state_dir: Path

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120, prefix: Sequence[str] = ()
            ) -> subprocess.CompletedProcess[str]:
        """The CLI with ``args``; ``prefix``: a command it runs under (e.g. setpriv)."""
        # English messages whatever the developer's desktop language: tests read them.
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": "",
                    **(env or {})}
        full_env.pop("IMMICH_API_KEY", None)
        return subprocess.run(
            [*prefix, sys.executable, "-m", "immich_backupd", "--config", str(self.config),
             *args],
            capture_output=True, text=True, timeout=timeout, env=full_env, cwd=self.tmp,
            check=False,
        )

    def json(self, *args: str) -> Any:
        proc = self.run(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def last_pass(self) -> dict[str, Any]:
        conn = sqlite3.connect(self.state_dir / "state.sqlite3")
        try:
            conn.row_factory = sqlite3.Row
            return dict(conn.execute("SELECT * FROM passes ORDER BY id DESC LIMIT 1").fetchone())
        finally:
            conn.close()


def write_config(tmp: Path, srv: StandinServer, lib: Library | None, *,
                 api_key: str | None = None, albums: dict[str, Any] | None = None,
                 **backup: Any) -> Path:
    """The config of a test: ``lib``'s folders, or the ``albums`` section given."""
    key_file = tmp / "api-key"
    key_file.write_text((api_key if api_key is not None else srv.api_key) + "\n")
    key_file.chmod(0o600)
    # Files the tests write settle fast (the default, 30s, would make every test wait).
    backup = {"retry": {"max_attempts": 3, "initial": "10ms", "max": "50ms"},
              "settle_time": "500ms", **backup}
    config = {
        "server": {"url": srv.url, "api_key_file": str(key_file), "timeout": "10s"},
        "state_dir": str(tmp / "state"),
        "albums": albums if albums is not None else
        {"include": [str(p) for p in lib.include], "exclude": lib.exclude},  # type: ignore[union-attr]
        "backup": backup,
        "log_level": "info",
    }
    path = tmp / "config.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    path.chmod(0o600)
    return path


@pytest.fixture
def make_setup(tmp_path: Path):
    def make(srv: StandinServer, *, big_file_mb: int = 0, photos: int = 6,
             api_key: str | None = None, **backup: Any) -> Setup:
        lib = make_library(tmp_path / "lib", photos=photos, big_file_mb=big_file_mb)
        config = write_config(tmp_path, srv, lib, api_key=api_key, **backup)
        return Setup(tmp=tmp_path, lib=lib, config=config, state_dir=tmp_path / "state")

    return make



@pytest.fixture
def dash_setup(server, make_setup) -> Setup:
    """A setup for a daemon with its dashboard (see test_dashboard.start): passes
    triggered fast, so what a test does through the dashboard shows at once."""
    return make_setup(server, trigger_delay="300ms", max_delay="2s")


def headless_chromium(*extra_args: str) -> Any:
    """Debian's Chromium through chromedriver: headless, 1000x900, asking for English
    pages; ``extra_args`` more switches. Skips the test where either is missing."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1000,900", *extra_args):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser() -> Iterator[Any]:
    """A :func:`headless_chromium`, quit after the test."""
    driver = headless_chromium()
    yield driver
    driver.quit()
