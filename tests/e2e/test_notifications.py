"""Desktop notifications of the daemon as a process, seen by a recorded notification server
on a private session bus: one progress notification updated in place, a summary at the end
of the first backup, nothing for a routine new photo, a failure told once - also across a
restart - with the right count.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from immich_backupd.daemon.notified import NOTIFIED_NAME
from immich_backupd.report.notify_policy import SHOW_AFTER
from tests.dbus_bus import private_bus

from .conftest import REPO
from .test_daemon import (
    MAX_DELAY,
    TRIGGER,
    Daemon,
    library_on_server,
    new_photo,
    on_server,
    wait_until,
)

pytest.importorskip("dbus_fast")


class Recorded:
    """``tests/notification_server.py`` as a process on a private bus; ``calls`` reads
    what it recorded."""

    def __init__(self, folder: Path) -> None:
        self.record = folder / "notifications.jsonl"
        self._bus = private_bus(folder)
        self.address = self._bus.__enter__()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.notification_server", self.address, str(self.record)],
            stdout=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def notifies(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        calls = [json.loads(line) for line in self.record.read_text().splitlines()]
        assert [c for c in calls if c["call"] == "CloseNotification"] == []  # no close+new
        return [c for c in calls if c["call"] == "Notify"]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self._bus.__exit__(None, None, None)


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Recorded]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed")
    folder = tmp_path / "desktop"
    folder.mkdir()
    recorded = Recorded(folder)
    yield recorded
    recorded.close()


PASS_END = re.compile(r"pass (complete|partial|stopped|quota|auth|offline):")


def passes_ended(d: Daemon) -> int:
    return len(PASS_END.findall(d.stderr()))


def pass_ended_after(d: Daemon, text: str) -> bool:
    """Whether the log says ``text``, and then that a pass ended."""
    log = d.stderr()
    at = log.find(text)
    return at >= 0 and PASS_END.search(log, at) is not None


def told(desktop: Recorded) -> str:
    """All that the notifications said, as one text."""
    return " ".join(c["summary"] + " " + c["body"] for c in desktop.notifies())


def start(setup, tmp_path: Path, desktop: Recorded) -> Daemon:
    d = Daemon(setup, tmp_path, env={"DBUS_SESSION_BUS_ADDRESS": desktop.address})
    d.wait_notify(lambda m: m == "READY=1")
    return d


def test_one_progress_notification_in_place_then_nothing_for_a_new_photo(
    server, make_setup, tmp_path, desktop
):
    setup = make_setup(server, photos=24, trigger_delay=f"{int(TRIGGER * 1000)}ms",
                       max_delay=f"{int(MAX_DELAY)}s")
    # A slow server: 35 files, two at a time, 1.2 s each: the first backup uploads for
    # about 20 s, long enough to be shown.
    slow = server.faults.latency("POST", "/api/assets", 1.2)
    d = start(setup, tmp_path, desktop)
    try:
        wait_until(lambda: library_on_server(server, setup), 60, "the first backup")
        wait_until(lambda: passes_ended(d) == 1, 30, "the end of the first pass")
        wait_until(lambda: any(c["summary"].startswith("First backup")
                               for c in desktop.notifies()), 10, "the summary")
        told = desktop.notifies()
        n = len(setup.lib.expected)
        # One notification: progress shown after a while, updated in place, and the
        # summary of the first backup in the same place.
        assert {c["id"] for c in told} == {told[0]["id"]}
        assert [c["replaces_id"] for c in told] == [0] + [told[0]["id"]] * (len(told) - 1)
        progress = [c for c in told if c["summary"].startswith("Uploading")]
        assert len(progress) >= 2, told  # updated at least once
        assert all(c["urgency"] == 0 for c in progress)  # low: no banner for progress
        assert (told[-1]["summary"], told[-1]["body"], told[-1]["urgency"]) == (
            "First backup complete", f"{n} of {n} backed up", 1)

        # A routine new photo: backed up, and not a word.
        server.faults.remove(slow)
        photo_path = setup.lib.include[0] / "2024" / "New" / "IMG_9001.jpg"
        photo = new_photo(photo_path)
        wait_until(lambda: on_server(server, photo), 30, "the new photo")
        wait_until(lambda: pass_ended_after(d, "uploaded " + str(photo_path)), 30,
                   "the end of its pass")
        assert desktop.notifies() == told
    finally:
        assert d.stop() == 0
    assert SHOW_AFTER < 15  # the slow first backup above is long enough to be shown


def test_a_failure_is_told_once_and_a_restart_repeats_nothing(
    server, make_setup, tmp_path, desktop
):
    setup = make_setup(server, trigger_delay=f"{int(TRIGGER * 1000)}ms",
                       max_delay=f"{int(MAX_DELAY)}s")
    d = start(setup, tmp_path, desktop)
    try:
        wait_until(lambda: passes_ended(d) == 1, 30, "the first backup")
        wait_until(lambda: len(desktop.notifies()) == 1, 10, "the summary")
        assert desktop.notifies()[0]["summary"] == "First backup complete"  # short, but first

        server.faults.fail("POST", "/api/assets", 500, times=None)
        folder = setup.lib.include[0] / "2024" / "Later"
        new_photo(folder / "IMG_7001.jpg")
        new_photo(folder / "IMG_7002.jpg")
        wait_until(lambda: len(setup.json("failed")) == 2, 30, "two failures")
        wait_until(lambda: "IMG_7001.jpg" in told(desktop) and "IMG_7002.jpg" in told(desktop),
                   10, "the failures told")
    finally:
        assert d.stop() == 0
    failures = desktop.notifies()[1:]
    assert told(desktop).count("IMG_7001.jpg") == told(desktop).count("IMG_7002.jpg") == 1
    assert all(c["urgency"] == 1 for c in failures)
    assert failures[-1]["summary"] in ("2 uploads failed", "Upload failed: IMG_7002.jpg",
                                       "Upload failed: IMG_7001.jpg")
    memory = json.loads((setup.state_dir / NOTIFIED_NAME).read_text())
    assert sorted(Path(p).name for p in memory["failed"]) == ["IMG_7001.jpg", "IMG_7002.jpg"]
    before = desktop.notifies()

    # A restart with both failures due again: they fail again, and nothing is repeated.
    assert setup.run("retry", "--all").returncode == 0
    d = start(setup, tmp_path, desktop)
    try:
        wait_until(lambda: passes_ended(d) >= 1, 30, "the pass at start")
        assert "upload failed:" in d.stderr() and "IMG_7001.jpg" in d.stderr()  # tried again
        assert desktop.notifies() == before

        # A new failure is told, once, with the count of all files not backed up.
        new_photo(folder / "IMG_7003.jpg")
        wait_until(lambda: pass_ended_after(d, "upload failed: " + str(folder / "IMG_7003.jpg")),
                   30, "the new failure's pass")
        wait_until(lambda: len(desktop.notifies()) > len(before), 10, "the new failure told")
    finally:
        assert d.stop() == 0
    new = desktop.notifies()[len(before):]
    assert [(c["summary"], c["body"].splitlines()[1:]) for c in new] == [
        ("Upload failed: IMG_7003.jpg",
         ["3 files are not backed up", "See: immich-backupd failed"])]
    assert new[0]["replaces_id"] == 0  # a new process does not know the old one's id


def test_a_rejected_key_is_told_once_also_across_a_restart(server, make_setup, tmp_path, desktop):
    setup = make_setup(server, api_key="not-the-key-" + "x" * 20)
    for _ in range(2):
        d = start(setup, tmp_path, desktop)
        try:
            wait_until(lambda: " ERROR " in d.stderr(), 30, "the rejected key")  # noqa: B023
        finally:
            assert d.stop() == 0  # what is queued is sent before it exits
        assert [(c["summary"], c["urgency"]) for c in desktop.notifies()] == [
            ("Immich backup stopped", 2)]


def test_switched_off_nothing_is_told_and_nothing_is_kept(server, make_setup, tmp_path, desktop):
    setup = make_setup(server)
    config = json.loads(setup.config.read_text())
    config["notifications"] = {"desktop": False}
    setup.config.write_text(json.dumps(config))
    server.faults.fail("POST", "/api/assets", 500, times=None)  # failures, a first backup
    d = start(setup, tmp_path, desktop)
    try:
        wait_until(lambda: len(setup.json("failed")) > 0, 30, "the failures")
        wait_until(lambda: passes_ended(d) >= 1, 30, "the first pass")
    finally:
        assert d.stop() == 0
    assert desktop.notifies() == []
    assert not (setup.state_dir / NOTIFIED_NAME).exists()
