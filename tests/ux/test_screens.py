"""The screens as plain functions: the live line of `once`, `failed`, `status`, texts."""

from __future__ import annotations

import io
import json
import os

from immich_backupd.cli import main
from immich_backupd.cli.common import clip, show_path
from immich_backupd.cli.failed import short_reason, table
from immich_backupd.cli.status import headline, render
from immich_backupd.cli.terminal import (
    LineAwareStream,
    PlainProgress,
    TerminalProgress,
    fit,
    progress_line,
)
from immich_backupd.report.progress import Progress
from immich_backupd.report.text import bar, human_bytes, human_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def uploading() -> Progress:
    p = Progress(planned=50, done=11, seen=60, scanning=False, bytes_planned=120_000_000,
                 bytes_uploaded=40_000_000, bytes_done=40_000_000)
    up = p.start_upload("/photos/2024/IMG_1234.jpg", 5_100_000)
    up.sent = 2_300_000
    return p


def test_the_live_line_shows_files_bytes_rate_time_left_and_the_current_file():
    clock = Clock()
    out = io.StringIO()
    live = TerminalProgress(out, clock=clock, width=lambda: 120)
    p = uploading()
    live.progress(p)
    clock.now += 10
    p.bytes_uploaded += 24_000_000  # 2.4 MB/s
    p.bytes_done += 24_000_000
    live.progress(p)
    line = live.line
    assert line == ("↑ 12 of 50 · 66 MB of 120 MB · 2.4 MB/s · 22s left · "
                    "IMG_1234.jpg 45%")
    assert out.getvalue().endswith("\r" + line + "\x1b[K")
    # throttled: a call within the interval draws nothing
    before = out.getvalue()
    live.progress(p)
    assert out.getvalue() == before
    live.pass_done(p, "complete")
    assert live.line == "" and out.getvalue().endswith("\r\x1b[K")


def test_the_live_line_fits_the_terminal_and_says_when_it_waits_or_scans():
    fixed, file_part = progress_line(uploading(), None)
    assert fit(fixed, file_part, 35) == fixed  # no room for the file: left out
    assert len(fit(fixed, file_part, 20)) == 19  # cut to the width
    narrow = fit(fixed, "a-very-long-file-name-of-a-video.mp4 12%", len(fixed) + 20)
    assert narrow.startswith(fixed) and "…" in narrow and len(narrow) < len(fixed) + 20
    waiting = Progress(waiting_for="Waiting for Wi-Fi (videos held on a metered network)")
    assert progress_line(waiting, None)[0].startswith("⏸ Waiting for Wi-Fi")
    assert progress_line(Progress(seen=1234), None)[0] == "Scanning… 1,234 files found"
    assert progress_line(Progress(seen=9, planned=3), None)[0].startswith("↑ 1 of 3+")


def test_other_output_clears_the_live_line_and_redraws_it():
    clock = Clock()
    raw = io.StringIO()
    live = TerminalProgress(raw, clock=clock, width=lambda: 80)
    live.progress(uploading())
    stream = LineAwareStream(raw, live)
    stream.write("WARNING something\n")
    text = raw.getvalue()
    assert text.count("\r\x1b[K") == 1  # cleared before the warning
    assert text.index("\r\x1b[K") < text.index("WARNING something\n")
    assert text.endswith("\r" + live.line + "\x1b[K")  # and drawn again after it


def test_plain_progress_prints_a_line_now_and_then():
    clock = Clock()
    out = io.StringIO()
    plain = PlainProgress(out, clock=clock, interval=30)
    plain.progress(uploading())
    assert out.getvalue() == ""
    clock.now += 31
    plain.progress(uploading())
    assert out.getvalue().startswith("↑ 12 of 50 · ") and "\r" not in out.getvalue()


def test_failed_table():
    items = [
        {"path": "/home/ann/Pictures/2024/Holiday/IMG_0001.jpg", "status": "failed",
         "reason": "POST /assets: 500 Internal Server Error [correlation id abc]",
         "attempts": 8, "next_attempt_at": 0},
        {"path": "/home/ann/Pictures/x.psd", "status": "unsupported",
         "reason": "Unsupported file type", "attempts": 1, "next_attempt_at": None},
    ]
    os.environ["HOME"] = os.environ.get("HOME", "/root")
    lines = table(items, 100, now=10)
    assert lines[0].split() == ["FILE", "REASON", "ATTEMPTS", "NEXT", "TRY"]
    assert "500 Internal Server Error" in lines[1] and "correlation" not in lines[1]
    assert lines[1].rstrip().endswith("next pass") and " 8 " in lines[1]
    assert lines[2].rstrip().endswith("when the file changes")
    assert all(len(line) <= 100 for line in lines)
    wide = table(items, 10_000, now=10, wide=True)
    assert "[correlation id abc]" in wide[1]
    assert short_reason("GET /x: 413 Payload Too Large") == "413 Payload Too Large"


