"""Notifications: what is told and when (the decisions, time passed in), and the reporter
that sends them, one notification per slot updated in place.

The D-Bus adapter against a recorded notification server: test_notify_desktop.py; the
daemon as a process: e2e/test_notifications.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from immich_backupd.model import PassOutcome
from immich_backupd.report.notify import NotifyingReporter
from immich_backupd.report.notify_policy import (
    SHOW_AFTER,
    UPDATE_EVERY,
    Memory,
    Message,
    NotificationText,
    PassNotes,
    Slot,
    Totals,
    alert,
    final_text,
    forget_missing,
    pass_end,
    progress_due,
    progress_text,
)
from immich_backupd.report.progress import Progress


class FakeNotifier:
    """Records every call; ids are n1, n2, ... and an update keeps its id (as D-Bus's
    ``replaces_id`` does); ``fail`` makes send raise."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail
        self.closed = False
        self.closed_by_user: set[str] = set()

    async def send(self, title: str, body: str, *, replace_id: str | None = None,
                   urgency: str = "normal") -> str | None:
        if self.fail:
            raise ConnectionError("notification server gone")
        self.sent.append({"title": title, "body": body, "replace_id": replace_id,
                          "urgency": urgency})
        if replace_id in self.closed_by_user:  # as a desktop does: a new one
            replace_id = None
        return replace_id or f"n{len(self.sent)}"

    def dismissed(self, identifier: str) -> bool:
        return identifier in self.closed_by_user

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
def saved() -> list[Memory]:
    return []


@pytest.fixture
def reporter(fake: FakeNotifier, clock: Clock, saved: list[Memory]) -> NotifyingReporter:
    # Past its first backup: a pass that shows nothing ends quietly.
    return NotifyingReporter(fake, clock=clock, memory=Memory(first_backup_done=True),
                             save=saved.append)


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


def test_final_texts_quote_the_states_counts():
    p = Progress(seen=3, backed_up=3, uploaded=3)  # a pass over one folder
    totals = Totals(backed_up=1234, total=1234, failed=0)
    assert final_text(p, "complete", totals=totals).title == (
        "Backup complete · 1,234 of 1,234 backed up")
    first = final_text(p, "complete", totals=totals, first=True)
    assert first == NotificationText("First backup complete", "1,234 of 1,234 backed up",
                                     "normal")
    # The count of failures is the state's: 11 files are failing, one of them new.
    failing = final_text(Progress(seen=1, failed=1), "partial",
                         totals=Totals(backed_up=0, total=11, failed=11), new_failures=1)
    assert failing.title == "Backup finished with failures"
    assert failing.body == "0 of 11 backed up · 11 failed. See: immich-backupd failed"
    assert failing.urgency == "normal"
    # Old failures only: never "complete", but no banner either.
    old = final_text(p, "complete", totals=Totals(9, 10, 1))
    assert (old.title, old.urgency) == ("Backup finished with failures", "low")
    unreadable = final_text(p, "partial", totals=Totals(3, 3, 0))
    assert unreadable.title == "Backup incomplete" and "immich-backupd status" in unreadable.body
    assert final_text(p, "stopped").title == "Backup stopped"
    assert final_text(Progress(), "quota").urgency == "critical"
    assert "immich-backupd check" in final_text(Progress(), "auth").body
    assert final_text(p, "state") is None


# --------------------------------------------------------------------------- decisions


def test_progress_is_due_only_after_uploading_for_a_while():
    notes = PassNotes()
    p = uploading(0, 50)
    assert not progress_due(p, notes, 1000)  # no upload seen yet
    notes.uploading_since = 1000
    assert not progress_due(p, notes, 1000 + SHOW_AFTER - 0.1)
    assert progress_due(p, notes, 1000 + SHOW_AFTER)
    assert not progress_due(Progress(phase="scanning"), notes, 2000)  # nothing to show
    # A pause is worth showing only on a progress that shows.
    paused = uploading(1, 50)
    paused.waiting_for = "Waiting for power (running on battery)"
    assert not progress_due(paused, notes, 2000)
    notes.shown_at = 2000
    assert not progress_due(p, notes, 2000 + UPDATE_EVERY - 0.1)
    assert progress_due(p, notes, 2000 + UPDATE_EVERY)
    assert progress_due(paused, notes, 2000.1)  # paused: at once


