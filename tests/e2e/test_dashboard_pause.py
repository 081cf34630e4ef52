"""The dashboard's Pause outlasts a restart of the daemon, and ``status`` (its line,
``--json``) and the daemon's own status line (sd_notify STATUS) say so until Resume."""

from __future__ import annotations

import json

import pytest

from .test_daemon import new_photo, on_server, wait_until
from .test_dashboard import Http, start, valid


def test_a_pause_outlasts_a_restart_and_is_shown_until_resumed(server, dash_setup, tmp_path):
    setup = dash_setup
    assert setup.run("once").returncode == 0
    d, link, token = start(setup, tmp_path)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        api = Http(link)
        assert json.loads(api.request("POST", "/api/v1/pause", headers=auth)[2]) == {
            "paused": True}
        d.wait_notify(lambda m: m.startswith("STATUS=") and "paused" in m, 10)
    finally:
        assert d.stop() == 0, d.stderr()

    # No daemon: status still says paused (the next start will be).
    data = setup.json("status")
    assert data["paused"] is True and data["state"] == "paused"
    assert isinstance(data["paused_since"], float)
    assert "paused" in setup.run("status").stdout.splitlines()[0]

    photo = new_photo(setup.lib.include[0] / "later" / "p.jpg")
    d, link, token = start(setup, tmp_path)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        api = Http(link)
        d.wait_notify(lambda m: m.startswith("STATUS=") and "paused" in m, 10)
        status = valid(json.loads(api.request("GET", "/api/v1/status", headers=auth)[2]),
                       "Status")
        assert status["paused"] is True and status["state"] == "paused"
        with pytest.raises(AssertionError):  # the restart did not resume backups
            wait_until(lambda: on_server(server, photo), 3, "a photo while paused")
        assert "paused" in setup.run("status").stdout.splitlines()[0]

        api.request("POST", "/api/v1/resume", headers=auth)
        wait_until(lambda: on_server(server, photo), 20, "the photo after resume")
        data = setup.json("status")
        assert data["paused"] is False and data["paused_since"] is None
        assert data["state"] != "paused"
    finally:
        assert d.stop() == 0, d.stderr()
    assert setup.json("status")["paused"] is False  # resumed for good
    assert not (setup.state_dir / "paused").exists()
