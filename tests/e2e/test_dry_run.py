"""`once --dry-run`: what a pass would upload and put in albums, while the server gets
only read requests (no POST, PUT or DELETE) and the state stays as it was."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

from immich_backupd.state import DB_NAME, SCHEMA_VERSION, migrate, user_version
from immich_backupd.state.lock import DAEMON_LOCK_NAME, RunLock
from tests.old_states import downgrade

from .conftest import REPO, Setup, check_clean, write_config


def writes(server) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.state.requests
            if r.method not in ("GET", "HEAD", "OPTIONS")]


def dump(state_dir) -> list[str]:
    conn = sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_first_dry_run_lists_everything_and_writes_nothing(server, make_setup):
    setup = make_setup(server)
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    expected = setup.lib.expected
    listed = [line for line in proc.stdout.splitlines() if line.startswith("  + ")]
    assert len(listed) == len(expected), proc.stdout
    for path in expected:
        assert any(str(path) in line or path.name in line for line in listed), path
    assert f"{len(expected)} to check with the server and upload" in proc.stdout
    assert "Dry run: nothing was uploaded" in proc.stdout
    assert "would get files" in proc.stdout and "new:" in proc.stdout
    assert writes(server) == []
    assert not (setup.state_dir / "state.sqlite3").exists()
    assert server.state.assets == {}


def test_after_a_backup_only_the_new_file_is_listed_and_the_state_is_unchanged(
        server, make_setup):
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    new = setup.lib.include[0] / "new-photo.jpg"
    new.write_bytes(b"\xff\xd8\xff\xe0 a new photo" * 100)
    before = dump(setup.state_dir)
    requests_before = len(server.state.requests)
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    listed = [line for line in proc.stdout.splitlines() if line.startswith("  + ")]
    assert len(listed) == 1 and "new-photo.jpg" in listed[0], proc.stdout
    assert f"{len(setup.lib.expected)} backed up" in proc.stdout
    assert not [r for r in server.state.requests[requests_before:]
                if r.method not in ("GET", "HEAD")]
    assert dump(setup.state_dir) == before
    # And the real pass then does what the dry run said.
    assert setup.run("once").returncode == 0
    assert server.state.counters.created == len(setup.lib.expected) + 1
    check_clean(server)


def test_an_include_folder_not_there_is_said_as_once_says_it(server, make_setup):
    """A USB disk listed in albums.include but not plugged in: ``once`` says it waits for
    it (and exits 1), and the dry run says the same line where it had said nothing on
    its output (an OS error in the log) and counted the rest as the whole backup."""
    setup = make_setup(server)
    usb = setup.tmp / "usb" / "DCIM"
    config = write_config(setup.tmp, server, None, albums={
        "include": [*(str(p) for p in setup.lib.include),
                    {"path": str(usb), "album": "USB", "tags": ["USB"]}],
        "exclude": setup.lib.exclude})
    setup = Setup(tmp=setup.tmp, lib=setup.lib, config=config, state_dir=setup.state_dir)
    line = f"⏸ Waiting for {usb} (not mounted)"
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert line in proc.stdout.splitlines(), proc.stdout
    assert "cannot read" not in proc.stderr and "Errno" not in proc.stderr, proc.stderr
    proc = setup.run("once")
    assert proc.returncode == 1 and line in proc.stdout.splitlines(), proc.stdout
    assert writes(server)  # the rest was backed up


def test_stacks_and_tags_the_key_may_not_make_are_not_promised(server, tmp_path):
    """A key without stack.create and the tag permissions: ``once`` backs up without
    stacks and tags (and logs why). The dry run read the key's permissions and still said
    "1 stack would be made" and listed the tags; it now says none will be."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("IMG_1.JPG", "IMG_1.CR2"):
        (lib / name).write_bytes(b"\xff\xd8\xff\xe0" + name.encode() * 200)
    key = server.state.create_api_key(server.user.id, [
        "asset.upload", "asset.read", "user.read", "album.read", "album.create",
        "albumAsset.create", "asset.update"])
    config = write_config(tmp_path, server, None, api_key=key,
                          albums={"include": [{"path": str(lib), "tags": ["Family"]}]})
    setup = Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                  state_dir=tmp_path / "state")
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "1 stack would be made, but the API key lacks stack.create: none will be." in lines
    assert "The API key lacks tag.create, tag.asset: no tag will be set or taken off." in lines
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert not server.state.stacks and not server.state.tags  # as the dry run said
    # With every permission, the dry run promises them again, and no limit is said.
    (tmp_path / "api-key").write_text(server.api_key + "\n")
    (lib / "IMG_2.JPG").write_bytes(b"\xff\xd8\xff\xe0" + b"2" * 300)
    (lib / "IMG_2.CR2").write_bytes(b"\xff\xd8\xff\xe0" + b"3" * 300)
    proc = setup.run("once", "--dry-run")
    assert "1 stack would be made (or made again with new files)." in proc.stdout
    assert "lacks" not in proc.stdout


