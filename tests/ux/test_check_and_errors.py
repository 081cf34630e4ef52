"""`check` item by item, and errors: one line, what happened, what to do, the right code."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

import pytest

from immich_backupd.cli import check_local, main
from immich_backupd.cli.check import run_check
from immich_backupd.daemon.waiting import POWER_ROOT_ENV
from immich_standin import StandinServer


def write_config(tmp: Path, url: str, key: str, **extra) -> Path:
    photos = tmp / "photos"
    (photos / "2024").mkdir(parents=True, exist_ok=True)
    (photos / "2024" / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    (photos / "2024" / "b.mp4").write_bytes(b"0" * 100)
    data = {"server": {"url": url, "api_key": key, "timeout": "5s"},
            "state_dir": str(tmp / "state"), "albums": {"include": [str(photos)]}, **extra}
    path = tmp / "config.yaml"
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


async def check(config: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_check(config, out)
    return code, out.getvalue()


@pytest.fixture
def srv():
    with StandinServer(version="3.1.0") as s:
        yield s


async def test_check_all_good(srv, tmp_path):
    code, out = await check(write_config(tmp_path, srv.url, srv.api_key))
    assert code == 0, out
    assert "✓ Server        " in out and f"{srv.url}: Immich 3.1.0" in out
    assert "photos: 1 photo and 1 video" in out
    assert out.rstrip().endswith("✓ All good. Next: `immich-backupd once` for the first "
                                 "backup.")


async def test_check_names_each_missing_permission(srv, tmp_path):
    key = srv.create_api_key(["asset.upload", "user.read", "album.read"])
    code, out = await check(write_config(tmp_path, srv.url, key))
    assert code == 77
    assert "lacks the permissions album.create, albumAsset.create" in out
    assert "Account Settings → API Keys" in out
    assert key not in out
    assert "1 problem blocks backups" in out
    assert "✓ Folder" in out  # the rest is still checked


async def test_check_bad_key(srv, tmp_path):
    code, out = await check(write_config(tmp_path, srv.url, "wrong-key"))
    assert code == 77 and "✗ API key       rejected by the server (inline in the config)" in out
    assert "wrong-key" not in out and "Quota         not checked" in out


async def test_check_server_down(tmp_path):
    code, out = await check(write_config(tmp_path, "http://127.0.0.1:9", "k"))
    assert code == 69
    assert "cannot reach the Immich server at http://127.0.0.1:9" in out
    assert "Is server.url right" in out
    assert "API key       not checked" in out


async def test_check_full_quota(srv, tmp_path):
    config = write_config(tmp_path, srv.url, srv.api_key)
    code, out = await check(config)
    assert "✓ Quota         0 B used, no quota" in out
    srv.set_quota(10_000_000_000)
    with srv.state.lock:
        srv.state.users[srv.user.id].quota_usage_in_bytes = 1_100_000_000
    code, out = await check(config)
    assert code == 0 and "✓ Quota         1.1 GB of 10 GB used" in out
    srv.set_quota(1_000_000_000)
    code, out = await check(config)
    assert code == 73 and "✗ Quota         full: 1.1 GB of 1 GB used" in out
    assert "Free space in Immich" in out


async def test_check_missing_and_broken_config(tmp_path):
    code, out = await check(tmp_path / "nope.yaml")
    assert code == 78 and "no config at" in out and "immich-backupd init" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  url: ftp://x\n  api_key: k\nalbums:\n  include: [/etc/hostname]\n"
                   "backup:\n  concurency: 2\n")
    code, out = await check(bad)
    assert code == 78
    assert "has 3 problems:" in out
    assert "'server.url'" in out and "concurency" in out and "/etc/hostname" in out
    assert "docs/configuration.md" in out


async def test_check_warns_about_inotify_and_conditions(srv, tmp_path, monkeypatch):
    monkeypatch.setattr(check_local, "inotify_limit", lambda: 1)
    sysfs = tmp_path / "sysfs"
    (sysfs / "BAT0").mkdir(parents=True)
    for name, value in {"type": "Battery", "status": "Discharging", "capacity": "50",
                        "scope": "System"}.items():
        (sysfs / "BAT0" / name).write_text(value + "\n")
    monkeypatch.setenv(POWER_ROOT_ENV, str(sysfs))
    config = write_config(tmp_path, srv.url, srv.api_key,
                          backup={"require_charging": True})
    code, out = await check(config)
    assert code == 0, out  # warnings, not blockers
    assert "! Watching" in out and "but the inotify limit is 1" in out
    assert "sudo sysctl fs.inotify.max_user_watches=" in out
    assert "! Charging" in out and "on battery now" in out
    assert "warnings above are worth a look" in out


async def test_check_state_folder_not_writable(srv, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = write_config(tmp_path, srv.url, srv.api_key, state_dir=str(blocker / "state"))
    code, out = await check(config)
    assert code == 74 and "✗ State folder" in out and "cannot be written" in out


def test_missing_config_says_init(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "none.yaml"), "status"]) == 78
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "immich-backupd init" in err


def test_a_full_state_disk_is_one_line_naming_the_state_folder(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, "http://127.0.0.1:9", "k")
    from immich_backupd import state as state_mod

    def full(self, paths):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(state_mod.StateReader, "retry", full)
    (tmp_path / "state").mkdir()
    sqlite3.connect(tmp_path / "state" / "state.sqlite3").close()
    assert main(["--config", str(config), "retry", "--all"]) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"no space left for the state folder {tmp_path / 'state'}" in err
    assert "free some space" in err

    def oserror(self, paths):
        raise PermissionError(13, "Permission denied", str(tmp_path / "state" / "x"))

    monkeypatch.setattr(state_mod.StateReader, "retry", oserror)
    assert main(["--config", str(config), "retry", "--all"]) == 74
    err = capsys.readouterr().err
    assert "cannot write the state folder" in err and "chown" in err


def test_once_on_a_terminal_draws_a_live_line_and_stops_cleanly_on_ctrl_c(tmp_path):
    """A real pty: the line is redrawn with \\r, and Ctrl-C keeps what was finished."""
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    from immich_standin.library import make_library

    from .conftest import REPO

    with StandinServer(version="3.1.0") as srv:
        lib = make_library(tmp_path / "lib", photos=4, big_file_mb=24)
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key": srv.api_key},
            "state_dir": str(tmp_path / "state"),
            "albums": {"include": [str(p) for p in lib.include], "exclude": lib.exclude},
            "backup": {"concurrency": 1}}))
        config.chmod(0o600)
        srv.faults.throttle("POST", "/api/assets", bytes_per_second=4 << 20)
        master, slave = pty.openpty()
        env = {**os.environ, "PYTHONPATH": str(REPO), "LANG": "C.UTF-8", "COLUMNS": "100"}
        env.pop("LANGUAGE", None)
        proc = subprocess.Popen([sys.executable, "-m", "immich_backupd", "--config",
                                 str(config), "once"], stdout=subprocess.PIPE, stderr=slave,
                                stdin=subprocess.DEVNULL, env=env, text=True)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and b"BIG_0001.mov" not in seen:
                if select.select([master], [], [], 0.2)[0]:
                    seen += os.read(master, 65536)
            assert b"BIG_0001.mov" in seen, seen[-2000:]
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
            while select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            proc.kill()
            os.close(master)
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-2000:]
    assert "\r↑ " in text and "\x1b[K" in text and " of " in text
    assert "INFO" not in text  # on a terminal only warnings interrupt the line
    assert "stopping: the uploads in flight finish and are kept" in text
    assert out.startswith("Backup stopped: ") and "Everything finished is recorded" in out
    assert "Traceback" not in text


def test_retry_wakes_a_running_daemon(tmp_path, capsys):
    """`retry` tells this state folder's daemon to back up now (SIGUSR1)."""
    import signal

    from immich_backupd.state import FAILED, StateReader
    from immich_backupd.state.lock import DAEMON_LOCK_NAME, RunLock

    config = write_config(tmp_path, "http://127.0.0.1:9", "k")
    state = tmp_path / "state"
    state.mkdir()
    reader = StateReader(state)  # creates nothing; make a state with one failed file
    reader.close()
    conn = sqlite3.connect(state / "state.sqlite3")
    from immich_backupd.state import migrate, split_path

    migrate(conn)
    d, n = split_path(tmp_path / "photos" / "2024" / "a.jpg")
    conn.execute("INSERT INTO dirs(id, path) VALUES (1, ?)", (d,))
    conn.execute("INSERT INTO files(dir, name, size, mtime_ns, ino, status, attempts, "
                 "updated_at) VALUES (1, ?, 1, 1, 1, ?, 3, 0)", (n, FAILED))
    conn.commit()
    conn.close()
    woken = []
    old = signal.signal(signal.SIGUSR1, lambda *a: woken.append(True))
    try:
        with RunLock(state, DAEMON_LOCK_NAME, "daemon"):
            (state / "live.json").write_text(json.dumps(
                {"pid": os.getpid(), "daemon": True, "state": "idle"}))
            assert main(["--config", str(config), "retry", "--all"]) == 0
    finally:
        signal.signal(signal.SIGUSR1, old)
    out = capsys.readouterr().out
    assert "1 file will be retried on the next pass." in out
    assert "The running daemon was told to back up now." in out
    assert woken == [True]


