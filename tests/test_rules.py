"""Album rules: include roots, exclusions (paths, names, gitignore-like globs), album names."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from immich_backupd.scan.rules import AlbumNaming, AlbumRules, FolderNaming, glob_to_regex
from immich_backupd.watch.filtering import accept

ROOT = Path("/photos")


def rules(*exclude: str, include: tuple[str, ...] = ("/photos",)) -> AlbumRules:
    return AlbumRules([Path(i) for i in include], list(exclude))


# --- includes --------------------------------------------------------------------------------


def test_root_of_and_included() -> None:
    r = rules()
    assert r.root_of("/photos/2024/a.jpg") == ROOT
    assert r.root_of("/photos") == ROOT
    assert r.root_of("/photosx/a.jpg") is None  # a prefix is not a parent
    assert r.root_of("/elsewhere/a.jpg") is None
    assert accept(r, None, "/photos/2024/a.jpg", False)
    assert not accept(r, None, "/elsewhere/a.jpg", False)


def test_nested_includes_pick_the_deepest() -> None:
    r = rules(include=("/photos", "/photos/phone", "/photos/phone/dcim"))
    assert r.root_of("/photos/phone/dcim/x/a.jpg") == Path("/photos/phone/dcim")
    assert r.root_of("/photos/phone/a.jpg") == Path("/photos/phone")
    assert r.roots == (Path("/photos"), Path("/photos/phone"), Path("/photos/phone/dcim"))
    assert r.is_root("/photos/phone")
    assert not r.is_root("/photos/phone/x")


def test_includes_are_normalised_and_deduplicated() -> None:
    r = rules(include=("/photos/", "/photos/./", "/photos"))
    assert r.roots == (ROOT,)


def test_relative_include_is_rejected() -> None:
    with pytest.raises(ValueError, match="absolute"):
        AlbumRules([Path("photos")], [])


# --- exclusions ------------------------------------------------------------------------------


def test_absolute_folder_excludes_everything_below() -> None:
    r = rules("/photos/private")
    assert r.is_excluded("/photos/private")
    assert r.is_excluded("/photos/private/a/b.jpg")
    assert not r.is_excluded("/photos/private2/a.jpg")
    assert not r.is_excluded("/photos/a.jpg")


def test_absolute_file() -> None:
    r = rules("/photos/2024/bad.jpg")
    assert r.is_excluded("/photos/2024/bad.jpg")
    assert not r.is_excluded("/photos/2024/bad.jpg.xmp")
    assert not r.is_excluded("/photos/2025/bad.jpg")


def test_absolute_exclude_is_normalised() -> None:
    assert rules("/photos/private/").is_excluded("/photos/private/x.jpg")
    assert rules("/photos/./private").is_excluded("/photos/private/x.jpg")


def test_bare_name_matches_at_any_depth_file_or_folder() -> None:
    r = rules("Private")
    assert r.is_excluded("/photos/Private")
    assert r.is_excluded("/photos/a/b/Private/c.jpg")
    assert r.is_excluded("/photos/a/Private", is_dir=False)  # a file of that name too
    assert not r.is_excluded("/photos/private/c.jpg")  # case-sensitive
    assert not r.is_excluded("/photos/Private2/c.jpg")


def test_name_glob() -> None:
    r = rules("*.tmp.jpg", "IMG_????.png")
    assert r.is_excluded("/photos/a/x.tmp.jpg")
    assert r.is_excluded("/photos/IMG_0001.png")
    assert not r.is_excluded("/photos/IMG_01.png")
    assert not r.is_excluded("/photos/x.jpg")


def test_star_does_not_cross_slash() -> None:
    r = rules("/photos/*/skip")
    assert r.is_excluded("/photos/a/skip/x.jpg")
    assert not r.is_excluded("/photos/a/b/skip/x.jpg")


def test_double_star_spans_folders() -> None:
    r = rules("/photos/**/raw")
    assert r.is_excluded("/photos/raw/x.dng")  # zero folders
    assert r.is_excluded("/photos/a/raw/x.dng")
    assert r.is_excluded("/photos/a/b/c/raw")
    assert not r.is_excluded("/photos/a/rawx/x.dng")
    assert not r.is_excluded("/other/raw/x.dng")


def test_trailing_double_star_excludes_contents() -> None:
    r = rules("/photos/tmp/**")
    assert r.is_excluded("/photos/tmp/a.jpg")
    assert r.is_excluded("/photos/tmp/a/b.jpg")
    assert not r.is_excluded("/photos/tmp", is_dir=False)


def test_relative_glob_matches_at_any_depth() -> None:
    r = rules("cache/*.jpg", "Private/raw")
    assert r.is_excluded("/photos/cache/a.jpg")
    assert r.is_excluded("/photos/x/y/cache/a.jpg")
    assert not r.is_excluded("/photos/cache/sub/a.jpg")
    assert r.is_excluded("/photos/y/Private/raw/a.dng")
    assert not r.is_excluded("/photos/y/Private/rawx/a.dng")


def test_leading_double_star_glob() -> None:
    r = rules("**/Screenshots/**")
    assert r.is_excluded("/photos/Screenshots/a.png")
    assert r.is_excluded("/photos/phone/Screenshots/2024/a.png")


def test_glob_matching_a_folder_excludes_below() -> None:
    r = rules("/photos/20??")
    assert r.is_excluded("/photos/2024")
    assert r.is_excluded("/photos/2024/rome/a.jpg")
    assert not r.is_excluded("/photos/1999/a.jpg")


def test_character_classes() -> None:
    r = rules("[!a]b.jpg", "IMG_[0-4]*.jpg")
    assert r.is_excluded("/photos/cb.jpg")
    assert not r.is_excluded("/photos/ab.jpg")
    assert r.is_excluded("/photos/IMG_3.jpg")
    assert not r.is_excluded("/photos/IMG_7.jpg")


def test_folder_only_glob() -> None:
    r = rules("cache/", "tmp*/")
    assert r.is_excluded("/photos/cache", is_dir=True)
    assert r.is_excluded("/photos/cache")  # unknown kind: may be a folder
    assert not r.is_excluded("/photos/cache", is_dir=False)
    assert r.is_excluded("/photos/a/cache/x.jpg", is_dir=False)
    assert r.is_excluded("/photos/tmp1/x.jpg", is_dir=False)
    assert not r.is_excluded("/photos/tmp1.jpg", is_dir=False)
    assert r.is_excluded("/photos/tmp1", is_dir=True)
    assert not r.is_excluded("/photos/tmp1", is_dir=False)


def test_exclusion_wins_over_nested_include() -> None:
    r = rules("/photos/private", include=("/photos", "/photos/private/shared"))
    assert r.root_of("/photos/private/shared/a.jpg") == Path("/photos/private/shared")
    assert not accept(r, None, "/photos/private/shared/a.jpg", False)
    assert r.wholly_excluded_roots() == [Path("/photos/private/shared")]


def test_bare_name_above_the_root_excludes_the_root() -> None:
    # Documented consequence of matching against the absolute path.
    r = rules("tmp", include=("/tmp/photos",))
    assert r.wholly_excluded_roots() == [Path("/tmp/photos")]


def test_has_file_patterns() -> None:
    assert not rules().has_file_patterns
    assert not rules("cache/", "/photos/**/tmp*/").has_file_patterns
    assert rules("*.png").has_file_patterns
    assert rules("Private").has_file_patterns
    assert rules("/photos/x.jpg").has_file_patterns
    assert rules("/photos/*/x.jpg").has_file_patterns


def test_entry_check_matches_full_check_when_parents_are_clean() -> None:
    r = rules("*.png", "/photos/*/skip", "Private", "cache/")
    for path, is_dir in [
        ("/photos/a/skip", True),
        ("/photos/a/x.png", False),
        ("/photos/a/Private", False),
        ("/photos/a/cache", True),
        ("/photos/a/cache", False),
        ("/photos/a/b.jpg", False),
    ]:
        name = path.rpartition("/")[2]
        assert r.is_excluded_entry(path, name, is_dir) == r.is_excluded(path, is_dir=is_dir)


def test_repr_shows_rules() -> None:
    assert "Private" in repr(rules("Private"))


# --- albums ----------------------------------------------------------------------------------


def test_album_name() -> None:
    r = rules()
    assert r.album_name_for(Path("/photos/Trips/Rome/a.jpg")) == "Rome"
    assert r.album_name_for(Path("/photos/a.jpg")) == "photos"
    assert r.album_name_for(Path("/a.jpg")) == "/"
    # an album name is text: bytes that are not UTF-8 become "?", UTF-8 stays as it is
    assert r.album_name_for(Path(os.fsdecode(b"/photos/caf\xe9/a.jpg"))) == "caf?"
    assert r.album_name_for(Path("/photos/Café/a.jpg")) == "Café"


# --- glob translation ------------------------------------------------------------------------


def test_glob_translation_edges() -> None:
    assert re.fullmatch(glob_to_regex("a[b"), "a[b")  # unclosed bracket is literal
    assert re.fullmatch(glob_to_regex(r"a\*b"), "a*b")
    assert not re.fullmatch(glob_to_regex(r"a\*b"), "axb")
    assert re.fullmatch(glob_to_regex("a[]]b"), "a]b")
    assert re.fullmatch(glob_to_regex("a[!]]b"), "axb")
    assert not re.fullmatch(glob_to_regex("a[!]]b"), "a]b")
    assert not re.fullmatch(glob_to_regex("a[!x]b"), "a/b")
    assert re.fullmatch(glob_to_regex("a**b"), "axxb")  # not a whole component: a '*'
    assert not re.fullmatch(glob_to_regex("a**b"), "a/b")


@given(
    pattern=st.text(alphabet="ab*?.", min_size=1, max_size=6),
    name=st.text(alphabet="ab.", min_size=1, max_size=6),
)
def test_name_glob_agrees_with_fnmatch(pattern: str, name: str) -> None:
    """Without '/', our globs are plain shell globs."""
    ours = re.fullmatch(glob_to_regex(pattern), name) is not None
    assert ours == fnmatch.fnmatchcase(name, pattern)


# --- properties ------------------------------------------------------------------------------

COMPONENTS = ["a", "b", "ab", "x.jpg", "p.png", "@eaDir", "2024"]
component = st.sampled_from(COMPONENTS)
abs_path = st.lists(component, min_size=1, max_size=5).map(lambda cs: "/" + "/".join(cs))
glob_part = st.sampled_from(["a", "b", "*", "?", "**", "*.jpg", "[ab]", "20*"])
glob = st.builds(
    lambda lead, parts, trail: lead + "/".join(parts) + trail,
    st.sampled_from(["", "/", "**/"]),
    st.lists(glob_part, min_size=1, max_size=3),
    st.sampled_from(["", "/"]),
)
exclude_entry = st.one_of(component, abs_path, glob)
album_rules = st.builds(
    lambda inc, exc: AlbumRules([Path(p) for p in inc], exc),
    st.lists(abs_path, min_size=1, max_size=3),
    st.lists(exclude_entry, max_size=4),
)
kind = st.sampled_from([None, True, False])


@settings(max_examples=150)
@given(r=album_rules, path=abs_path, is_dir=st.booleans())
def test_property_exclusion_wins(r: AlbumRules, path: str, is_dir: bool) -> None:
    if r.is_excluded(path, is_dir=is_dir):
        assert not accept(r, None, path, is_dir)


@settings(max_examples=150)
@given(
    r=album_rules,
    folder=abs_path,
    below=st.lists(component, min_size=1, max_size=3),
    is_dir=kind,
)
def test_property_everything_under_an_excluded_folder_is_excluded(
    r: AlbumRules, folder: str, below: list[str], is_dir: bool | None
) -> None:
    if r.is_excluded(folder, is_dir=True):
        assert r.is_excluded(folder + "/" + "/".join(below), is_dir=is_dir)


@settings(max_examples=150)
@given(r=album_rules, path=abs_path)
def test_property_outside_all_includes_never_included(r: AlbumRules, path: str) -> None:
    p = Path(path)
    if not any(p == root or root in p.parents for root in r.roots):
        assert r.root_of(path) is None
        assert not accept(r, None, path, False)


@settings(max_examples=150)
@given(r=album_rules, path=abs_path)
def test_property_root_of_is_the_deepest_containing_root(r: AlbumRules, path: str) -> None:
    p = Path(path)
    containing = [root for root in r.roots if p == root or root in p.parents]
    expected = max(containing, key=lambda q: len(q.parts)) if containing else None
    assert r.root_of(path) == expected


@settings(max_examples=150)
@given(r=album_rules, path=abs_path, is_dir=st.booleans())
def test_property_incremental_check_agrees(r: AlbumRules, path: str, is_dir: bool) -> None:
    """The scanner's per-entry check, applied top-down, equals the full check."""
    parts = path.strip("/").split("/")
    prefix = ""
    incremental = False
    for i, name in enumerate(parts):
        prefix += "/" + name
        last = i == len(parts) - 1
        if r.is_excluded_entry(prefix, name, is_dir if last else True):
            incremental = True
            break
    assert incremental == r.is_excluded(path, is_dir=is_dir)