def test_a_routine_pass_ends_quietly():
    done = Memory(first_backup_done=True)
    messages, memory = pass_end(Progress(seen=1, backed_up=1, uploaded=1), "complete",
                                PassNotes(), done, Totals(101, 101, 0))
    assert (messages, memory) == ([], done)


def test_the_first_backup_ends_with_a_summary_once():
    messages, memory = pass_end(Progress(seen=2, backed_up=2, uploaded=2), "complete",
                                PassNotes(), Memory(), Totals(2, 2, 0))
    assert messages == [Message(Slot.STATUS, NotificationText(
        "First backup complete", "2 of 2 backed up", "normal"))]
    assert memory.first_backup_done
    assert pass_end(Progress(seen=2), "complete", PassNotes(), memory, Totals(2, 2, 0))[0] == []
    # Stopped or empty: the first backup is still to come.
    for outcome, totals in (("stopped", Totals(1, 2, 0)), ("complete", Totals(0, 0, 0))):
        assert not pass_end(Progress(), outcome, PassNotes(), Memory(), totals)[1]\
            .first_backup_done


def test_a_failure_is_told_once_until_the_file_is_backed_up():
    notes = PassNotes(failures={"/p/IMG_1.jpg": "HTTP 500"})
    done = Memory(first_backup_done=True)
    messages, memory = pass_end(Progress(failed=1), "partial", notes, done, Totals(5, 6, 1))
    assert messages == [Message(Slot.FAILURES, NotificationText(
        "Upload failed: IMG_1.jpg", "HTTP 500\nSee: immich-backupd failed", "normal"))]
    assert memory.failed == {"/p/IMG_1.jpg"}
    # The next pass (or a restart, which reads the memory back) fails it again: silence.
    again = Memory.from_json(memory.to_json())
    assert again == memory
    notes = PassNotes(failures={"/p/IMG_1.jpg": "HTTP 500"})
    assert pass_end(Progress(failed=1), "partial", notes, again, Totals(5, 6, 1)) == (
        [], memory)
    # Backed up meanwhile, then failing again: told again.
    recovered, memory = pass_end(Progress(), "complete",
                                 PassNotes(recovered={"/p/IMG_1.jpg"}), memory, None)
    assert recovered == [] and memory.failed == frozenset()
    notes = PassNotes(failures={"/p/IMG_1.jpg": "HTTP 500"})
    assert len(pass_end(Progress(failed=1), "partial", notes, memory, None)[0]) == 1


def test_new_failures_are_one_notification_with_the_right_counts():
    old = {f"/p/old{i}.jpg" for i in range(10)}
    failures = {p: "HTTP 500" for p in sorted(old)} | {
        f"/p/new{i}.jpg": "HTTP 500" for i in range(5)}
    memory = Memory(failed=frozenset(old), first_backup_done=True)
    messages, after = pass_end(Progress(failed=15), "partial", PassNotes(failures=failures),
                               memory, Totals(backed_up=0, total=15, failed=15))
    assert messages == [Message(Slot.FAILURES, NotificationText(
        "5 uploads failed",
        "new0.jpg, new1.jpg, new2.jpg (+2 more)\n15 files are not backed up\n"
        "See: immich-backupd failed", "normal"))]
    assert len(after.failed) == 15


def test_a_shown_pass_ends_in_place_and_tells_its_failures_there():
    notes = PassNotes(shown_at=5.0, failures={"/p/a.jpg": "boom"})
    messages, memory = pass_end(Progress(failed=1), "partial", notes,
                                Memory(first_backup_done=True), Totals(9, 10, 1))
    assert [(m.slot, m.text.title) for m in messages] == [
        (Slot.STATUS, "Backup finished with failures")]
    assert memory.failed == {"/p/a.jpg"}
    # Stopped: the progress says so, and the failures are told apart.
    messages, _ = pass_end(Progress(failed=1), "stopped", PassNotes(
        shown_at=5.0, failures={"/p/a.jpg": "boom"}), Memory(), None)
    assert [(m.slot, m.text.title) for m in messages] == [
        (Slot.STATUS, "Backup stopped"), (Slot.FAILURES, "Upload failed: a.jpg")]