def test_one_photo_and_one_video_are_counted_in_the_singular(server, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"a" * 300)
    (lib / "b.mp4").write_bytes(b"\0\0\0\x18ftypisom" + b"b" * 300)
    config = write_config(tmp_path, server, None, albums={"include": [str(lib)]})
    setup = Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                  state_dir=tmp_path / "state")
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "2 to check with the server and upload (1 photo, 1 video, " in proc.stdout


def upgraded_line(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "upgraded copy" in line]


def test_a_state_of_an_earlier_release_is_previewed_on_an_upgraded_copy(
        server, make_setup, tmp_path):
    """After an upgrade, `once --dry-run` first: it had refused the state ("run a backup
    without --dry-run once to upgrade it"). It now reads an upgraded copy and says what
    the migrated state's dry run says, while the real state (its changes still in the
    WAL, a daemon holding its lock) keeps its bytes and mtime, and no copy is left."""
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    (setup.lib.include[0] / "new-photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 new" * 100)
    sent = len(server.state.requests)
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    db = setup.state_dir / DB_NAME
    wal = db.with_name(db.name + "-wal")
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the downgrade stays in the WAL
        downgrade(conn, 3, tmp_path)  # before stacks, tags, bursts, album removals
        forgotten = sorted(setup.lib.expected)[0]  # and a record only the WAL lacks
        conn.execute("DELETE FROM files WHERE name=?", (os.fsencode(forgotten.name),))
        before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in (db, wal)]
        with RunLock(setup.state_dir, DAEMON_LOCK_NAME, "daemon"):
            old = setup.run("once", "--dry-run", env=env)
        assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in (db, wal)] == before
    finally:
        conn.close()
    assert old.returncode == 0, old.stderr
    assert upgraded_line(old.stdout) == [
        f"The state is of an earlier release (schema 3, this release uses {SCHEMA_VERSION}):"
        " this preview read an upgraded copy of it; the state itself is unchanged until the "
        "next backup upgrades it."], old.stdout
    assert list(tmp.iterdir()) == []
    with sqlite3.connect(db) as check:
        assert user_version(check) == 3
    # What a pass would upgrade it to, read by the same dry run: the same report.
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn)
    conn.close()
    new = setup.run("once", "--dry-run", env=env)
    assert new.returncode == 0, new.stderr
    assert upgraded_line(new.stdout) == []
    assert [line for line in old.stdout.splitlines() if "upgraded copy" not in line] \
        == new.stdout.splitlines()
    listed = [line for line in new.stdout.splitlines() if line.startswith("  + ")]
    assert len(listed) == 2 and "new-photo.jpg" in new.stdout, new.stdout
    assert forgotten.name in new.stdout
    assert not [r for r in server.state.requests[sent:] if r.method not in ("GET", "HEAD")]


def test_a_state_of_a_newer_release_is_refused_as_a_pass_refuses_it(server, make_setup):
    """A downgrade: the dry run says the one line a pass says, with its exit code (74),
    and the state stays as it was."""
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    db = setup.state_dir / DB_NAME
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    before = dump(setup.state_dir)
    dry = setup.run("once", "--dry-run")
    real = setup.run("once")
    assert dry.returncode == real.returncode == 74, (dry.stderr, real.stderr)
    assert dry.stderr.strip().splitlines() == real.stderr.strip().splitlines()[-1:]
    assert f"schema {SCHEMA_VERSION + 1} is newer than this release" in dry.stderr
    assert dump(setup.state_dir) == before


def test_the_upgraded_copy_is_private_and_removed_on_sigterm(server, make_setup, tmp_path):
    """Stopped (SIGTERM) while it waits for the server, the dry run removes its copy of
    the state (a folder only its user can open) and exits 143."""
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    conn = sqlite3.connect(setup.state_dir / DB_NAME, isolation_level=None)
    downgrade(conn, 6, tmp_path)
    conn.close()
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    server.faults.latency("GET", "/api/*", 30)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": "",
           "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), "once",
         "--dry-run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not list(tmp.glob("*/" + DB_NAME)) and time.monotonic() < deadline:
            time.sleep(0.05)
        [copy] = tmp.glob("*/" + DB_NAME)
        assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
        time.sleep(0.3)  # waiting for the server by now
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert list(tmp.iterdir()) == []
