"""Which files are on a local disk, where a ``stat`` may run on the event loop.

A ``stat`` on a local disk takes microseconds. On NFS, SMB or a FUSE mount it is a round
trip to a server that may be gone, and on the event loop it would stop everything while
it waits: the uploads, the watchdog pings, the answer to SIGTERM. Such calls go to a
thread instead; but a trip to a thread and back costs ~0.3 ms of CPU on a busy machine
(two wake-ups and the loop's self-pipe): for the one ``stat`` each kept file's upload
makes before its last bytes, a tenth of a first backup of 1,000 photos on 2 cores
(2.95 -> 2.66 s, CPU 2.86 -> 2.49 s; see docs/performance.md).

This module tells the two kinds apart by the device number ``stat`` reports, from the
kernel's mount table (Linux: ``/proc/self/mountinfo``; reading it never touches a
filesystem). A device it cannot place, a filesystem type it does not know, and every
system without that table count as not local: the thread is the safe default.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["LOCAL_TYPES", "LocalDisks", "parse_mountinfo"]

MOUNTINFO = "/proc/self/mountinfo"

LOCAL_TYPES = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "bcachefs", "jfs", "reiserfs",
    "nilfs2", "tmpfs", "ramfs", "vfat", "exfat", "ntfs3", "hfsplus",
})
"""Filesystems backed by this machine's own disks (or memory). Not here, so remote:
nfs, nfs4, cifs, smb3, 9p, ceph, glusterfs, every ``fuse.*`` (sshfs, rclone, ntfs-3g's
``fuseblk``) and ``overlay`` (whose layers may be anywhere)."""


def parse_mountinfo(text: str) -> dict[int, str]:
    """Device number (as ``os.stat`` reports it) -> filesystem type.

    A line is ``ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE
    SOURCE SUPEROPTIONS``; paths escape spaces as ``\\040``, so `` - `` only ever
    separates the optional fields from the type. Malformed lines are skipped.
    """
    types: dict[int, str] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 5 or not rest:
            continue
        major, colon, minor = fields[2].partition(":")
        if not (colon and major.isdigit() and minor.isdigit()):
            continue
        types.setdefault(os.makedev(int(major), int(minor)), rest[0])
    return types


def _read_mountinfo() -> str:
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:  # not Linux, or no /proc: nothing is known to be local
        return ""


class LocalDisks:
    """``is_local(st_dev)``, from the mount table read on first use.

    One per backup pass: device numbers of unmounted filesystems are given out again
    (an NFS mount may get a former tmpfs's number), so the table is never kept for long.
    A device the table does not hold makes it read again, once per device (a disk
    mounted since).
    """

    def __init__(self, read: Callable[[], str] = _read_mountinfo) -> None:
        self._read = read
        self._types: dict[int, str] | None = None
        self._reread: set[int] = set()

    def is_local(self, dev: int) -> bool:
        return self.fs_type(dev) in LOCAL_TYPES

    def fs_type(self, dev: int) -> str | None:
        """The filesystem type of the device ``dev`` (``ext4``, ``fuse.rclone``), None
        when the table does not place it."""
        types = self._types
        if types is None or (dev not in types and dev not in self._reread):
            if types is not None:
                self._reread.add(dev)
            types = self._types = parse_mountinfo(self._read())
        return types.get(dev)