def test_alerts_are_told_once_until_a_pass_completes():
    memory = Memory(first_backup_done=True)
    titles = []
    Q, C, A = PassOutcome.QUOTA, PassOutcome.COMPLETE, PassOutcome.AUTH
    for outcome in (Q, Q, C, Q, A, A):
        messages, memory = pass_end(Progress(), outcome, PassNotes(), memory, None)
        titles += [m.text.title for m in messages]
    assert titles == ["Immich storage quota exceeded", "Immich storage quota exceeded",
                      "Immich backup stopped"]
    assert memory.alert is A
    # Before a pass began (the daemon's connect), and after a restart: the same memory.
    assert alert(A, Memory.from_json(memory.to_json())) == ([], memory)
    assert alert(Q, memory)[0][0].text.urgency == "critical"
    # A progress showing is replaced even by a repeated alert (it would stay stale).
    assert pass_end(Progress(), A, PassNotes(shown_at=1.0), memory, None)[0]


def test_memory_reads_what_it_wrote_and_tolerates_junk():
    memory = Memory(failed=frozenset({"/p/\udcff.jpg"}), alert=PassOutcome.QUOTA,
                    first_backup_done=True)
    assert Memory.from_json(json.loads(json.dumps(memory.to_json()))) == memory
    # JSON keeps the outcome's value; it is read back as the enum.
    assert json.loads(json.dumps(memory.to_json()))["alert"] == "quota"
    assert Memory.from_json({"alert": "quota"}).alert is PassOutcome.QUOTA
    assert Memory.from_json({"failed": "x", "alert": "nonsense", "first_backup_done": 1}) \
        == Memory()
    assert forget_missing(memory, ["/q.jpg"]).failed == frozenset()
    assert forget_missing(memory, ["/p/\udcff.jpg"]) is memory


# --------------------------------------------------------------------------- reporter


