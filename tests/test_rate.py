"""Rate and time left of a pass (``report.rate``), and how the screens show them."""

from __future__ import annotations

from immich_backupd.cli.status import render, transfer_line
from immich_backupd.report.progress import Progress
from immich_backupd.report.rate import (
    PassRate,
    RateWindow,
    time_left,
    transfer,
    transfer_parts,
)
from immich_backupd.report.status import counts_in_pass, headline
from immich_backupd.report.statusline import status_line


def test_the_rate_is_taken_over_the_last_seconds():
    w = RateWindow(window=10.0)
    assert w.value() is None
    w.add(100.0, 0)
    w.add(100.5, 1_000_000)
    assert w.value() is None  # half a second says nothing yet
    w.add(102.0, 4_000_000)
    assert w.value() == 2_000_000.0
    for t in range(103, 131):  # 1 MB/s for half a minute: the early 2 MB/s is forgotten
        w.add(float(t), 4_000_000 + (t - 102) * 1_000_000)
    assert w.value() == 1_000_000.0
    assert len(w.samples) <= 12


def test_samples_close_together_do_not_pile_up_and_a_stall_shows_as_zero():
    w = RateWindow(window=10.0)
    for i in range(10_000):  # a progress event per 64 KB chunk
        w.add(100.0 + i / 1000, i * 65_536)
    assert len(w.samples) <= 10 / 0.25 + 3
    stalled = RateWindow(window=10.0)
    for t in range(100, 130):
        stalled.add(float(t), 5_000_000 if t > 110 else (t - 100) * 500_000)
    assert stalled.value() == 0.0
    assert time_left(1_000_000, stalled.value()) is None


def test_a_lower_total_starts_the_window_over():
    w = RateWindow()
    w.add(100.0, 50_000_000)
    w.add(110.0, 60_000_000)
    w.add(111.0, 0)  # a new pass
    assert w.value() is None


def test_the_rate_of_a_pass_starts_over_with_the_next_pass():
    rate = PassRate()
    first = Progress(bytes_uploaded=0)
    rate.update(first, 100.0)
    first.bytes_uploaded = 30_000_000
    assert rate.update(first, 110.0) == 3_000_000.0
    assert rate.rate_of(first) == 3_000_000.0
    second = Progress()
    assert rate.rate_of(second) is None  # not watched yet
    rate.update(second, 3700.0)  # an hour later
    second.bytes_uploaded = 1_000_000
    assert rate.update(second, 3702.0) == 500_000.0  # not (1 MB - 30 MB) / 1 h


def test_bytes_sent_count_the_uploads_in_flight_and_time_left_what_is_not_done():
    p = Progress(planned=8, bytes_planned=80_000_000, scanning=False)
    for i in range(8):
        p.start_upload(f"/p/{i}.jpg", 10_000_000).sent = 1_875_000
    assert p.bytes_uploaded == 0
    assert p.bytes_sent == 15_000_000  # "bytes_uploaded: 0 with 15 MB sent" no more
    assert p.bytes_left == 65_000_000
    p.end_upload("/p/0.jpg")
    p.bytes_uploaded += 10_000_000
    p.finish(10_000_000)
    assert (p.done, p.bytes_done) == (1, 10_000_000)
    assert p.bytes_sent == 10_000_000 + 7 * 1_875_000
    assert p.bytes_left == 80_000_000 - 10_000_000 - 7 * 1_875_000
    p.finish(10_000_000)  # a duplicate the server knew: done without a byte sent
    assert p.bytes_left == 80_000_000 - 20_000_000 - 7 * 1_875_000
    data = p.to_json()
    assert data["bytes_sent"] == p.bytes_sent and data["bytes_left"] == p.bytes_left
    assert len(data["uploads"]) == 7


def test_time_left():
    assert time_left(30_000_000, 2_000_000.0) == 15.0
    assert time_left(30_000_000, None) is None
    assert time_left(30_000_000, 0.0) is None
    assert time_left(0, 2_000_000.0) is None
    p = Progress(planned=3, bytes_planned=30_000_000, scanning=True)
    assert transfer(p, 2_000_000.0) == {"rate": 2_000_000.0, "seconds_left": 15.0,
                                        "more_to_come": True}
    assert transfer(p, None) == {"rate": None, "seconds_left": None, "more_to_come": True}


def test_the_pieces_every_screen_shows():
    assert transfer_parts(sent=15_000_000, planned=40_000_000, rate=2_500_000.0,
                          seconds_left=10.0, more_to_come=False) == [
        "15 MB of 40 MB", "2.5 MB/s", "10s left"]
    assert transfer_parts(sent=15_000_000, planned=40_000_000, rate=2_500_000.0,
                          seconds_left=10.0, more_to_come=True)[-1] == "at least 10s left"
    assert transfer_parts(sent=0, planned=40_000_000, rate=None, seconds_left=None,
                          more_to_come=True) == ["0 B of 40 MB"]


def first_backup() -> Progress:
    """A first backup: 8 files in flight, the scan still finding more."""
    p = Progress(phase="uploading", seen=8, planned=8, bytes_planned=80_000_000,
                 scanning=True)
    for i in range(8):
        p.start_upload(f"/p/IMG_{i}.jpg", 10_000_000).sent = 1_875_000
    return p


def test_the_status_line_shows_bytes_rate_and_time_left():
    line = status_line(state="backing-up", progress=first_backup(), rate=1_500_000.0)
    assert line == ("Uploading 1/8+ · 15 MB of 80 MB · 1.5 MB/s · at least 43s left · "
                    "IMG_0.jpg 19%")
    assert status_line(state="backing-up", progress=first_backup()) == (
        "Uploading 1/8+ · 15 MB of 80 MB · IMG_0.jpg 19%")


def test_a_first_backup_never_reads_0_of_0():
    live = first_backup().to_json() | transfer(first_backup(), 1_500_000.0) | {
        "daemon": True, "state": "backing-up", "pid": 1, "queued": 0, "watching": {}}
    assert counts_in_pass(0, 0, live) == (0, 8, True)
    data = {"live": live, "failed": 0, "last_pass": None, "last_backup_at": None,
            "trashed": 0, "server": None, "daemon": True, "running": True, "pid": 1,
            "folders": [{"path": "/p", "backed_up": 0, "total": 0, "failed": 0}],
            "exclude": [], "albums": {}}
    data["backed_up"], data["total"], data["counting"] = counts_in_pass(0, 0, live)
    data["state"], data["headline"] = headline(data)
    assert data["headline"] == "↑ Uploading… 1 of 8+"
    text = "\n".join(render(data, 100))
    assert "0 of 8 backed up · still finding files" in text
    assert "↑ 15 MB of 80 MB sent · 1.5 MB/s · at least 43s left" in text
    assert "0 of 0" not in text
    assert "· /p  in progress" in text


def test_outside_a_pass_the_state_counts_stand():
    idle = {"daemon": True, "state": "idle", "pid": 1, "backed_up": 3, "seen": 3}
    assert counts_in_pass(1234, 1234, idle) == (1234, 1234, False)
    assert transfer_line(idle) is None
    # A daemon's partial pass over one folder saw 3 files: the state knows more.
    partial = {"daemon": True, "state": "backing-up", "backed_up": 2, "seen": 3,
               "scanning": False}
    assert counts_in_pass(1234, 1235, partial) == (1234, 1235, False)
    assert counts_in_pass(5, 5, None) == (5, 5, False)