async def test_check_warns_of_the_optional_permissions(srv, tmp_path):
    """asset.update (late live-photo videos) and, with bulk-import mode, the queue
    permissions: a warning that says what is lost, not a blocking problem."""
    key = srv.create_api_key(["asset.upload", "user.read", "album.read", "album.create",
                              "albumAsset.create"])
    config = write_config(tmp_path, srv.url, key)
    code, out = await check(config)
    assert code == 0, out
    assert "missing asset.update, albumAsset.delete" in out and "cannot be linked" in out
    assert "stays in the album beside it" in out
    assert "queue.read" not in out  # bulk-import mode is off
    data = json.loads(config.read_text())
    data["server"]["pause_jobs_during_import"] = True
    config.write_text(json.dumps(data))
    code, out = await check(config)
    assert code == 0, out
    assert "missing asset.update, albumAsset.delete, queue.read, queue.update" in out
    assert "bulk-import mode cannot pause" in out
    code, out = await check(write_config(tmp_path, srv.url, srv.api_key))
    assert "missing" not in out  # every permission


async def test_check_names_what_stacks_and_tags_need(srv, tmp_path):
    key = srv.create_api_key(["asset.upload", "user.read", "album.read", "album.create",
                              "albumAsset.create", "albumAsset.delete", "asset.update"])
    config = write_config(tmp_path, srv.url, key)
    code, out = await check(config)
    assert code == 0, out
    assert "missing stack.create, asset.read" in out and "not stacked" in out  # raw_jpeg on
    assert "Without asset.read the RAW+JPEG pairs" in out
    assert "tag.create" not in out  # no include folder has tags
    data = json.loads(config.read_text())
    data["albums"]["include"] = [{"path": data["albums"]["include"][0], "tags": ["Family"]}]
    data["backup"] = {"stacks": {"raw_jpeg": False}}
    config.write_text(json.dumps(data))
    code, out = await check(config)
    assert code == 0, out
    assert "missing tag.create, tag.asset" in out and "are not set" in out
    assert "stack.create" not in out and "asset.read" not in out


