"""The folder-problem decisions: what an error means, what a pass keeps, the headline."""

from __future__ import annotations

import errno
from pathlib import Path

from immich_backupd.scan.folder_problems import (
    FolderProblem,
    ProblemKind,
    classify,
    dumps,
    headline,
    is_vanished,
    loads,
    merge,
)

MISSING = ProblemKind.MISSING
UNREADABLE = ProblemKind.UNREADABLE


def test_classify() -> None:
    enoent = FileNotFoundError(errno.ENOENT, "No such file or directory")
    assert classify("/mnt/usb", enoent, is_root=True) == FolderProblem("/mnt/usb", MISSING,
                                                                       "absent")
    assert is_vanished(enoent, is_root=False) and not is_vanished(enoent, is_root=True)
    denied = PermissionError(errno.EACCES, "Permission denied")
    assert classify("/p/x", denied, is_root=False) == FolderProblem("/p/x", UNREADABLE, "EACCES")
    assert classify("/p", denied, is_root=True).kind is UNREADABLE
    assert not is_vanished(denied, is_root=False)


def test_merge_keeps_what_the_pass_did_not_look_at() -> None:
    usb = FolderProblem("/mnt/usb", MISSING, "absent")
    locked = FolderProblem("/p/2024/locked", UNREADABLE, "EACCES")
    # A full pass: only what it found.
    assert merge([usb, locked], [locked], scope=None) == [locked]
    assert merge([usb], [], scope=None) == []
    # A partial pass over /p: /mnt/usb is kept, /p's problem replaced by what it found.
    assert merge([usb, locked], [], scope=[Path("/p")]) == [usb]
    assert merge([usb, locked], [locked], scope=[Path("/p/2024")]) == [usb, locked]
    # A rescan of the folder that appeared clears it.
    assert merge([usb], [], scope=[Path("/mnt/usb")]) == []


def test_headline_unreadable_first_then_waiting() -> None:
    usb = FolderProblem("/mnt/usb", MISSING, "absent")
    nas = FolderProblem("/mnt/nas", MISSING, "empty")
    locked = FolderProblem("/p/locked", UNREADABLE, "EACCES")
    assert headline([]) is None
    assert headline([usb]) == ("waiting", "⏸ Waiting for /mnt/usb (not mounted)")
    assert headline([nas], symbol=False) == ("waiting",
                                             "Waiting for /mnt/nas (empty: not mounted?)")
    assert headline([usb, nas]) == ("waiting", "⏸ Waiting for 2 folders (not mounted)")
    assert headline([usb, locked]) == ("failed", "✗ Cannot read /p/locked: permission denied")
    io = FolderProblem("/p/bad", UNREADABLE, "EIO")
    assert headline([locked, io]) == ("failed", "✗ Cannot read 2 folders")


def test_round_trip_and_junk() -> None:
    problems = [FolderProblem("/a", MISSING, "absent"), FolderProblem("/b", UNREADABLE, "EIO")]
    assert loads(dumps(problems)) == problems
    assert loads(None) == [] and loads("not json") == [] and loads('[{"x": 1}]') == []