def test_rules_from_settings_take_the_albums_section(tmp_path):
    from immich_backupd.config import AlbumSettings

    a, b = tmp_path / "a", tmp_path / "b"
    albums = AlbumSettings(include=(a, b), exclude=("Private",))
    rules = AlbumRules.from_settings(albums)
    assert rules.roots == (a, b) and rules.exclude == ("Private",)
    assert rules.is_excluded_entry(str(a / "Private"), "Private", True)
    only_b = AlbumRules.from_settings(albums, roots=[b])
    assert only_b.roots == (b,) and only_b.exclude == ("Private",)


# --- album naming per include folder --------------------------------------------------


def test_album_names_follow_each_include_folders_naming():
    rules = AlbumRules(
        ["/p/plain", "/p/archive", "/p/phone", "/p/loose"], [],
        [FolderNaming(Path("/p/archive"), AlbumNaming.PATH),
         FolderNaming(Path("/p/phone"), AlbumNaming.FIXED, "Phone"),
         FolderNaming(Path("/p/loose"), AlbumNaming.NONE)])
    assert rules.album_name_for("/p/plain/Trips/2024/Rome/a.jpg") == "Rome"
    assert rules.album_name_for("/p/plain/a.jpg") == "plain"
    assert rules.album_name_for("/p/archive/2019/Rome/a.jpg") == "2019/Rome"
    assert rules.album_name_for("/p/archive/2020/Rome/a.jpg") == "2020/Rome"
    assert rules.album_name_for("/p/archive/a.jpg") == "archive"
    assert rules.album_name_for("/p/phone/DCIM/Camera/a.jpg") == "Phone"
    assert rules.album_name_for("/p/phone/a.jpg") == "Phone"
    assert rules.album_name_for("/p/loose/x/a.jpg") is None


def test_path_naming_is_relative_to_the_deepest_include_folder_and_stays_text():
    rules = AlbumRules(["/p", "/p/inner"], [],
                       [FolderNaming(Path("/p"), AlbumNaming.PATH),
                        FolderNaming(Path("/p/inner"), AlbumNaming.PATH)])
    assert rules.album_name_for("/p/inner/2019/a.jpg") == "2019"
    assert rules.album_name_for("/p/inner/a.jpg") == "inner"
    latin1 = os.fsdecode(b"/p/caf\xe9/x/a.jpg")
    assert rules.album_name_for(latin1) == "caf?/x"
