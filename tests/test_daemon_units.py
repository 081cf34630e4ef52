"""The daemon's small parts: the status line and the sd_notify protocol on a real socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from immich_backupd.daemon.sdnotify import SdNotify
from immich_backupd.report.progress import Progress
from immich_backupd.report.statusline import status_line


def test_status_lines():
    p = Progress(planned=50, done=11, scanning=False, bytes_planned=120_000_000,
                 bytes_uploaded=40_000_000, bytes_done=40_000_000)
    up = p.start_upload("/x/IMG_1234.jpg", 5_100_000)
    up.sent = 2_400_000
    assert status_line(state="backing-up", progress=p) == (
        "Uploading 12/50 · 42 MB of 120 MB · IMG_1234.jpg 47%")
    assert status_line(state="backing-up", progress=p, rate=2_400_000.0) == (
        "Uploading 12/50 · 42 MB of 120 MB · 2.4 MB/s · 32s left · IMG_1234.jpg 47%")
    assert status_line(state="waiting", waiting_for="Waiting for Wi-Fi") == "Waiting for Wi-Fi"
    line = status_line(state="idle", backed_up=1234, total=1234, last_backup=1_700_000_000)
    assert line.startswith("Backup complete · 1,234 of 1,234 · last backup ")
    failed = status_line(state="idle", backed_up=1, total=4, failed=3)
    assert failed.startswith("3 failed · 1 of 4") and "complete" not in failed
    scanning = Progress(seen=1500)
    assert status_line(state="scanning", progress=scanning) == "Scanning… 1,500 files"


def test_sd_notify_on_a_real_socket(tmp_path: Path):
    path = tmp_path / "notify"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.settimeout(2)
    try:
        n = SdNotify({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000",
                      "WATCHDOG_PID": str(os.getpid())})
        assert n.enabled and n.watchdog_interval == 2.0
        n.ready("Starting")
        assert sink.recv(4096).decode().splitlines()[:1] == ["READY=1"]
        n.status("A")
        n.status("A")  # not repeated
        n.status("B")
        assert sink.recv(4096) == b"STATUS=A"
        assert sink.recv(4096) == b"STATUS=B"
        n.watchdog()
        assert sink.recv(4096) == b"WATCHDOG=1"
        n.reloading()
        assert sink.recv(4096).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
        n.stopping()
        assert sink.recv(4096) == b"STOPPING=1"
        n.close()
    finally:
        sink.close()


def test_sd_notify_is_a_no_op_outside_systemd():
    n = SdNotify({})
    assert not n.enabled and n.watchdog_interval is None
    assert n.send(READY="1") is False
    other = SdNotify({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None  # meant for another process


def test_log_lines_carry_syslog_priorities_when_stderr_is_the_journal(tmp_path: Path):
    """journald strips <N> and stores it, so `journalctl -p warning` filters correctly."""
    import subprocess
    import sys

    out = tmp_path / "stream"
    code = (
        "import logging, os, sys\n"
        "from immich_backupd.report.log import setup_logging\n"
        "setup_logging('debug')\n"
        "log = logging.getLogger('immich_backupd')\n"
        "log.debug('d'); log.info('uploaded x'); log.warning('w\\nsecond line'); "
        "log.error('e')\n"
        "try:\n    1/0\nexcept ZeroDivisionError:\n    log.exception('boom')\n"
    )
    repo = Path(__file__).resolve().parents[1]
    with out.open("w") as fh:
        st = os.fstat(fh.fileno())
        env = {**os.environ, "PYTHONPATH": str(repo),
               "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-c", code], stderr=fh, env=env, check=True)
    lines = out.read_text().splitlines()
    assert lines[:5] == ["<7>d", "<6>uploaded x", "<4>w\\x0asecond line", "<3>e", "<3>boom"]
    assert "<3>Traceback (most recent call last):" in lines  # every traceback line prefixed
    assert all(line.startswith("<3>") for line in lines[4:])
    with out.open("w") as fh:  # another stream: readable, timestamped lines
        env = {**os.environ, "PYTHONPATH": str(repo), "JOURNAL_STREAM": "1:2"}
        subprocess.run([sys.executable, "-c", code], stderr=fh, env=env, check=True)
    lines = out.read_text().splitlines()
    assert lines[1].endswith("INFO    uploaded x") and lines[1][:4].isdigit()


def test_a_message_is_one_log_line_whatever_the_file_name(tmp_path: Path):
    import io
    import logging

    from immich_backupd.report.log import setup_logging

    stream = io.StringIO()
    setup_logging("info", stream)
    logging.getLogger("immich_backupd").warning("upload failed: %s", "/p/evil\nFAKE line\x1b[2J")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "evil\\x0aFAKE" in lines[0] and "\x1b" not in lines[0]


async def test_live_file_flushes_the_last_throttled_update(tmp_path: Path):
    import asyncio
    import json

    from immich_backupd.report.live import LiveFile

    live = LiveFile(tmp_path, interval=0.2)
    p = Progress(seen=1)
    live.progress(p)
    p.seen = 2
    live.progress(p)  # throttled: written when the interval is up
    assert json.loads((tmp_path / "live.json").read_text())["seen"] == 1
    await asyncio.sleep(0.4)
    assert json.loads((tmp_path / "live.json").read_text())["seen"] == 2


def test_held_by_condition_after_full_and_partial_passes():
    from immich_backupd.daemon.policy import held_after, held_counts
    from immich_backupd.pipeline.runner import ScanTargets

    a, b = Path("/p/a/v.mp4"), Path("/p/b/w.mov")
    before = {a: "video", b: "video"}
    assert held_after(before, {}, None) == {}  # a full pass that held nothing
    # A partial pass over /p/a: b is kept, a is what the pass says.
    assert held_after(before, {}, ScanTargets(frozenset({Path("/p/a")}))) == {b: "video"}
    assert held_after(before, {}, ScanTargets(trees=frozenset({Path("/p")}))) == {}
    new = Path("/p/c/x.jpg")
    assert held_after(before, {new: "image"}, ScanTargets(frozenset({Path("/p/c")}))) == {
        a: "video", b: "video", new: "image"}
    assert held_counts({a: "video", b: "video", new: "image"}) == {"videos": 2, "photos": 1}


def test_held_lines():
    from immich_backupd.report.statusline import held_line

    assert held_line({}) is None
    assert held_line({"videos": 1}) == "1 video waits for an unmetered network"
    assert held_line({"videos": 3}) == "3 videos wait for an unmetered network"
    assert held_line({"photos": 2, "videos": 1}) == (
        "3 photos and videos wait for an unmetered network")
