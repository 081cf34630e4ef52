"""Cloud placeholders on Linux: the decision (pure) and the walk over real files.

The files made here are what the Nextcloud desktop client itself writes on Linux: a
one-byte stub (a space) named ``IMG.jpg.nextcloud`` (suffix mode), or named ``IMG.jpg``
with the xattr ``user.nextcloud.hydrate_exec`` (xattr mode). A FUSE filesystem like
onedriver cannot be mounted here: its rule is tested on the pure function.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from immich_backupd.media import placeholders as ph
from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES as MEDIA
from immich_backupd.media.placeholders import PlaceholderKind as K
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.scan.walk import DirListing, walk


def detect(size: int, blocks: int, fs_type: str | None = "ext4", **kw) -> K | None:
    return ph.detect(size=size, blocks=blocks, fs_type=fs_type, **kw)


# --- the rule ---------------------------------------------------------------------------

def test_nextcloud_xattr_stub_is_a_placeholder_only_with_its_size_and_attribute():
    assert detect(1, 8, xattrs=[ph.HYDRATE_XATTR]) is K.NEXTCLOUD_XATTR
    assert detect(1, 8, xattrs=["user.other"]) is None  # a real one-byte file
    assert detect(1, 8) is None
    # hydrated: the client replaces the stub by the photo (the attribute may linger)
    assert detect(5_000_000, 9768, xattrs=[ph.HYDRATE_XATTR]) is None


def test_suffix_stub_counts_with_the_clients_size():
    assert detect(1, 8, suffix=True) is K.NEXTCLOUD_SUFFIX
    assert detect(4_000_000, 7816, suffix=True) is None  # a real file with an odd name
    assert ph.suffix_target("IMG_1.jpg.nextcloud") == "IMG_1.jpg"
    assert ph.suffix_target("IMG_1.jpg.owncloud") == "IMG_1.jpg"
    assert ph.suffix_target(".nextcloud") is None
    assert ph.suffix_target("IMG_1.jpg") is None


@pytest.mark.parametrize("fs_type", ["ext4", "xfs", "btrfs", "tmpfs", "nfs4", "cifs",
                                     "fuse.rclone", "fuse.sshfs", None])
def test_no_blocks_alone_is_not_a_placeholder(fs_type):
    """Sparse, inline or remote-but-real: only a filesystem known to fetch on open and
    report no blocks makes 0 blocks mean "not here"."""
    assert detect(10 << 20, 0, fs_type) is None


def test_on_demand_filesystem_files_without_blocks_are_placeholders():
    assert detect(10 << 20, 0, "fuse.onedriver") is K.ON_DEMAND_FS
    assert detect(0, 0, "fuse.onedriver") is None  # empty: nothing to fetch
    assert detect(10 << 20, 20480, "fuse.onedriver") is None


def test_platform_flag_wins():
    assert detect(10 << 20, 20480, dataless=True) is K.DATALESS


def test_suspect_is_the_cheap_gate_for_every_rule():
    assert ph.suspect(1, 8)
    assert ph.suspect(10 << 20, 0)
    assert not ph.suspect(10 << 20, 20480)
    assert not ph.suspect(0, 0)  # empty files are refused elsewhere


def test_which_are_read_and_which_skipped():
    for kind in (K.DATALESS, K.ON_DEMAND_FS):
        assert ph.downloads_on_read(kind)
        assert ph.skipped(kind, ignore=True) and not ph.skipped(kind, ignore=False)
    for kind in (K.NEXTCLOUD_SUFFIX, K.NEXTCLOUD_XATTR):  # reading gives the stub
        assert ph.skipped(kind, ignore=False)


def test_merge_keeps_what_a_partial_pass_did_not_look_at():
    old = {"/p/a/1.jpg": "nextcloud-xattr", "/p/a/sub/2.jpg": "nextcloud-xattr",
           "/p/b/3.jpg": "on-demand-fs"}
    # a full pass: what it found, nothing else
    assert ph.merge(old, {"/p/b/3.jpg": "on-demand-fs"}) == {"/p/b/3.jpg": "on-demand-fs"}
    # folder /p/a alone: its own files are replaced, its subfolder's kept
    got = ph.merge(old, {}, folders=[Path("/p/a")], trees=[])
    assert got == {"/p/a/sub/2.jpg": "nextcloud-xattr", "/p/b/3.jpg": "on-demand-fs"}
    # the tree /p/a: everything below it replaced
    assert ph.merge(old, {}, folders=[], trees=[Path("/p/a")]) == {"/p/b/3.jpg": "on-demand-fs"}


def test_stored_list_round_trips_and_bad_text_is_empty():
    found = {"/p/1.jpg": "nextcloud-suffix"}
    assert ph.loads(ph.dumps(found)) == found
    for bad in (None, "", "[1]", "{", '{"/p": "nope"}'):
        assert ph.loads(bad) == {}


def test_texts():
    assert ph.headline(2) == "⏸ 2 files are only in the cloud (not on this disk)"
    assert ph.headline(1) == "⏸ 1 file is only in the cloud (not on this disk)"
    assert "ignore_cloud_placeholders" not in ph.advice(["nextcloud-xattr"])
    assert "ignore_cloud_placeholders" in ph.advice(["nextcloud-xattr", "dataless"])


# --- the walk, on real files ---------------------------------------------------------------

def nextcloud_stub(path: Path, *, xattr: bool) -> Path:
    """What the Nextcloud client writes for a file it keeps online only."""
    path.write_bytes(b" ")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    if xattr:
        os.setxattr(path, ph.HYDRATE_XATTR, b"nextcloud\0")
    return path


def listing(root: Path) -> DirListing:
    (ls,) = list(walk(AlbumRules([root], []), MEDIA))
    return ls


def xattrs_work(path: Path) -> bool:
    probe = path / ".probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def test_walk_finds_nextcloud_placeholders_and_leaves_them_out(tmp_path: Path):
    if not xattrs_work(tmp_path):
        pytest.skip("no user xattrs on this filesystem")
    (tmp_path / "real.jpg").write_bytes(b"\xff\xd8" + os.urandom(5000))
    nextcloud_stub(tmp_path / "online.jpg.nextcloud", xattr=False)
    nextcloud_stub(tmp_path / "online2.mp4", xattr=True)
    (tmp_path / "one-byte.jpg").write_bytes(b" ")  # no attribute: a (broken) real file
    (tmp_path / "notes.txt.nextcloud").write_bytes(b" ")  # not a photo
    ls = listing(tmp_path)
    assert ls.placeholders == {"online.jpg.nextcloud": K.NEXTCLOUD_SUFFIX,
                               "online2.mp4": K.NEXTCLOUD_XATTR}
    assert sorted(f.name for f in ls.files) == ["one-byte.jpg", "real.jpg"]
    assert "online2.mp4" not in ls.kinds  # never read, never paired
    assert not any(f.is_placeholder for f in ls.files)


def test_a_folder_of_placeholders_alone_is_listed(tmp_path: Path):
    nextcloud_stub(tmp_path / "a.jpg.owncloud", xattr=False)
    ls = listing(tmp_path)
    assert ls.files == [] and ls.placeholders == {"a.jpg.owncloud": K.NEXTCLOUD_SUFFIX}


def test_sparse_file_on_a_local_disk_is_backed_up(tmp_path: Path):
    with open(tmp_path / "sparse.mp4", "wb") as f:
        f.truncate(10 << 20)
    assert os.stat(tmp_path / "sparse.mp4").st_blocks == 0
    ls = listing(tmp_path)
    assert ls.placeholders == {}
    assert [f.name for f in ls.files] == ["sparse.mp4"]
