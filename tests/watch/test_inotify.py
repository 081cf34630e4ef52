"""The ctypes inotify binding: the parser without a kernel, the calls with a real one."""

from __future__ import annotations

import errno
import os
import struct
import sys
from pathlib import Path

import pytest

from immich_backupd.watch import inotify
from immich_backupd.watch.inotify import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_IGNORED,
    IN_ISDIR,
    IN_ONLYDIR,
    Inotify,
    RawEvent,
    parse_events,
)

linux = pytest.mark.skipif(sys.platform != "linux", reason="inotify")


def packed(wd: int, mask: int, cookie: int, name: bytes) -> bytes:
    pad = (-len(name) - 1) % 16 + 1 if name else 0  # the kernel pads names with NULs
    raw = name + b"\0" * pad
    return struct.pack("iIII", wd, mask, cookie, len(raw)) + raw


def test_parse_events_splits_and_strips_padding() -> None:
    buf = (packed(1, IN_CREATE, 0, b"IMG_1.jpg") + packed(-1, 0x4000, 0, b"")
           + packed(2, IN_CREATE | IN_ISDIR, 7, "Zoë".encode()))
    assert parse_events(buf) == [
        RawEvent(1, IN_CREATE, 0, b"IMG_1.jpg"),
        RawEvent(-1, 0x4000, 0, b""),
        RawEvent(2, IN_CREATE | IN_ISDIR, 7, "Zoë".encode()),
    ]


def test_parse_events_ignores_a_truncated_tail() -> None:
    whole = packed(1, IN_CREATE, 0, b"a.jpg")
    assert parse_events(whole + whole[:10]) == [RawEvent(1, IN_CREATE, 0, b"a.jpg")]
    assert parse_events(whole[:-4]) == []
    assert parse_events(b"") == []


@linux
def test_real_watch_reports_create_and_close(tmp_path: Path) -> None:
    assert inotify.available()
    ino = Inotify()
    try:
        wd = ino.add_watch(tmp_path, IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR)
        assert ino.read() == []  # non-blocking: nothing yet
        (tmp_path / "a.jpg").write_bytes(b"x")
        (tmp_path / "d").mkdir()
        events = ino.read()
        assert RawEvent(wd, IN_CREATE, 0, b"a.jpg") in events
        assert RawEvent(wd, IN_CLOSE_WRITE, 0, b"a.jpg") in events
        assert RawEvent(wd, IN_CREATE | IN_ISDIR, 0, b"d") in events
        assert ino.add_watch(str(tmp_path), IN_CREATE | IN_ONLYDIR) == wd  # same inode
        ino.rm_watch(wd)
        assert [e.mask for e in ino.read()] == [IN_IGNORED]
        ino.rm_watch(wd)  # already gone: not an error
    finally:
        ino.close()
        ino.close()


@linux
def test_real_errors_name_the_path(tmp_path: Path) -> None:
    ino = Inotify()
    try:
        with pytest.raises(FileNotFoundError) as missing:
            ino.add_watch(tmp_path / "nope", IN_CREATE)
        assert missing.value.filename == str(tmp_path / "nope")
        f = tmp_path / "file"
        f.write_bytes(b"")
        with pytest.raises(NotADirectoryError):
            ino.add_watch(f, IN_CREATE | IN_ONLYDIR)
    finally:
        ino.close()
    assert os.strerror(errno.ENOSPC)  # the code the watcher falls back on exists here


@linux
def test_watching_on_linux_does_not_load_watchdog(tmp_path: Path) -> None:
    """Native watching on Linux is the kernel's API and our code only: which watchdog is
    installed (7.0.0 killed the reader thread, 7.1.1 dropped every event of the old
    observer) cannot change it. watchdog is loaded only for polling."""
    import subprocess

    code = (
        "import sys, pathlib, threading\n"
        "from immich_backupd.scan.rules import AlbumRules\n"
        "from immich_backupd.watch.observer import FolderWatcher\n"
        "lib = pathlib.Path(sys.argv[1]); seen = threading.Event()\n"
        "w = FolderWatcher(AlbumRules([lib]), lambda p, k: seen.set())\n"
        "w.start(); assert w.probe(lib.parent / 'probe')\n"
        "(lib / 'a.jpg').write_bytes(b'x'); assert seen.wait(5)\n"
        "w.stop()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'watchdog'))\n"
    )
    (tmp_path / "lib").mkdir()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib")], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"