async def test_progress_is_one_notification_updated_in_place(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    for t in (0, 1, 5, SHOW_AFTER - 0.1):  # uploading, but not for long: nothing
        clock.now = 1000 + t
        reporter.progress(uploading(int(t), 50))
    await reporter.flush()
    assert fake.sent == []
    clock.now = 1000 + SHOW_AFTER
    reporter.progress(uploading(10, 50))
    clock.now += UPDATE_EVERY / 2
    reporter.progress(uploading(11, 50))  # within the interval: nothing
    await reporter.flush()
    clock.now += UPDATE_EVERY / 2
    reporter.progress(uploading(20, 50, sent=90))
    await reporter.flush()
    assert fake.titles == ["Uploading 11 of 50", "Uploading 21 of 50"]
    assert [s["replace_id"] for s in fake.sent] == [None, "n1"]
    assert fake.sent[1]["body"] == "IMG_1234.jpg 90%"
    reporter.pass_done(Progress(seen=50, backed_up=50, uploaded=50), "complete")
    await reporter.flush()
    assert fake.sent[-1] == {"title": "Backup complete · 50 of 50 backed up", "body": "",
                             "replace_id": "n1", "urgency": "low"}
    # The next pass, if long, takes over the same notification.
    clock.now += 100
    reporter.progress(uploading(0, 500))
    clock.now += SHOW_AFTER
    reporter.progress(uploading(1, 500))
    await reporter.flush()
    assert fake.sent[-1]["replace_id"] == "n1"
    assert {s["replace_id"] for s in fake.sent} == {None, "n1"}


async def test_queued_updates_collapse_into_the_latest(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    reporter.progress(uploading(0, 50))
    for i in range(5):  # no await in between: the worker has not run yet
        clock.now += SHOW_AFTER
        reporter.progress(uploading(i, 50))
    await reporter.flush()
    assert fake.titles == ["Uploading 5 of 50"]


async def test_pause_and_resume_of_a_shown_pass_bypass_the_throttle(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    reporter.progress(uploading(0, 50))
    clock.now += SHOW_AFTER
    reporter.progress(uploading(0, 50))
    await reporter.flush()
    waiting = uploading(1, 50)
    waiting.waiting_for = "Waiting for power (running on battery)"
    reporter.progress(waiting)
    await reporter.flush()
    reporter.progress(uploading(1, 50))
    await reporter.flush()
    assert fake.titles == ["Uploading 1 of 50", "Backup paused", "Uploading 2 of 50"]
    assert [s["replace_id"] for s in fake.sent] == [None, "n1", "n1"]


async def test_a_routine_new_photo_sends_nothing(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock, saved: list[Memory]
):
    reporter.progress(Progress(phase="scanning", seen=10))
    reporter.progress(uploading(0, 1))
    clock.now += 2
    reporter.file_done("/photos/2024/IMG_1234.jpg", "uploaded")
    reporter.file_done("/photos/2024/IMG_0001.jpg", "duplicate")
    reporter.pass_done(Progress(seen=10, backed_up=10, uploaded=1), "complete")
    await reporter.flush()
    assert fake.sent == [] and saved == []


async def test_failures_are_sent_and_remembered_once(
    fake: FakeNotifier, clock: Clock, saved: list[Memory]
):
    counts = Totals(backed_up=4, total=6, failed=2)
    reporter = NotifyingReporter(fake, clock=clock, memory=Memory(first_backup_done=True),
                                 save=saved.append, totals=lambda: counts)
    reporter.file_done("/p/IMG_5678.jpg", "failed", "Network connection lost")
    reporter.file_done("/p/IMG_5679.jpg", "unsupported", "")
    await reporter.flush()
    assert fake.sent == []  # told at the end of the pass, all in one
    reporter.pass_done(Progress(seen=6, backed_up=4, failed=2), "partial")
    await reporter.flush()
    assert fake.sent == [{"title": "2 uploads failed", "replace_id": None, "urgency": "normal",
                          "body": "IMG_5678.jpg, IMG_5679.jpg\n2 files are not backed up\n"
                                  "See: immich-backupd failed"}]
    assert saved[-1].failed == {"/p/IMG_5678.jpg", "/p/IMG_5679.jpg"}
    # A restart: a new reporter with the saved memory; the same failures are not told.
    again = NotifyingReporter(fake, clock=clock, memory=saved[-1], save=saved.append,
                              totals=lambda: counts)
    again.file_done("/p/IMG_5678.jpg", "failed", "Network connection lost")
    again.pass_done(Progress(seen=1, failed=1), "partial")
    await again.flush()
    assert len(fake.sent) == 1 and len(saved) == 1
    # One of them is backed up: forgotten, so that a later failure is told again.
    again.file_done("/p/IMG_5678.jpg", "uploaded")
    again.pass_done(Progress(seen=1, backed_up=1, uploaded=1), "complete")
    await again.ended()  # the end is worked out after the counts are read in a thread
    assert saved[-1].failed == {"/p/IMG_5679.jpg"}
    again.file_done("/p/IMG_5678.jpg", "failed", "boom")
    again.pass_done(Progress(seen=1, failed=1), "partial")
    await again.flush()
    assert fake.sent[-1]["title"] == "Upload failed: IMG_5678.jpg"
    # A new failure, in the same process: it replaces the previous failure notification.
    again.file_done("/p/IMG_9999.jpg", "failed", "boom")
    again.pass_done(Progress(seen=1, failed=1), "partial")
    await again.flush()
    assert fake.sent[-1]["title"] == "Upload failed: IMG_9999.jpg"
    assert [s["replace_id"] for s in fake.sent[1:]] == [None, "n2"]


async def test_an_alert_before_a_pass_is_told_once(fake: FakeNotifier, saved: list[Memory]):
    reporter = NotifyingReporter(fake, save=saved.append)
    reporter.alert("auth")
    reporter.alert("auth")
    await reporter.flush()
    assert fake.titles == ["Immich backup stopped"]
    assert saved == [Memory(alert="auth")]


async def test_a_failing_save_or_totals_never_propagates(fake: FakeNotifier, caplog):
    def broken_save(memory: Memory) -> None:
        raise OSError(28, "No space left on device")

    def broken_totals() -> Totals:
        raise RuntimeError("database is locked")

    reporter = NotifyingReporter(fake, save=broken_save, totals=broken_totals)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        reporter.file_done("/p/a.jpg", "failed", "boom")
        reporter.pass_done(Progress(seen=1, failed=1), "partial")
        await reporter.flush()
    assert fake.titles == ["First backup finished with failures"]
    assert "saving what was notified failed" in caplog.text
    assert reporter.memory.failed == {"/p/a.jpg"}  # remembered in the process at least


async def test_a_raising_notifier_never_propagates(clock: Clock, caplog):
    broken = FakeNotifier(fail=True)
    reporter = NotifyingReporter(broken, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="immich_backupd.notify"):
        reporter.file_done("/p/a.jpg", "failed", "boom")
        reporter.pass_done(Progress(seen=5, failed=1), "partial")
        await reporter.flush()
        reporter.alert("quota")
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
    reporter.alert("quota")
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


async def test_a_quiet_stretch_of_uploading_is_shown_without_more_events(fake: FakeNotifier):
    """A pass reports progress when something happens: the show_after mark reached in a
    long upload's quiet stretch is found by the reporter's own timer, and an update that
    says the same again is not sent."""
    reporter = NotifyingReporter(fake, memory=Memory(first_backup_done=True),
                                 show_after=0.2, interval=0.1)
    p = uploading(0, 1, sent=100)
    reporter.progress(p)
    await asyncio.sleep(0.5)
    await reporter.flush()
    assert fake.titles == ["Uploading 1 of 1"]  # once, though the timer ran since
    p.start_upload("/photos/2024/IMG_2.jpg", 100)  # changed, no event: the timer sees it
    await asyncio.sleep(0.3)
    await reporter.flush()
    assert [s["body"] for s in fake.sent] == ["IMG_1234.jpg 100%", "IMG_1234.jpg 100% (+1 more)"]
    reporter.pass_done(Progress(seen=1, backed_up=1, uploaded=1), "complete")
    await asyncio.sleep(0.3)  # no timer left behind
    await reporter.flush()
    assert fake.titles[-1] == "Backup complete · 1 of 1 backed up" and len(fake.sent) == 3


async def test_a_progress_the_user_closed_stays_closed_for_that_pass(
    reporter: NotifyingReporter, fake: FakeNotifier, clock: Clock
):
    reporter.progress(uploading(0, 50))
    clock.now += SHOW_AFTER
    reporter.progress(uploading(5, 50))
    await reporter.flush()
    fake.closed_by_user.add("n1")
    for i in range(6, 20):
        clock.now += UPDATE_EVERY
        reporter.progress(uploading(i, 50))
    reporter.pass_done(Progress(seen=50, backed_up=50, uploaded=50), "complete")
    await reporter.flush()
    assert fake.titles == ["Uploading 6 of 50"]  # no update, no "complete" popping back
    # The next long pass shows its progress again, as a new notification.
    reporter.progress(uploading(0, 9))
    clock.now += SHOW_AFTER
    reporter.progress(uploading(1, 9))
    await reporter.flush()
    assert fake.sent[-1] == {"title": "Uploading 2 of 9", "body": "IMG_1234.jpg 45%",
                             "replace_id": None, "urgency": "low"}


async def test_the_counts_for_a_pass_end_are_read_off_the_event_loop(fake: FakeNotifier):
    """The state's counts take a query over every file: read in a thread, so the loop
    (watchdog pings, signals) is not held; an alert right after is told after the end."""
    import threading

    readers: list[threading.Thread] = []

    def totals() -> Totals:
        readers.append(threading.current_thread())
        return Totals(backed_up=5, total=5, failed=0)

    reporter = NotifyingReporter(fake, memory=Memory(first_backup_done=True), totals=totals)
    reporter.pass_done(Progress(seen=5, failed=1), "partial")
    reporter.alert("quota")
    await reporter.flush()
    assert readers and threading.main_thread() not in readers
    assert fake.sent and "quota" in (fake.sent[-1]["title"] + fake.sent[-1]["body"]).lower()