def status(**over) -> dict:
    data = {"live": None, "failed": 0, "last_pass": None, "last_backup_at": None,
            "backed_up": 0, "total": 0, "trashed": 0, "server": None, "daemon": False,
            "running": False, "pid": None, "folders": [], "exclude": [], "albums": {}}
    data.update(over)
    data["state"], data["headline"] = headline(data)
    return data


def test_status_headlines():
    assert status()["headline"] == "No backup yet"
    assert status(last_backup_at=1.0)["headline"] == "✓ Backup complete"
    assert status(last_backup_at=1.0, failed=5)["headline"] == "✗ 5 uploads failed"
    assert status(failed=1)["headline"] == "✗ 1 upload failed"
    waiting = {"daemon": True, "state": "waiting",
               "waiting_for": "Waiting for Wi-Fi (videos held on a metered network)"}
    assert status(live=waiting)["headline"] == (
        "⏸ Waiting for Wi-Fi (videos held on a metered network)")
    up = {"daemon": True, "state": "backing-up", "planned": 50, "done": 11, "uploads": [{}]}
    assert status(live=up)["headline"] == "↑ Uploading… 12 of 50"
    once = {"planned": 0, "seen": 7, "scanning": True}
    assert status(live=once)["headline"] == "Scanning… 7 files"
    error = {"daemon": True, "state": "error", "error": "the server rejected the API key"}
    assert status(live=error)["headline"] == "✗ the server rejected the API key"


def test_status_screen_shows_the_upload_bar_quota_and_folders():
    live = {"daemon": True, "pid": 42, "state": "backing-up", "planned": 50, "done": 11,
            "queued": 0, "watching": {"/p": 1},
            "uploads": [{"path": "/p/IMG_1234.jpg", "size": 5_100_000, "sent": 2_300_000,
                         "percent": 45.1}]}
    data = status(live=live, daemon=True, backed_up=1234, total=1284, last_backup_at=1.0,
                  server={"url": "https://photos.example.com", "version": "3.1.0",
                          "quota": {"size": 10_000_000_000, "usage": 1_100_000_000}},
                  folders=[{"path": "/p", "backed_up": 1234, "total": 1284, "failed": 0}],
                  exclude=["/p/Screenshots"])
    text = "\n".join(render(data, 100))
    assert "1,234 of 1,284 backed up" in text
    assert "Immich 3.1.0 · 1.1 GB of 10 GB used" in text
    assert "Daemon: running (pid 42) · watching 1 folder · 0 changes queued" in text
    assert "IMG_1234.jpg [███████░░░░░░░░░] 45% · 12 of 50 · 2.3 MB / 5.1 MB" in text
    assert "· /p  1,234 of 1,284" in text and "– /p/Screenshots" in text


def test_status_json_keeps_its_keys_and_adds_new_ones(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "server": {"url": "http://127.0.0.1:9", "api_key": "k"},
        "state_dir": str(tmp_path / "state"), "albums": {"include": [str(tmp_path)]}}))
    config.chmod(0o600)
    assert main(["--config", str(config), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("running", "pid", "backed_up", "total", "counts", "failed",
                "last_backup_at", "last_pass", "server", "albums", "include", "exclude",
                "live", "daemon", "state", "headline", "folders", "quota", "trashed"):
        assert key in data
    assert data["state"] == "never"
    assert data["folders"] == [{"path": str(tmp_path), "backed_up": 0, "total": 0,
                                "failed": 0}]


def test_texts():
    assert human_bytes(512) == "512 B" and human_bytes(2_400_000) == "2.4 MB"
    assert human_bytes(45_000_000) == "45 MB" and human_bytes(10_000_000_000) == "10 GB"
    assert human_duration(31) == "31s" and human_duration(185) == "3:05"
    assert human_duration(3723) == "1:02:03"
    assert bar(0.45, 8) == "[████░░░░]"
    assert show_path("/home/ann/Pictures", "/home/ann") == "~/Pictures"
    assert show_path("/home/annex/x", "/home/ann") == "/home/annex/x"
    assert clip("/a/very/long/path/to/IMG_0001.jpg", 20) == "/a/ver…/IMG_0001.jpg"
