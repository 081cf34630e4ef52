"""Media types, ignored names, sidecars and live-photo pairing (pure, no files)."""

from __future__ import annotations

import pytest

from immich_backupd.media.kinds import (
    DEFAULT_MEDIA_TYPES,
    MediaTypes,
    extension,
    is_ignored_dir,
    is_ignored_name,
    live_photo_pairs,
    match_sidecars,
    stem,
)

SERVER_JSON = {
    "image": [".jpg", ".jpeg", ".heic", ".png", ".dng"],
    "video": [".mov", ".mp4"],
    "sidecar": [".xmp"],
}


def test_from_server_and_kind_of() -> None:
    mt = MediaTypes.from_server(SERVER_JSON)
    assert mt.image == frozenset(SERVER_JSON["image"])
    assert mt.kind_of("IMG_1.JPG") == "image"
    assert mt.kind_of("clip.Mov") == "video"
    assert mt.kind_of("a.jpg.XMP") == "sidecar"
    assert mt.kind_of("notes.txt") is None
    assert mt.kind_of("noext") is None
    assert mt.kind_of(".jpg") is None  # a hidden file named "jpg", not an extension


def test_from_server_normalises() -> None:
    mt = MediaTypes.from_server({"image": ["JPG", " .Png "], "video": []})
    assert mt.image == {".jpg", ".png"}
    assert mt.sidecar == frozenset()
    assert mt == MediaTypes(frozenset({".jpg", ".png"}), frozenset(), frozenset())
    hash(mt)  # frozen: usable as a key


def test_candidate_equals_ignore_then_kind() -> None:
    mt = DEFAULT_MEDIA_TYPES
    names = ["a.jpg", ".a.jpg", "._a.jpg", "a.jpg.part", "a.mov~", "Thumbs.db", "b.XMP", "c.txt"]
    for n in names:
        assert mt.candidate(n) == (None if is_ignored_name(n) else mt.kind_of(n)), n


def test_candidate_with_a_list_that_collides_with_ignored_suffixes() -> None:
    mt = MediaTypes.from_server({"image": [".tmp", ".jpg"]})
    assert mt.kind_of("x.tmp") == "image"
    assert mt.candidate("x.tmp") is None
    assert mt.candidate("x.jpg") == "image"


def test_extension_and_stem() -> None:
    assert extension("a.b.JPG") == ".jpg"
    assert extension("a") == ""
    assert extension(".hidden") == ""
    assert stem("a.jpg.xmp") == "a.jpg"
    assert stem("a") == "a"


@pytest.mark.parametrize(
    "name",
    [
        ".DS_Store",
        "._IMG_1.JPG",
        ".hidden.jpg",
        "Thumbs.db",
        "THUMBS.DB",
        "desktop.ini",
        "IMG_1.jpg.part",
        "IMG_1.jpg.partial",
        "video.mp4.crdownload",
        "a.jpg.download",
        "a.tmp",
        "a.TEMP",
        "movie.mkv.!qB",
        "edit.jpg~",
        ".syncthing.IMG_1.jpg.tmp",
    ],
)
def test_ignored_names(name: str) -> None:
    assert is_ignored_name(name)


@pytest.mark.parametrize("name", ["IMG_1.jpg", "a.partial.jpg", "temp.jpg", "x.mov", "~a.jpg"])
def test_not_ignored_names(name: str) -> None:
    assert not is_ignored_name(name)


@pytest.mark.parametrize(
    "name",
    [
        ".git",
        "@eaDir",
        "#recycle",
        "#snapshot",
        ".@__thumb",
        "$RECYCLE.BIN",
        ".Trash-1000",
        "lost+found",
    ],
)
def test_ignored_dirs(name: str) -> None:
    assert is_ignored_dir(name)


@pytest.mark.parametrize("name", ["2024", "eaDir", "recycle", "Trash", "Photos"])
def test_not_ignored_dirs(name: str) -> None:
    assert not is_ignored_dir(name)


