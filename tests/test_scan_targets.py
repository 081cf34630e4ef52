"""walk_targets: the daemon's partial scan never reaches beyond the configuration."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.scan.walk import walk_targets


def _tree(tmp: Path) -> AlbumRules:
    for rel in ("inc/a/1.jpg", "inc/a/b/2.jpg", "inc/skip/3.jpg", "inc/@eaDir/4.jpg",
                "out/5.jpg"):
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\xff\xd8x")
    return AlbumRules([tmp / "inc"], [str(tmp / "inc" / "skip")])


def _names(listings) -> set[str]:
    return {f.name for listing in listings for f in listing.files}


def test_folder_alone_or_tree(tmp_path: Path):
    rules = _tree(tmp_path)
    media = DEFAULT_MEDIA_TYPES
    assert _names(walk_targets(rules, media, [tmp_path / "inc" / "a"])) == {"1.jpg"}
    assert _names(walk_targets(rules, media, [], [tmp_path / "inc" / "a"])) == {"1.jpg", "2.jpg"}
    both = list(walk_targets(rules, media, [tmp_path / "inc" / "a" / "b"],
                             [tmp_path / "inc" / "a"]))
    assert sorted(f.name for listing in both for f in listing.files) == ["1.jpg", "2.jpg"]


def test_targets_outside_the_configuration_are_ignored(tmp_path: Path):
    rules = _tree(tmp_path)
    media = DEFAULT_MEDIA_TYPES
    for target in ("inc/skip", "inc/@eaDir", "out", "inc/missing"):
        assert _names(walk_targets(rules, media, [tmp_path / target],
                                   [tmp_path / target])) == set()
    # the whole include root as a tree is the full walk, less the exclusions
    assert _names(walk_targets(rules, media, [], [tmp_path / "inc"])) == {"1.jpg", "2.jpg"}
