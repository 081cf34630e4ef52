"""inotify limits, the folder count the `check` command compares with them, and purity."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from immich_backupd.scan.rules import AlbumRules
from immich_backupd.watch.limits import (
    count_dirs,
    inotify_limit,
    instance_limit_advice,
    namespace_watch_limit,
    suggested_watches,
    top_roots,
    watch_limit_advice,
)


def test_inotify_limit_reads_the_sysctl(tmp_path: Path) -> None:
    assert inotify_limit(tmp_path) is None  # no inotify here
    (tmp_path / "max_user_watches").write_text("8192\n")
    assert inotify_limit(tmp_path) == 8192
    (tmp_path / "max_user_watches").write_text("garbage")
    assert inotify_limit(tmp_path) is None
    assert namespace_watch_limit(tmp_path / "nope") is None


@pytest.mark.skipif(sys.platform != "linux", reason="inotify")
def test_inotify_limit_live() -> None:
    limit = inotify_limit()
    assert limit is not None and limit > 0
    assert limit == int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())


def test_count_dirs_counts_what_would_be_watched(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for d in ("a", "a/b", "c", "@eaDir/x", ".hidden/y", "Private/z", "#recycle"):
        (lib / d).mkdir(parents=True)
    (lib / "file.jpg").write_bytes(b"x")
    (lib / "link").symlink_to(lib / "a")  # not followed
    rules = AlbumRules([lib, lib / "a", tmp_path / "missing"], ["Private"])
    assert count_dirs(rules.roots, rules) == 4  # lib, a, a/b, c; nested root "a" once


def test_top_roots(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    rules = AlbumRules(
        [lib, lib / "inner", lib / ".cache" / "p", tmp_path / "other", tmp_path / "ex"],
        [str(tmp_path / "ex")],
    )
    assert top_roots(rules.roots, rules) == [lib, lib / ".cache" / "p", tmp_path / "other"]


@pytest.mark.parametrize(
    ("current", "needed", "expected"),
    [
        (8192, None, 524_288),
        (None, None, 524_288),
        (524_288, None, 1_048_576),
        (8192, 300_000, 1_048_576),
    ],
)
def test_suggested_watches(current: int | None, needed: int | None, expected: int) -> None:
    assert suggested_watches(current, needed) == expected


def test_advice_says_exactly_what_to_raise() -> None:
    text = watch_limit_advice(8192, needed=10_000, namespace=1 << 30)
    assert "fs.inotify.max_user_watches is 8192" in text
    assert "hold 10000 folders" in text
    assert "`sudo sysctl fs.inotify.max_user_watches=524288`" in text
    assert "/etc/sysctl.d/90-immich-backupd.conf" in text
    assert "user.max_inotify_watches" not in text
    assert "user.max_inotify_watches" in watch_limit_advice(8192, namespace=100)
    inst = instance_limit_advice(128)
    assert "fs.inotify.max_user_instances is 128" in inst
    assert "sudo sysctl fs.inotify.max_user_instances=512" in inst