async def test_check_says_what_each_include_entry_does(srv, tmp_path):
    """An include entry's album and tags, as they were read: a typo in a mode word
    (``album: paht``) is the name of one album, and check shows it so; a plain path
    gets no line."""
    config = write_config(tmp_path, srv.url, srv.api_key)
    data = json.loads(config.read_text())
    photos = data["albums"]["include"][0]
    other = tmp_path / "scans"
    (other / "1990").mkdir(parents=True)
    (other / "1990" / "c.jpg").write_bytes(b"\xff\xd8\xff" + b"1" * 100)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "d.jpg").write_bytes(b"\xff\xd8\xff" + b"2" * 100)
    data["albums"]["include"] = [
        {"path": photos, "album": "paht", "tags": ["Family", "Trips/Rome"],
         "folder_as_tags": True},
        {"path": str(other), "album": "Path", "folder_as_tags": True},
        str(plain)]
    config.write_text(json.dumps(data))
    code, out = await check(config)
    assert code == 0, out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if f"Folder        {photos}:" in line)
    assert lines[at + 1].strip() == "Album: every file below it goes into 'paht'"
    assert lines[at + 2].strip() == "Tags: Family, Trips/Rome, and the folder path below it"
    at = next(i for i, line in enumerate(lines) if f"Folder        {other}:" in line)
    assert lines[at + 1].strip() == "Albums: named by the folder path below it (e.g. 2019/Rome)"
    assert lines[at + 2].strip() == "Tags: the folder path below it"
    at = next(i for i, line in enumerate(lines) if f"Folder        {plain}:" in line)
    assert lines[at + 1].startswith("✓ ")  # the next item: nothing to say about a plain path
    data["albums"]["include"][0]["album"] = None
    data["backup"] = {"album_sync": False}
    config.write_text(json.dumps(data))
    code, out = await check(config)
    # Without album sync no album is made: said where an entry names its albums.
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if f"Folder        {other}:" in line)
    assert lines[at + 1].strip() == ("Albums: none, as backup.album_sync is false (its album: "
                                     "is unused)")
    at = next(i for i, line in enumerate(lines) if f"Folder        {photos}:" in line)
    assert lines[at + 1].strip().startswith("Tags: Family")  # album: none (null) says nothing
