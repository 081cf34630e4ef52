"""Notifications: the reporter's throttling and slots, and the desktop adapter's safety.

No ``from __future__ import annotations`` here: the stand-in notification server at the end
declares its D-Bus signatures as annotations, which dbus-fast reads at runtime.
"""

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from immich_backupd.report.notify import (
    DesktopNotifier,
    NotificationText,
    NotifyingReporter,
    NullNotifier,
    final_text,
    progress_text,
    session_bus_address,
)
from immich_backupd.report.progress import Progress
from tests.dbus_bus import private_bus


class FakeNotifier:
    """Records every call; ids are n1, n2, ...; ``fail`` makes send raise."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail
        self.closed = False

    async def send(self, title: str, body: str, *, replace_id: str | None = None,
                   urgency: str = "normal") -> str | None:
        if self.fail:
            raise ConnectionError("notification server gone")
        self.sent.append({"title": title, "body": body, "replace_id": replace_id,
                          "urgency": urgency})
        return f"n{len(self.sent)}"

    async def close(self) -> None:
        self.closed = True
        if self.fail:
            raise ConnectionError("still gone")

    @property
    def titles(self) -> list[str]:
        return [s["title"] for s in self.sent]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def uploading(done: int, planned: int, name: str = "IMG_1234.jpg", sent: int = 45,
              scanning: bool = False) -> Progress:
    p = Progress(phase="uploading", planned=planned, done=done, scanning=scanning)
    p.start_upload(f"/photos/2024/{name}", 100).sent = sent
    return p


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def reporter(fake: FakeNotifier, clock: Clock) -> NotifyingReporter:
    return NotifyingReporter(fake, interval=10, clock=clock)


# --------------------------------------------------------------------------- texts


def test_progress_text():
    assert progress_text(uploading(11, 50)) == NotificationText(
        "Uploading 12 of 50", "IMG_1234.jpg 45%", "low")
    assert progress_text(uploading(11, 50, scanning=True)).title == "Uploading 12 of 50+"
    p = uploading(0, 2)
    p.start_upload("/v/MOV_1.mov", 10)
    assert progress_text(p).body == "IMG_1234.jpg 45% (+1 more)"
    assert progress_text(Progress(phase="scanning")) is None
    waiting = Progress(waiting_for="Waiting for Wi-Fi (videos held on a metered network)")
    assert progress_text(waiting) == NotificationText(
        "Backup paused", "Waiting for Wi-Fi (videos held on a metered network)", "low")


def test_final_texts():
    p = Progress(seen=1234, backed_up=1234, uploaded=3)
    complete = final_text(p, "complete", shown=False)
    assert complete.title == "Backup complete · 1,234 of 1,234 backed up"
    quiet = Progress(seen=10, backed_up=10)
    assert final_text(quiet, "complete", shown=False) is None  # a daemon runs many of these
    assert final_text(quiet, "stopped", shown=False) is None
    assert final_text(quiet, "stopped", shown=True).title == "Backup stopped"
    partial = final_text(Progress(seen=10, backed_up=5, failed=5), "partial", shown=False)
    assert "5 failed" in partial.body and "immich-backupd failed" in partial.body
    assert final_text(quiet, "quota", shown=False).urgency == "critical"
    assert "immich-backupd check" in final_text(quiet, "auth", shown=False).body


# --------------------------------------------------------------------------- reporter


async def test_progress_is_one_notification_updated_in_place_and_throttled(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    reporter.progress(uploading(0, 50))
    await reporter.flush()
    for t in (1, 5, 9.9):  # within the interval: nothing
        clock.now += t - (clock.now - 1000)
        reporter.progress(uploading(int(t), 50))
    await reporter.flush()
    assert fake.titles == ["Uploading 1 of 50"]
    clock.now = 1010
    reporter.progress(uploading(11, 50, sent=90))
    await reporter.flush()
    clock.now = 1020
    reporter.progress(uploading(20, 50))
    await reporter.flush()
    assert fake.titles == ["Uploading 1 of 50", "Uploading 12 of 50", "Uploading 21 of 50"]
    assert [s["replace_id"] for s in fake.sent] == [None, "n1", "n2"]
    assert fake.sent[1]["body"] == "IMG_1234.jpg 90%"


async def test_queued_updates_collapse_into_the_latest(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    for i in range(5):  # no await in between: the worker has not run yet
        clock.now += 10
        reporter.progress(uploading(i, 50))
    await reporter.flush()
    assert fake.titles == ["Uploading 5 of 50"]


async def test_pause_and_resume_bypass_the_throttle(
    reporter: NotifyingReporter, fake: FakeNotifier
):
    reporter.progress(uploading(0, 50))
    await reporter.flush()
    waiting = uploading(1, 50)
    waiting.waiting_for = "Waiting for power (running on battery)"
    reporter.progress(waiting)
    await reporter.flush()
    reporter.progress(uploading(1, 50))
    await reporter.flush()
    assert fake.titles == ["Uploading 1 of 50", "Backup paused", "Uploading 2 of 50"]


async def test_pass_end_replaces_the_progress_notification(
    reporter: NotifyingReporter, fake: FakeNotifier
):
    reporter.progress(uploading(0, 2))
    reporter.file_done("/photos/IMG_1.jpg", "uploaded")
    await reporter.flush()
    reporter.pass_done(Progress(seen=1234, backed_up=1234, uploaded=2), "complete")
    await reporter.flush()
    assert fake.sent[-1] == {"title": "Backup complete · 1,234 of 1,234 backed up", "body": "",
                             "replace_id": "n1", "urgency": "low"}
    # The next pass's progress takes over the same notification.
    reporter.progress(uploading(0, 1))
    await reporter.flush()
    assert fake.sent[-1]["replace_id"] == "n2"


async def test_a_quiet_pass_sends_nothing(reporter: NotifyingReporter, fake: FakeNotifier):
    reporter.progress(Progress(phase="scanning", seen=10))
    reporter.file_done("/p/a.jpg", "duplicate")
    reporter.pass_done(Progress(seen=10, backed_up=10), "complete")
    await reporter.flush()
    assert fake.sent == []


async def test_first_failures_by_name_then_one_count(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    reporter.file_done("/p/IMG_5678.jpg", "failed", "Network connection lost")
    reporter.file_done("/p/IMG_5679.jpg", "failed", "Network connection lost")
    reporter.file_done("/p/clip.avi", "unsupported", "")
    await reporter.flush()
    assert fake.sent[0] == {"title": "Upload failed: IMG_5678.jpg",
                            "body": "Network connection lost", "replace_id": None,
                            "urgency": "normal"}
    assert fake.titles[2] == "Upload failed: clip.avi"
    assert len(fake.sent) == 3
    for _ in range(50):  # a burst: one count, not fifty notifications
        reporter.file_done("/p/x.jpg", "failed", "Network connection lost")
    await reporter.flush()
    assert fake.titles[3:] == ["4 uploads failed"]
    clock.now += 10
    reporter.file_done("/p/y.jpg", "failed", "boom")
    await reporter.flush()
    assert fake.titles[4:] == ["54 uploads failed"]
    assert fake.sent[4]["replace_id"] == "n4"  # the count is updated in place
    reporter.pass_done(Progress(seen=60, backed_up=6, failed=54), "partial")
    await reporter.flush()
    assert fake.titles[5:] == ["Backup finished with failures"]  # count already current


async def test_the_final_count_is_sent_at_the_end_of_the_pass(
    reporter: NotifyingReporter, fake: FakeNotifier
):
    for i in range(6):
        reporter.file_done(f"/p/{i}.jpg", "failed", "boom")
    await reporter.flush()
    assert fake.titles[-1] == "4 uploads failed"
    reporter.pass_done(Progress(seen=6, failed=6), "partial")
    await reporter.flush()
    assert fake.titles[-2:] == ["6 uploads failed", "Backup finished with failures"]
    # A new pass starts counting again.
    reporter.file_done("/p/again.jpg", "failed", "boom")
    await reporter.flush()
    assert fake.titles[-1] == "Upload failed: again.jpg"


async def test_quota_and_auth_alerts_are_not_repeated_every_pass(
    reporter: NotifyingReporter, fake: FakeNotifier
):
    for outcome in ("quota", "quota", "quota", "complete", "quota", "auth", "auth"):
        reporter.pass_done(Progress(), outcome)
        await reporter.flush()
    assert fake.titles == ["Immich storage quota exceeded", "Immich storage quota exceeded",
                           "Immich backup stopped"]
    assert {s["urgency"] for s in fake.sent} == {"critical"}


async def test_a_raising_notifier_never_propagates(clock: Clock, caplog):
    broken = FakeNotifier(fail=True)
    reporter = NotifyingReporter(broken, interval=10, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        reporter.progress(uploading(0, 5))
        reporter.file_done("/p/a.jpg", "failed", "boom")
        reporter.pass_done(Progress(seen=5, failed=1), "partial")
        await reporter.flush()
        await reporter.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # then debug
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) >= 2
    assert broken.closed


async def test_a_hanging_notifier_does_not_block(clock: Clock):
    class Hanging(FakeNotifier):
        async def send(self, title: str, body: str, **kw: Any) -> str | None:
            await asyncio.sleep(3600)
            return None

    reporter = NotifyingReporter(Hanging(), clock=clock, send_timeout=0.05)
    reporter.progress(uploading(0, 5))
    async with asyncio.timeout(1):
        await reporter.flush()


async def test_close_sends_what_is_queued_then_stops(fake: FakeNotifier, clock: Clock):
    reporter = NotifyingReporter(fake, clock=clock)
    reporter.pass_done(Progress(), "quota")
    await reporter.close()
    assert fake.titles == ["Immich storage quota exceeded"]
    assert fake.closed
    reporter.pass_done(Progress(), "auth")  # after close: dropped, no task left behind
    await asyncio.sleep(0)
    assert len(fake.sent) == 1
    await reporter.close()  # twice is fine


async def test_close_cancels_a_stuck_send(clock: Clock):
    started = asyncio.Event()

    class Stuck(FakeNotifier):
        async def send(self, title: str, body: str, **kw: Any) -> str | None:
            started.set()
            await asyncio.sleep(3600)
            return None

    notifier = Stuck()
    reporter = NotifyingReporter(notifier, clock=clock)
    reporter.pass_done(Progress(), "quota")
    await started.wait()
    async with asyncio.timeout(1):
        await reporter.close(timeout=0.01)
    assert notifier.closed


def test_events_without_an_event_loop_are_dropped(fake: FakeNotifier):
    reporter = NotifyingReporter(fake)
    reporter.pass_done(Progress(), "quota")  # no running loop: nothing to schedule on
    assert fake.sent == []


# --------------------------------------------------------------------------- adapter


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


class FakeBackend:
    """Stands in for desktop_notifier.DesktopNotifier 6: the four calls we use."""

    def __init__(self, *, probe_fails: bool = False, send_fails: bool = False,
                 drops: bool = False) -> None:
        self.probe_fails = probe_fails
        self.send_fails = send_fails
        self.drops = drops  # the library swallowed a failure: id returned, never shown
        self.shown: dict[str, tuple[str, str, Any]] = {}
        self.cleared: list[str] = []
        self.count = 0

    async def get_capabilities(self) -> frozenset[Any]:
        if self.probe_fails:
            raise ConnectionRefusedError("no notification server")
        return frozenset()

    async def send(self, title: str, message: str, urgency: Any = None) -> str:
        if self.send_fails:
            raise RuntimeError("boom")
        self.count += 1
        identifier = f"uuid-{self.count}"
        if not self.drops:
            self.shown[identifier] = (title, message, urgency)
        return identifier

    async def clear(self, identifier: str) -> None:
        self.cleared.append(identifier)
        del self.shown[identifier]  # KeyError if already dismissed, like the library

    async def get_current_notifications(self) -> list[str]:
        return list(self.shown)


def adapter(backend: FakeBackend | None, **kw: Any) -> tuple[DesktopNotifier, list[str]]:
    made: list[str] = []

    def factory(app_name: str) -> FakeBackend:
        made.append(app_name)
        assert backend is not None
        return backend

    kw.setdefault("env", {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/fake"})
    kw.setdefault("platform", "linux")
    return DesktopNotifier(backend=factory, urgency_map=str.upper, uid=1000, **kw), made


async def test_without_a_session_nothing_is_even_constructed(caplog, tmp_path: Path):
    notifier, made = adapter(None, env={"XDG_RUNTIME_DIR": str(tmp_path)})
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        assert await notifier.send("t", "b") is None
        assert await notifier.send("t", "b") is None
    assert made == []
    assert notifier.active is False
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]  # once


async def test_sends_and_replaces(caplog):
    backend = FakeBackend()
    notifier, made = adapter(backend)
    assert notifier.active is None
    first = await notifier.send("Uploading 1 of 2", "a.jpg 5%", urgency="low")
    second = await notifier.send("Uploading 2 of 2", "b.jpg 5%", replace_id=first, urgency="low")
    assert (first, second, made, notifier.active) == ("uuid-1", "uuid-2", ["immich-backupd"], True)
    assert backend.cleared == ["uuid-1"]
    assert backend.shown == {"uuid-2": ("Uploading 2 of 2", "b.jpg 5%", "LOW")}
    # Replacing one the user already dismissed just shows the new one.
    backend.shown.clear()
    assert await notifier.send("x", "y", replace_id="uuid-2") == "uuid-3"


async def test_a_failed_connection_turns_it_off_quietly(caplog):
    notifier, made = adapter(FakeBackend(probe_fails=True))
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        assert await notifier.send("t", "b") is None
        assert await notifier.send("t", "b") is None
    assert made == ["immich-backupd"]  # tried once
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


@pytest.mark.parametrize("backend", [FakeBackend(send_fails=True), FakeBackend(drops=True)])
async def test_failures_never_raise_and_warn_once(backend: FakeBackend, caplog):
    notifier, _ = adapter(backend)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        for _ in range(3):
            assert await notifier.send("t", "b") is None
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


async def test_closed_sends_nothing():
    backend = FakeBackend()
    notifier, _ = adapter(backend)
    await notifier.close()
    assert await notifier.send("t", "b") is None
    assert backend.shown == {}


async def test_null_notifier():
    assert await NullNotifier().send("t", "b") is None
    await NullNotifier().close()


# --------------------------------------------------------------------------- real library

dbus_fast = pytest.importorskip("dbus_fast")
from dbus_fast.aio import MessageBus  # noqa: E402
from dbus_fast.service import ServiceInterface, method, signal  # noqa: E402


class FakeNotificationServer(ServiceInterface):
    """org.freedesktop.Notifications as a desktop provides it, recording what it shows.

    The string annotations are D-Bus signatures, hence the ``noqa`` for pyflakes.
    """

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.shown: dict[int, tuple[str, str, int]] = {}  # id -> summary, body, urgency
        self.next_id = 0

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s",  # noqa: F821
               body: "s", actions: "as", hints: "a{sv}", timeout: "i") -> "u":  # noqa: F821, F722
        self.next_id += 1
        self.shown[self.next_id] = (summary, body, hints["urgency"].value)
        return self.next_id

    @method()
    def CloseNotification(self, nid: "u") -> None:  # noqa: F821
        self.shown.pop(nid, None)
        self.NotificationClosed(nid, 3)

    @method()
    def GetCapabilities(self) -> "as":  # noqa: F722
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: F821
        return ["fake", "tests", "1.0", "1.2"]

    @signal()
    def NotificationClosed(self, nid: "u", reason: "u") -> "uu":  # noqa: F821
        return [nid, reason]

    @signal()
    def ActionInvoked(self, nid: "u", action: "s") -> "us":  # noqa: F821
        return [nid, action]


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed")
    with private_bus(tmp_path) as address:
        yield address


@pytest.fixture
async def server(session_bus: str) -> AsyncIterator[FakeNotificationServer]:
    bus = await MessageBus(bus_address=session_bus).connect()
    fake = FakeNotificationServer()
    bus.export("/org/freedesktop/Notifications", fake)
    await bus.request_name("org.freedesktop.Notifications")
    yield fake
    bus.disconnect()


async def test_the_real_library_shows_and_replaces(
    server: FakeNotificationServer, session_bus: str, monkeypatch: pytest.MonkeyPatch
):
    """The installed desktop-notifier, end to end over a private session bus."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)  # where the library looks
    notifier = DesktopNotifier(platform="linux")
    reporter = NotifyingReporter(notifier, interval=0)
    reporter.progress(uploading(0, 2))
    await reporter.flush()
    assert list(server.shown.values()) == [("Uploading 1 of 2", "IMG_1234.jpg 45%", 0)]
    reporter.pass_done(Progress(seen=2, backed_up=2, uploaded=2), "complete")
    await reporter.flush()
    assert list(server.shown.values()) == [("Backup complete · 2 of 2 backed up", "", 0)]
    reporter.file_done("/p/IMG_5678.jpg", "failed", "Network connection lost")
    await reporter.close()
    assert ("Upload failed: IMG_5678.jpg", "Network connection lost", 1) in server.shown.values()


async def test_a_session_bus_without_a_notification_server_is_off(
    session_bus: str, monkeypatch: pytest.MonkeyPatch, caplog
):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)
    notifier = DesktopNotifier(platform="linux", timeout=5)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        assert await notifier.send("t", "b") is None
    assert notifier.active is False
