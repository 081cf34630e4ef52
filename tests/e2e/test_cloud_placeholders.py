"""Cloud placeholders on Linux, end to end: counted, listed, never "✓" (issue 14, item 4).

The placeholders are what the Nextcloud desktop client writes on Linux for a file kept
online only: a one-byte stub (a space) named ``IMG.jpg.nextcloud`` (suffix mode), or
named ``IMG.jpg`` with the xattr ``user.nextcloud.hydrate_exec`` (xattr mode).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from immich_standin.library import JPEG

from .conftest import server_assets

HYDRATE = "user.nextcloud.hydrate_exec"


def stub(path: Path, *, xattr: bool) -> Path:
    path.write_bytes(b" ")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    if xattr:
        os.setxattr(path, HYDRATE, b"nextcloud\0")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    finally:
        probe.unlink()
    return tmp_path


def test_placeholders_are_counted_listed_and_never_complete(server, make_setup, folder):
    setup = make_setup(server, photos=1)
    photos = setup.lib.include[0]
    suffix = stub(photos / "beach.jpg.nextcloud", xattr=False)
    inplace = stub(photos / "dunes.jpg", xattr=True)

    proc = setup.run("once")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "✓" not in proc.stdout
    assert "⏸ 2 files are only in the cloud (not on this disk)" in proc.stdout
    assert "beach.jpg.nextcloud" in proc.stdout and "dunes.jpg" in proc.stdout
    assert "make them available offline" in proc.stdout
    # the real files went up, the stubs did not
    assert hashlib.sha1(b" ").hexdigest() not in server_assets(server)
    assert set(server_assets(server)) == set(setup.lib.expected.values())

    status = setup.json("status")
    cloud = status["cloud_placeholders"]
    assert cloud["count"] == 2
    assert cloud["by_kind"] == {"nextcloud-suffix": 1, "nextcloud-xattr": 1}
    assert {f["path"] for f in cloud["files"]} == {str(suffix), str(inplace)}
    assert status["state"] == "cloud"
    assert status["headline"] == "⏸ 2 files are only in the cloud (not on this disk)"
    text = setup.run("status").stdout
    assert text.splitlines()[0] == "⏸ 2 files are only in the cloud (not on this disk)"
    listed = setup.run("failed")
    assert listed.returncode == 0
    assert str(suffix.name) in listed.stdout and "Nextcloud virtual file" in listed.stdout

    # The user makes both available offline: the client writes the photos in place.
    suffix.unlink()
    (photos / "beach.jpg").write_bytes(JPEG + os.urandom(6000))
    inplace.unlink()
    (photos / "dunes.jpg").write_bytes(JPEG + os.urandom(7000))
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ Backup complete" in proc.stdout
    assert setup.json("status")["cloud_placeholders"]["count"] == 0
    assert setup.json("status")["state"] == "complete"
    sha1s = set(server_assets(server))
    assert hashlib.sha1((photos / "beach.jpg").read_bytes()).hexdigest() in sha1s
    assert hashlib.sha1((photos / "dunes.jpg").read_bytes()).hexdigest() in sha1s


def test_nextcloud_stubs_are_never_read_even_when_placeholders_are_read(server, make_setup,
                                                                        folder):
    """``ignore_cloud_placeholders: false`` reads placeholders that reading downloads;
    reading a Nextcloud stub gives one space, never the photo."""
    setup = make_setup(server, photos=1, ignore_cloud_placeholders=False)
    stub(setup.lib.include[0] / "dunes.jpg", xattr=True)
    proc = setup.run("once")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "⏸ 1 file is only in the cloud (not on this disk)" in proc.stdout
    assert "ignore_cloud_placeholders" not in proc.stdout  # it would not help
    assert set(server_assets(server)) == set(setup.lib.expected.values())