def test_sidecar_prefers_full_name() -> None:
    names = {"x.jpg", "x.jpg.xmp", "x.xmp"}
    assert match_sidecars(["x.jpg"], names) == {"x.jpg": "x.jpg.xmp"}


def test_sidecar_falls_back_to_stem() -> None:
    assert match_sidecars(["x.jpg"], {"x.jpg", "x.xmp"}) == {"x.jpg": "x.xmp"}
    assert match_sidecars(["x.jpg"], {"x.jpg"}) == {}
    assert match_sidecars(["x.jpg"], {"y.xmp", "x.jpg.txt"}) == {}


def test_sidecar_is_case_insensitive() -> None:
    assert match_sidecars(["X.JPG"], {"X.XMP"}) == {"X.JPG": "X.XMP"}
    assert match_sidecars(["IMG_1.JPG"], {"IMG_1.JPG.xmp"}) == {"IMG_1.JPG": "IMG_1.JPG.xmp"}
    assert match_sidecars(["IMG_1.JPG"], {"img_1.xmp"}) == {"IMG_1.JPG": "img_1.xmp"}
    # Several spellings (case-sensitive file system): the media name's own case wins.
    assert match_sidecars(["IMG_1.JPG"], {"img_1.xmp", "IMG_1.XMP"}) == {"IMG_1.JPG": "IMG_1.XMP"}


def test_ambiguous_stem_sidecar_goes_to_both() -> None:
    names = ["x.jpg", "x.mov", "x.xmp"]
    assert match_sidecars(["x.jpg", "x.mov"], names) == {"x.jpg": "x.xmp", "x.mov": "x.xmp"}


def test_match_sidecars_without_sidecars() -> None:
    assert match_sidecars(["a.jpg"], ["a.jpg", "b.mov"]) == {}


def test_live_photo_pair() -> None:
    files = {"IMG_1234.HEIC": "image", "IMG_1234.MOV": "video", "IMG_9.JPG": "image"}
    assert live_photo_pairs(files) == {"IMG_1234.HEIC": "IMG_1234.MOV"}


def test_live_photo_pair_case_insensitive_stem() -> None:
    assert live_photo_pairs({"img_1.heic": "image", "IMG_1.mov": "video"}) == {
        "img_1.heic": "IMG_1.mov"
    }


def test_live_photo_ambiguous_groups_are_not_paired() -> None:
    two_stills = {"IMG_1.HEIC": "image", "IMG_1.JPG": "image", "IMG_1.MOV": "video"}
    two_videos = {"IMG_2.HEIC": "image", "IMG_2.MOV": "video", "IMG_2.MP4": "video"}
    assert live_photo_pairs(two_stills) == {}
    assert live_photo_pairs(two_videos) == {}


def test_live_photo_ignores_sidecars_and_lone_files() -> None:
    files = {"a.heic": "image", "a.heic.xmp": "sidecar", "a.xmp": "sidecar", "b.mov": "video"}
    assert live_photo_pairs(files) == {}


def test_a_proraw_live_photo_pairs_its_dng() -> None:
    assert live_photo_pairs({"IMG_7.DNG": "image", "IMG_7.MOV": "video"}) == {
        "IMG_7.DNG": "IMG_7.MOV"}


def test_raw_and_rendered_stills_pair_the_rendered_one() -> None:
    files = {"IMG_8.DNG": "image", "IMG_8.HEIC": "image", "IMG_8.MOV": "video",
             "IMG_9.jpg": "image", "img_9.cr2": "image", "IMG_9.mov": "video"}
    assert live_photo_pairs(files) == {"IMG_8.HEIC": "IMG_8.MOV", "IMG_9.jpg": "IMG_9.mov"}
    two_raws = {"IMG_1.DNG": "image", "IMG_1.CR2": "image", "IMG_1.MOV": "video"}
    three = {"IMG_2.DNG": "image", "IMG_2.HEIC": "image", "IMG_2.JPG": "image",
             "IMG_2.MOV": "video"}
    assert live_photo_pairs(two_raws) == {} and live_photo_pairs(three) == {}
