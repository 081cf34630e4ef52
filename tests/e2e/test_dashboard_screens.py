"""Each screen of the dashboard in Chromium, light and dark, at desktop and phone width,
as small PNGs; and the progress view moving during a large (throttled) upload.

The screenshots go to a temporary folder and are checked (PNG, width, size). To
regenerate the ones in docs/screenshots/ that docs/dashboard.md shows:
``make screenshots`` (which sets ``IMMICH_BACKUPD_SCREENSHOTS`` to that folder).
"""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import headless_chromium
from .test_daemon import new_photo, on_server, wait_until
from .test_dashboard import start, text_of

REPO = Path(__file__).resolve().parents[2]
SCREENS = ("status", "progress", "failed", "statistics", "warnings", "folders", "settings",
           "login")
WIDTHS = {"desktop": 1000, "phone": 390}
MAX_BYTES = 200_000  # per PNG: kept small for the repository


@pytest.fixture
def chromium():
    driver = headless_chromium("--hide-scrollbars")
    yield driver
    driver.quit()


def emulate(driver: Any, width: int, dark: bool) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def shoot(driver: Any, element_id: str, path: Path) -> None:
    """The element ``element_id`` as a PNG at ``path`` (also beyond the viewport)."""
    box = driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return [r.left + scrollX, r.top + scrollY, r.width, r.height];", element_id)
    x, y, w, h = (float(v) for v in box)
    assert w > 0 and h > 0, (element_id, box)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": max(x - 8, 0), "y": max(y - 8, 0), "width": w + 16, "height": h + 16,
                 "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def all_variants(driver: Any, screen: str, element_id: str, out: Path) -> list[Path]:
    made = []
    for width_name, width in WIDTHS.items():
        for theme in ("light", "dark"):
            emulate(driver, width, theme == "dark")
            time.sleep(0.2)  # the new layout and colours are painted
            # Nothing sticks out at this width: no sideways scrolling, in the page or
            # the card.
            inner, page, card, card_room = driver.execute_script(
                "const e = document.getElementById(arguments[0]); return [innerWidth,"
                " document.documentElement.scrollWidth, e.scrollWidth, e.clientWidth];",
                element_id)
            assert page <= inner and card <= card_room, (screen, width_name, page, card)
            path = out / f"{screen}-{width_name}-{theme}.png"
            shoot(driver, element_id, path)
            made.append(path)
    emulate(driver, WIDTHS["desktop"], False)
    return made


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    target = os.environ.get("IMMICH_BACKUPD_SCREENSHOTS")
    out = (REPO / target if not os.path.isabs(target) else Path(target)) if target else (
        tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_every_screen_in_light_and_dark_at_both_widths_and_the_progress_moves(
        server, dash_setup, tmp_path, chromium, out_dir):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    # A password: /login without a link shows the password form (its screenshot).
    proc = subprocess.run([sys.executable, "-m", "immich_backupd", "--config",
                           str(setup.config), "dashboard", "--set-password"],
                          input="correct horse battery staple\n", capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert proc.returncode == 0, proc.stderr
    d, link, _token = start(setup, tmp_path)
    made: list[Path] = []
    try:
        chromium.get(link)
        wait_until(lambda: "backed up" in text_of(chromium, "backed-up"), 10, "the status")

        # A large upload on a slow link: the progress view shows it and moves (with what
        # left the machine, not what waits in its socket buffers: immich/outgoing.py).
        server.faults.throttle("POST", "/api/assets", bytes_per_second=1_000_000)
        big = new_photo(setup.lib.include[0] / "trip" / "panorama.jpg", size=10_000_000)
        seen: set[tuple[str, str]] = set()

        def moved() -> bool:  # two different figures seen while the view shows
            if chromium.find_element("id", "progress").is_displayed():
                seen.add((text_of(chromium, "progress-percent"),
                          text_of(chromium, "progress-bytes")))
            return len(seen) >= 2

        try:
            wait_until(moved, 40, "the progress view moving")
        except AssertionError:
            raise AssertionError((seen, d.stderr()[-2000:])) from None
        made += all_variants(chromium, "progress", "progress", out_dir)
        assert "panorama.jpg" in text_of(chromium, "progress-file")
        try:
            wait_until(lambda: on_server(server, big), 60, "the large file on the server")
        except AssertionError:
            raise AssertionError(d.stderr()[-3000:]) from None
        server.faults.clear()

        # A refused file for the failed screen.
        server.faults.fail("POST", "/api/assets", 500, times=None)
        new_photo(setup.lib.include[0] / "refused" / "IMG_0042.jpg")
        wait_until(lambda: chromium.find_elements("css selector", "#failed-list li"), 30,
                   "the failed upload")
        wait_until(lambda: chromium.find_element("id", "browse-list").text, 10, "folders")
        # Statistics: the folders with their counts as status --json has them; the
        # daemon's warnings (the refused upload) on the warnings screen.
        wanted = {f["path"]: f"{f['backed_up']} of {f['total']} backed up"
                  for f in setup.json("status")["folders"]}

        def stats_match() -> bool:  # read in one go: the page redraws the list live
            rows = chromium.execute_script(
                "return [...document.querySelectorAll('#stats-folders li')].map(li =>"
                " [li.querySelector('.name').textContent,"
                " li.querySelector('.counts').textContent]);")
            return len(rows) == len(wanted) and all(
                name in wanted and text.startswith(wanted[name]) for name, text in rows)

        wait_until(stats_match, 15, "the statistics as status --json has them")
        assert chromium.find_elements("css selector", "#stats-albums li")
        wait_until(lambda: chromium.find_elements("css selector", "#warnings-list li"), 15,
                   "a warning on the page")
        assert not chromium.find_element("id", "no-warnings").is_displayed()
        for screen in ("status", "failed", "statistics", "warnings", "folders", "settings"):
            element = "status-card" if screen == "status" else screen
            made += all_variants(chromium, screen, element, out_dir)
        server.faults.clear()
        chromium.get(link.split("/login")[0] + "/login")
        assert chromium.find_element("id", "password").get_attribute("type") == "password"
        made += all_variants(chromium, "login", "login-card", out_dir)
    finally:
        assert d.stop() == 0, d.stderr()

    assert {p.name for p in made} == {f"{s}-{w}-{t}.png" for s in SCREENS for w in WIDTHS
                                      for t in ("light", "dark")}
    for path in made:
        width, height = png_size(path)
        assert 0 < width <= WIDTHS["desktop"] and height > 0, path
        assert path.stat().st_size < MAX_BYTES, (path, path.stat().st_size)
    for screen in SCREENS:  # the phone shots are narrower than the desktop ones
        assert png_size(out_dir / f"{screen}-phone-light.png")[0] < png_size(
            out_dir / f"{screen}-desktop-light.png")[0]
    if os.environ.get("IMMICH_BACKUPD_SCREENSHOTS"):
        return
    # Every screenshot docs/dashboard.md shows is one this test makes.
    doc = (REPO / "docs" / "dashboard.md").read_text()
    readme = (REPO / "README.md").read_text()
    for path in made:  # docs/dashboard.md shows each, and each is in the repository
        assert f"(screenshots/{path.name})" in doc, path.name
        assert png_size(REPO / "docs" / "screenshots" / path.name)[0] > 0, path.name
    assert "(docs/screenshots/status-desktop-light.png)" in readme
