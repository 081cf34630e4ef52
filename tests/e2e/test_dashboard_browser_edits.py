"""In the browser: a folder backed up by clicking goes into the YAML with the user's
comments kept, and its photos go up; the "unmetered network only" switch (the seed's
"Wi-Fi only") changes the config and, on a metered network, the status.

The daemon runs as a process; the network it sees is a stand-in NetworkManager on a
private D-Bus (its system bus here), which says "metered"."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Callable

import pytest
import yaml

pytest.importorskip("dbus_fast")
from dbus_fast.aio import MessageBus

from tests.nm_double import private_bus, publish

from .test_daemon import Daemon, new_photo, on_server, wait_until
from .test_dashboard import text_of

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                                reason="dbus-daemon not installed")
METERED = 1  # NMMetered: yes


def serve_metered_network(address: str) -> Callable[[], None]:
    """A stand-in NetworkManager saying "metered", served from its own thread; the
    function that stops it."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    done = loop.create_future()

    async def main() -> None:
        bus = await MessageBus(bus_address=address).connect()
        await publish(bus, METERED)
        ready.set()
        await done
        bus.disconnect()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(10), "the stand-in NetworkManager"

    def stop() -> None:
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join(10)
        loop.close()

    return stop


def test_a_folder_added_and_the_unmetered_switch_in_the_browser(
        server, dash_setup, tmp_path, browser):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    extra = setup.lib.root / "Camera"
    photo = new_photo(extra / "IMG_0001.jpg")
    config = json.loads(setup.config.read_text())
    config["dashboard"] = {"listen": "127.0.0.1:0"}
    text = "# my backup settings\n" + yaml.safe_dump(config, sort_keys=False).replace(
        "albums:\n", "albums:  # what goes to Immich\n", 1)
    setup.config.write_text(text)
    with private_bus(tmp_path) as address:
        stop_network = serve_metered_network(address)
        d = Daemon(setup, tmp_path, env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        try:
            d.wait_notify(lambda m: m == "READY=1")
            wait_until(lambda: setup.run("dashboard").returncode == 0, 10, "the dashboard")
            browser.get(setup.run("dashboard").stdout.strip())

            # Up from the first folder to the library, then "Back up" on Camera.
            wait_until(lambda: browser.find_element("id", "browse-up").is_displayed(), 10,
                       "the folder browser")
            browser.find_element("id", "browse-up").click()
            selector = f'#browse-list li[data-path="{extra}"]'
            wait_until(lambda: browser.find_elements("css selector", selector), 10,
                       "Camera in the folder browser")
            assert not on_server(server, photo)
            browser.find_element("css selector", f"{selector} .include").click()
            wait_until(lambda: browser.find_elements(
                "css selector", f'#include-list li[data-entry="{extra}"]'), 10,
                "Camera among the backed-up folders")
            after = setup.config.read_text()
            assert after.startswith("# my backup settings\n")
            assert "albums:  # what goes to Immich\n" in after and str(extra) in after
            wait_until(lambda: on_server(server, photo), 30, "Camera's photo on the server")

            # "Unmetered network only": written, and on this metered network new photos
            # wait, which status and the page say.
            box = browser.find_element(
                "css selector", '#settings-list li[data-key="backup.require_unmetered"] input')
            assert not box.is_selected()
            box.click()
            wait_until(lambda: "require_unmetered: true" in setup.config.read_text(), 10,
                       "require_unmetered written")
            assert setup.config.read_text().startswith("# my backup settings\n")
            wait_until(lambda: d.stderr().count("configuration reloaded") >= 2, 15,
                       "the reload")
            held = new_photo(extra / "IMG_0002.jpg")
            wait_until(lambda: setup.json("status")["state"] == "waiting", 20,
                       "status waiting for an unmetered network")
            status = setup.json("status")
            assert "unmetered" in status["headline"] or "Wi-Fi" in status["headline"], status
            assert not on_server(server, held)
            wait_until(lambda: text_of(browser, "headline") == status["headline"], 15,
                       "the same headline on the page")
        finally:
            assert d.stop() == 0, d.stderr()
            stop_network()
