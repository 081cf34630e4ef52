"""Which files are on a local disk (their closing stat may run on the event loop)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from immich_backupd.backup import run_pass
from immich_backupd.config import parse_settings
from immich_backupd.immich.client import ImmichClient
from immich_backupd.pipeline import upload as upload_stage
from immich_backupd.scan.mounts import LocalDisks, parse_mountinfo
from immich_standin import StandinServer
from immich_standin.library import XMP

SAMPLE = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
61 27 8:17 / /mnt/usb\\040disk rw,nosuid shared:30 master:2 - exfat /dev/sdb1 rw
62 27 0:53 / /mnt/nas rw,relatime shared:31 - nfs4 nas:/photos rw,vers=4.2
63 27 0:54 / /home/ann/gdrive rw,nosuid,nodev - fuse.rclone gdrive: rw
64 27 8:18 / /mnt/win rw - fuseblk /dev/sdb2 rw
65 27 0:55 / /tmp rw - tmpfs tmpfs rw
66 27 254:0 /srv/photos /photos rw,relatime - ext4 /dev/vda rw
garbage line without the separator
67 27 x:y / /odd rw - ext4 /dev/odd rw
68 27 0:56 / /short -
"""


def test_parse_mountinfo_maps_devices_to_types() -> None:
    types = parse_mountinfo(SAMPLE)
    assert types == {
        os.makedev(0, 21): "proc", os.makedev(254, 0): "ext4", os.makedev(8, 17): "exfat",
        os.makedev(0, 53): "nfs4", os.makedev(0, 54): "fuse.rclone",
        os.makedev(8, 18): "fuseblk", os.makedev(0, 55): "tmpfs",
    }


def test_local_disks_and_the_rest() -> None:
    disks = LocalDisks(lambda: SAMPLE)
    assert disks.is_local(os.makedev(254, 0))  # ext4, also behind a bind mount
    assert disks.is_local(os.makedev(8, 17))  # exfat USB disk
    assert disks.is_local(os.makedev(0, 55))  # tmpfs
    assert not disks.is_local(os.makedev(0, 53))  # NFS: a stat may hang
    assert not disks.is_local(os.makedev(0, 54))  # FUSE
    assert not disks.is_local(os.makedev(8, 18))  # ntfs-3g is FUSE too
    assert not disks.is_local(os.makedev(0, 21))  # proc: not a type it knows


def test_an_unknown_device_reads_the_table_again_once() -> None:
    tables = [SAMPLE, SAMPLE + "70 27 8:33 / /mnt/new rw - xfs /dev/sdc1 rw\n"]
    reads: list[str] = []

    def read() -> str:
        reads.append("read")
        return tables[min(len(reads), len(tables)) - 1]

    disks = LocalDisks(read)
    assert disks.is_local(os.makedev(254, 0)) and len(reads) == 1
    assert disks.is_local(os.makedev(254, 0)) and len(reads) == 1  # kept
    assert disks.is_local(os.makedev(8, 33)) and len(reads) == 2  # mounted since: found
    assert not disks.is_local(os.makedev(9, 9)) and len(reads) == 3  # unknown: read again
    assert not disks.is_local(os.makedev(9, 9)) and len(reads) == 3  # ... only once


def test_no_mount_table_means_nothing_is_local() -> None:
    assert not LocalDisks(lambda: "").is_local(os.makedev(254, 0))


@pytest.mark.skipif(not Path("/proc/self/mountinfo").exists(), reason="Linux")
def test_the_real_mount_table() -> None:
    """Read from this machine: /proc is found as what it is (not a local disk)."""
    types = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    assert types[os.stat("/proc").st_dev] == "proc"
    assert not LocalDisks().is_local(os.stat("/proc").st_dev)


@pytest.mark.parametrize("local", [True, False])
def test_a_pass_asks_about_each_kept_files_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: bool
) -> None:
    """The pass tells the upload whether the file's disk is local, by its device, and
    stats a sidecar on the loop only then."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"IMG_{i}.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(5000))
    (photos / "IMG_0.jpg.xmp").write_bytes(XMP)  # its stat: on the loop, or in a thread
    asked: list[int] = []

    class Disks:
        def is_local(self, dev: int) -> bool:
            asked.append(dev)
            return local

    sent: list[tuple[str, bool, bool]] = []
    real_upload = ImmichClient.upload

    async def upload(self, req):  # type: ignore[no-untyped-def]
        sent.append((req.filename, req.data is not None, req.local_disk))
        return await real_upload(self, req)

    monkeypatch.setattr(upload_stage, "LocalDisks", Disks)
    monkeypatch.setattr(ImmichClient, "upload", upload)
    with StandinServer(version="3.1.0") as srv:
        settings = parse_settings(
            f"server:\n  url: {srv.url}\n  api_key: {srv.api_key}\n"
            f"state_dir: {tmp_path / 's'}\nalbums:\n  include: [{photos}]\n"
            "backup:\n  settle_time: 1ms\n",  # the photos were written just now
            env={"HOME": str(tmp_path)})
        result = asyncio.run(run_pass(settings))
        assert result.outcome == "complete"
        assert srv.state.counters.created == 3
        sidecars = [a.sidecar for a in srv.state.assets.values() if a.sidecar is not None]
        assert sidecars == [XMP]
    assert sorted(sent) == [(f"IMG_{i}.jpg", True, local) for i in range(3)]
    assert asked == [os.stat(photos).st_dev] * 3
