"""The notification edge: D-Bus against a recorded notification server on a private
session bus, the library adapter (macOS, Windows), and what was told, kept in the state
folder (daemon/notified.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from immich_backupd.daemon import notified
from immich_backupd.report.desktop import (
    DBusNotifier,
    LibraryNotifier,
    NullNotifier,
    desktop_notifier,
    session_bus_address,
)
from immich_backupd.report.notify import NotifyingReporter
from immich_backupd.report.notify_policy import Memory, Totals
from immich_backupd.report.progress import Progress
from immich_backupd.state import FAILED, FileRecord, StateStore
from tests.dbus_bus import private_bus

pytest.importorskip("dbus_fast")
from tests.notification_server import NotificationServer, serve


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed")
    with private_bus(tmp_path) as address:
        yield address


@pytest.fixture
async def server(session_bus: str) -> AsyncIterator[NotificationServer]:
    recorded = NotificationServer()
    bus = await serve(session_bus, recorded)
    yield recorded
    bus.disconnect()


def on_bus(address: str) -> DBusNotifier:
    return DBusNotifier(env={"DBUS_SESSION_BUS_ADDRESS": address}, uid=1000, timeout=5)


# --------------------------------------------------------------------------- D-Bus


async def test_updates_replace_the_notification_in_place(
    server: NotificationServer, session_bus: str
):
    notifier = on_bus(session_bus)
    assert notifier.active is None
    first = await notifier.send("Uploading 1 of 2", "a.jpg 5%", urgency="low")
    second = await notifier.send("Uploading 2 of 2", "b.jpg 5%", replace_id=first,
                                 urgency="low")
    done = await notifier.send("Backup complete", "", replace_id=second, urgency="low")
    assert first == second == done == "1" and notifier.active
    assert [(c["replaces_id"], c["id"]) for c in server.notifies] == [(0, 1), (1, 1), (1, 1)]
    assert server.shown == {1: ("Backup complete", "", 0)}
    assert server.notifies[0]["app_name"] == "immich-backupd"
    assert not [c for c in server.calls if c["call"] == "CloseNotification"]  # no pop-ups
    alert = await notifier.send("Immich backup stopped", "key", urgency="critical")
    assert alert == "2" and server.shown[2][2] == 2
    await notifier.close()
    assert await notifier.send("t", "b") is None and notifier.active is False


async def test_a_notification_the_user_closed_is_known(
    server: NotificationServer, session_bus: str
):
    notifier = on_bus(session_bus)
    first = await notifier.send("Uploading 1 of 2", "a.jpg 5%", urgency="low")
    other = await notifier.send("Upload failed: b.jpg", "boom")
    assert first is not None and other is not None
    assert not notifier.dismissed(first)
    server.NotificationClosed(int(other), 1)  # expired: not the user's doing
    server.dismiss(int(first))  # signals arrive in order: this one last
    for _ in range(100):
        if notifier.dismissed(first):
            break
        await asyncio.sleep(0.02)
    assert notifier.dismissed(first) and not notifier.dismissed(other)
    # Replacing a closed one: the server shows a new one (its own choice of id).
    again = await notifier.send("Uploading 2 of 2", "b.jpg", replace_id=first)
    assert again == "3" and not notifier.dismissed(again)
    await notifier.close()


async def test_the_reporter_over_dbus_shows_one_progress_notification(
    server: NotificationServer, session_bus: str
):
    clock = [0.0]
    reporter = NotifyingReporter(on_bus(session_bus), memory=Memory(first_backup_done=True),
                                 clock=lambda: clock[0])
    for t in range(0, 30):
        clock[0] = float(t)
        p = Progress(phase="uploading", planned=30, done=t, scanning=False)
        p.start_upload(f"/p/IMG_{t}.jpg", 100).sent = 50
        reporter.progress(p)
        await reporter.flush()
    reporter.pass_done(Progress(seen=30, backed_up=30, uploaded=30), "complete")
    await reporter.close()
    ids = {c["id"] for c in server.notifies}
    assert ids == {1}  # one notification, updated in place
    assert [c["summary"] for c in server.notifies] == [
        "Uploading 11 of 30", "Uploading 16 of 30", "Uploading 21 of 30", "Uploading 26 of 30",
        "Backup complete · 30 of 30 backed up"]


async def test_a_bus_without_a_notification_server_shows_nothing_until_one_comes(
    session_bus: str, caplog
):
    notifier = on_bus(session_bus)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        assert await notifier.send("t", "b") is None
    assert "no notification server" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # The desktop starts its notification server later: the next send reaches it.
    recorded = NotificationServer()
    bus = await serve(session_bus, recorded)
    try:
        assert await notifier.send("t", "b") == "1"
    finally:
        bus.disconnect()
    await notifier.close()


async def test_without_a_session_it_is_off_quietly(tmp_path: Path, caplog):
    notifier = DBusNotifier(env={"XDG_RUNTIME_DIR": str(tmp_path)}, uid=1000)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        assert await notifier.send("t", "b") is None
        assert await notifier.send("t", "b") is None
    assert notifier.active is False
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]  # once


async def test_a_lost_bus_is_said_once_and_reconnected(tmp_path: Path, caplog):
    with private_bus(tmp_path) as address:
        notifier = on_bus(address)
        bus = await serve(address, NotificationServer())
        assert await notifier.send("t", "b") == "1"
        bus.disconnect()
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        for _ in range(3):  # the bus is gone
            assert await notifier.send("t", "b") is None
    assert caplog.records[0].levelno == logging.WARNING
    assert {r.levelno for r in caplog.records[1:]} == {logging.DEBUG}
    with private_bus(tmp_path) as address:  # back, at the same address
        bus = await serve(address, NotificationServer())
        try:
            assert await notifier.send("t", "b") == "1"
        finally:
            bus.disconnect()
    await notifier.close()


def test_session_bus_address():
    def none(path: Path) -> bool:
        return False

    def runtime_bus(path: Path) -> bool:
        return path == Path("/run/user/1000/bus")

    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/tmp/x"}
    assert session_bus_address(env, 1000, none) == "unix:path=/tmp/x"
    assert session_bus_address({}, 1000, runtime_bus) == "unix:path=/run/user/1000/bus"
    assert session_bus_address({}, 1000, none) is None
    xdg = {"XDG_RUNTIME_DIR": "/tmp/rt"}
    assert session_bus_address(xdg, 1000, lambda p: p == Path("/tmp/rt/bus")) == (
        "unix:path=/tmp/rt/bus")


def test_the_platforms_notifier():
    assert isinstance(desktop_notifier(platform="linux"), DBusNotifier)
    assert isinstance(desktop_notifier(platform="darwin"), LibraryNotifier)
    assert isinstance(desktop_notifier(platform="win32"), LibraryNotifier)


async def test_null_notifier():
    assert await NullNotifier().send("t", "b") is None
    await NullNotifier().close()


# --------------------------------------------------------------------------- library


class FakeBackend:
    """Stands in for desktop_notifier.DesktopNotifier 6 on macOS: a notification sent
    with the identifier of one delivered replaces it, as UNUserNotificationCenter does."""

    def __init__(self, *, probe_fails: bool = False, drops: bool = False) -> None:
        self.probe_fails = probe_fails
        self.drops = drops  # the library swallowed a failure: never delivered
        self.delivered: dict[str, tuple[str, str]] = {}
        self.requests = 0

    async def get_capabilities(self) -> frozenset[Any]:
        if self.probe_fails:
            raise ConnectionRefusedError("no notification center")
        return frozenset()

    async def send_notification(self, notification: Any) -> str:
        self.requests += 1
        if not self.drops:
            self.delivered[notification.identifier] = (notification.title,
                                                       notification.message)
        return notification.identifier

    async def get_current_notifications(self) -> list[str]:
        return list(self.delivered)


def library(backend: FakeBackend) -> LibraryNotifier:
    return LibraryNotifier(backend=lambda app_name: backend)


async def test_the_library_reuses_the_identifier_to_replace():
    backend = FakeBackend()
    notifier = library(backend)
    first = await notifier.send("Uploading 1 of 2", "a.jpg", urgency="low")
    second = await notifier.send("Uploading 2 of 2", "b.jpg", replace_id=first, urgency="low")
    assert first == second and notifier.active
    assert backend.delivered == {first: ("Uploading 2 of 2", "b.jpg")}
    other = await notifier.send("Upload failed: c.jpg", "boom")
    assert other not in (None, first) and len(backend.delivered) == 2
    await notifier.close()
    assert await notifier.send("t", "b") is None


async def test_the_library_off_or_failing_never_raises(caplog):
    off = library(FakeBackend(probe_fails=True))
    dropping = library(FakeBackend(drops=True))
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        assert await off.send("t", "b") is None
        assert off.active is False
        for _ in range(3):
            assert await dropping.send("t", "b") is None
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.DEBUG, logging.WARNING, logging.DEBUG, logging.DEBUG]


# --------------------------------------------------------------------------- memory


async def failed_state(state_dir: Path, *paths: Path, backed_up: bool = False) -> None:
    store = await StateStore.open(state_dir)
    try:
        for p in paths:
            await store.put(FileRecord(path=p, size=1, mtime_ns=1, ino=1, status=FAILED,
                                       error="HTTP 500", attempts=3))
        if backed_up:
            await store.set_meta("last_backup_at", "1700000000")
    finally:
        await store.close()


async def test_what_was_told_is_kept_and_pruned(tmp_path: Path):
    state = tmp_path / "state"
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    await failed_state(state, a, b)
    notified.save(state, Memory(failed=frozenset({str(a), str(tmp_path / "gone.jpg")}),
                                alert="quota"))
    assert (state / notified.NOTIFIED_NAME).stat().st_mode & 0o777 == 0o600
    memory = notified.load(state)
    # gone.jpg is no longer failing: forgotten (and saved so); b was never told.
    assert memory == Memory(failed=frozenset({str(a)}), alert="quota")
    saved = json.loads((state / notified.NOTIFIED_NAME).read_text())
    assert saved["failed"] == [str(a)]
    assert notified.totals(state) == Totals(backed_up=0, total=2, failed=2)


async def test_an_upgrade_announces_nothing_old(tmp_path: Path):
    state = tmp_path / "state"
    await failed_state(state, tmp_path / "a.jpg", backed_up=True)
    memory = notified.load(state)  # no notified.json yet: an older release ran here
    assert memory == Memory(failed=frozenset({str(tmp_path / "a.jpg")}),
                            first_backup_done=True)
    assert (state / notified.NOTIFIED_NAME).exists()


def test_a_new_or_broken_memory(tmp_path: Path, caplog):
    assert notified.load(tmp_path / "nothing-yet") == Memory()
    assert notified.totals(tmp_path / "nothing-yet") is None
    (tmp_path / notified.NOTIFIED_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="immich_backupd.notify"):
        assert notified.load(tmp_path) == Memory()
    assert "cannot read" in caplog.text
