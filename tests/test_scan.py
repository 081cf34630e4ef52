"""The file-system walk (real files in tmp_path) and change detection (pure)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES as MEDIA
from immich_backupd.scan import walk as scan_mod
from immich_backupd.scan.changes import (
    FileStat,
    birthtime_ns,
    change_reason,
    differs,
    is_placeholder,
    needs_hash,
)
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.scan.walk import DirListing, walk


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def listings(
    root: Path | list[Path], exclude: list[str] | None = None, **kw: object
) -> list[DirListing]:
    roots = root if isinstance(root, list) else [root]
    return list(walk(AlbumRules(roots, exclude or []), MEDIA, **kw))  # type: ignore[arg-type]


def tree(root: Path, exclude: list[str] | None = None, **kw: object) -> dict[str, list[str]]:
    """Folder (relative to ``root``, '.' for itself) -> names of the files listed there."""
    return {
        os.path.relpath(ls.path, root): [f.name for f in ls.files]
        for ls in listings(root, exclude, **kw)
    }


class Errors:
    """A recording ``on_error``."""

    def __init__(self) -> None:
        self.seen: list[tuple[Path, OSError]] = []

    def __call__(self, path: Path, err: OSError) -> None:
        self.seen.append((path, err))


# --- the basics --------------------------------------------------------------------------------


def test_nested_folders_kinds_and_stats(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg", b"12345")
    touch(tmp_path / "2024" / "rome" / "b.MOV")
    touch(tmp_path / "2024" / "rome" / "c.heic")
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    touch(tmp_path / "docs" / "notes.txt")

    result = listings(tmp_path)
    by_dir = {os.path.relpath(ls.path, tmp_path): ls for ls in result}
    assert set(by_dir) == {".", "2024/rome"}  # no listing for folders without candidates
    rome = by_dir["2024/rome"]
    assert [f.name for f in rome.files] == ["b.MOV", "c.heic"]  # sorted
    assert rome.kinds == {"b.MOV": "video", "c.heic": "image"}
    assert rome.root == tmp_path
    assert isinstance(rome.path, Path)

    (a,) = by_dir["."].files
    st = os.stat(tmp_path / "a.jpg")
    assert (a.size, a.mtime_ns, a.ino, a.dev, a.ctime_ns) == (
        5,
        st.st_mtime_ns,
        st.st_ino,
        st.st_dev,
        st.st_ctime_ns,
    )
    assert a.is_placeholder is False


def test_walk_is_lazy(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "sub" / "b.jpg")
    it = walk(AlbumRules([tmp_path], []), MEDIA)
    first = next(it)
    assert first.path == tmp_path
    touch(tmp_path / "sub" / "later" / "c.jpg")  # created after the first folder was yielded
    rest = {ls.path.name for ls in it}
    assert rest == {"sub", "later"}


def test_ignored_names_and_folders(tmp_path: Path) -> None:
    for name in [
        "ok.jpg",
        ".hidden.jpg",
        "._ok.jpg",
        ".DS_Store",
        "Thumbs.db",
        "big.mp4.part",
        "dl.jpg.crdownload",
        "edit.jpg~",
        ".syncthing.x.jpg.tmp",
        "readme.txt",
        "archive.zip",
        "noext",
    ]:
        touch(tmp_path / name)
    touch(tmp_path / "@eaDir" / "ok.jpg" / "SYNOPHOTO_THUMB_XL.jpg")
    touch(tmp_path / ".thumbnails" / "t.jpg")
    touch(tmp_path / "#recycle" / "old.jpg")
    touch(tmp_path / ".Trash-1000" / "files" / "gone.jpg")
    assert tree(tmp_path) == {".": ["ok.jpg"]}


def test_excluded_folders_files_and_globs(tmp_path: Path) -> None:
    touch(tmp_path / "keep" / "a.jpg")
    touch(tmp_path / "keep" / "shot.png")
    touch(tmp_path / "private" / "b.jpg")
    touch(tmp_path / "x" / "cache" / "c.jpg")
    touch(tmp_path / "raw" / "2024" / "d.dng")
    touch(tmp_path / "keep" / "bad.jpg")
    exclude = [str(tmp_path / "private"), "cache", "*.png", f"{tmp_path}/**/2024", "bad.jpg"]
    assert tree(tmp_path, exclude) == {"keep": ["a.jpg"]}


def test_excluded_folder_is_not_descended_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "private" / "deep" / "b.jpg")
    touch(tmp_path / "a.jpg")
    opened: list[str] = []
    real = os.scandir

    def recording(path: str) -> object:
        opened.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(scan_mod.os, "scandir", recording)
    assert tree(tmp_path, ["private"]) == {".": ["a.jpg"]}
    assert opened == [str(tmp_path)]


def test_sidecars(tmp_path: Path) -> None:
    for name in [
        "a.jpg",
        "a.jpg.xmp",
        "a.xmp",
        "b.JPG",
        "B.XMP",
        "c.jpg",
        "d.jpg",
        "d.mov",
        "d.xmp",
    ]:
        touch(tmp_path / name)
    (ls,) = listings(tmp_path)
    assert [f.name for f in ls.files] == ["a.jpg", "b.JPG", "c.jpg", "d.jpg", "d.mov"]
    assert ls.sidecars == {
        "a.jpg": "a.jpg.xmp",
        "b.JPG": "B.XMP",
        "d.jpg": "d.xmp",
        "d.mov": "d.xmp",
    }


def test_excluded_sidecar_is_not_attached(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "a.jpg.xmp")
    (ls,) = listings(tmp_path, ["*.xmp"])
    assert ls.sidecars == {}


def test_live_pairs(tmp_path: Path) -> None:
    for name in ["IMG_1.HEIC", "IMG_1.MOV", "IMG_2.JPG", "IMG_3.JPG", "IMG_3.HEIC", "IMG_3.MOV"]:
        touch(tmp_path / name)
    (ls,) = listings(tmp_path)
    assert ls.pairs == {"IMG_1.HEIC": "IMG_1.MOV"}


def test_nested_includes_are_walked_once_by_the_deepest_root(tmp_path: Path) -> None:
    inner = tmp_path / "phone"
    touch(tmp_path / "a.jpg")
    touch(inner / "b.jpg")
    touch(inner / "sub" / "c.jpg")
    result = listings([tmp_path, inner])
    seen = [(ls.path, ls.root, [f.name for f in ls.files]) for ls in result]
    assert sorted(seen) == sorted(
        [
            (tmp_path, tmp_path, ["a.jpg"]),
            (inner, inner, ["b.jpg"]),
            (inner / "sub", inner, ["c.jpg"]),
        ]
    )


def test_explicitly_included_hidden_folder_is_walked(tmp_path: Path) -> None:
    hidden = tmp_path / ".camera"
    touch(hidden / "a.jpg")
    assert [ls.path for ls in listings([tmp_path, hidden])] == [hidden]


def test_excluded_root_is_not_walked(tmp_path: Path) -> None:
    touch(tmp_path / "private" / "a.jpg")
    assert listings([tmp_path / "private"], [str(tmp_path / "private")]) == []


# --- special files and links -----------------------------------------------------------------


def test_fifo_is_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    touch(tmp_path / "a.jpg")
    assert tree(tmp_path) == {".": ["a.jpg"]}


def test_symlinks_are_not_followed_by_default(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    touch(outside / "o.jpg")
    touch(root / "a.jpg")
    (root / "linkdir").symlink_to(outside)
    (root / "link.jpg").symlink_to(outside / "o.jpg")
    assert tree(root) == {".": ["a.jpg"]}


def test_symlinks_followed_on_request(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    touch(outside / "o.jpg", b"12")
    touch(root / "a.jpg")
    (root / "linkdir").symlink_to(outside)
    (root / "link.jpg").symlink_to(outside / "o.jpg")
    (root / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = tree(root, follow_symlinks=True)
    assert result == {".": ["a.jpg", "link.jpg"], "linkdir": ["o.jpg"]}
    (ls,) = [ls for ls in listings(root, follow_symlinks=True) if ls.path == root]
    assert ls.files[1].size == 2  # the target's stat


def test_symlink_loop_is_walked_once(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "x.jpg")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)  # a/loop -> root
    (tmp_path / "a" / "self").symlink_to(".")  # a/self -> a
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "to_a").symlink_to(tmp_path / "a")
    result = listings(tmp_path, follow_symlinks=True)
    assert [f.name for ls in result for f in ls.files] == ["x.jpg"]


# --- errors ----------------------------------------------------------------------------------


def test_folder_replaced_by_a_file_goes_to_on_error(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "gone" / "b.jpg")
    touch(tmp_path / "later" / "c.jpg")
    errors = Errors()
    it = walk(AlbumRules([tmp_path], []), MEDIA, on_error=errors)
    assert next(it).path == tmp_path
    shutil.rmtree(tmp_path / "gone")
    touch(tmp_path / "gone")  # the folder is now a file
    rest = [ls.path.name for ls in it]
    assert rest == ["later"]  # the walk went on
    ((path, err),) = errors.seen
    assert path == tmp_path / "gone"
    assert isinstance(err, NotADirectoryError)


def test_missing_root_goes_to_on_error(tmp_path: Path) -> None:
    errors = Errors()
    touch(tmp_path / "ok" / "a.jpg")
    result = listings([tmp_path / "missing", tmp_path / "ok"], on_error=errors)
    assert [ls.path for ls in result] == [tmp_path / "ok"]
    assert [(p, type(e)) for p, e in errors.seen] == [(tmp_path / "missing", FileNotFoundError)]


def test_root_that_is_a_file_goes_to_on_error(tmp_path: Path) -> None:
    errors = Errors()
    touch(tmp_path / "f.jpg")
    assert listings([tmp_path / "f.jpg"], on_error=errors) == []
    assert isinstance(errors.seen[0][1], NotADirectoryError)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_folder_goes_to_on_error(tmp_path: Path) -> None:
    touch(tmp_path / "locked" / "a.jpg")
    touch(tmp_path / "b.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        errors = Errors()
        assert tree(tmp_path, on_error=errors) == {".": ["b.jpg"]}
        assert [type(e) for _, e in errors.seen] == [PermissionError]
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_default_on_error_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    listings([tmp_path / "missing"])
    assert "missing" in caplog.text


# --- awkward names and shapes ----------------------------------------------------------------


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="needs a bytes-name file system")
def test_name_that_is_not_utf8(tmp_path: Path) -> None:
    bad = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    fd = os.open(bad, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"abc")
    os.close(fd)
    (ls,) = listings(tmp_path)
    (f,) = ls.files
    assert os.fsencode(f.name) == b"caf\xe9.jpg"
    path = ls.path / f.name
    assert path.read_bytes() == b"abc"  # the str name round-trips to the same bytes
    assert f.size == 3 and f.ino == os.stat(bad).st_ino


def test_very_deep_tree(tmp_path: Path) -> None:
    depth = 600
    deep = Path(os.path.join(tmp_path, *(["d"] * depth)))
    deep.mkdir(parents=True)
    touch(deep / "bottom.jpg")
    touch(tmp_path / "top.jpg")
    result = listings(tmp_path)
    assert [ls.path for ls in result] == [tmp_path, deep]


def test_255_byte_names(tmp_path: Path) -> None:
    ascii_name = "a" * 251 + ".jpg"
    utf8_name = "é" * 125 + "a.jpg"  # 2-byte characters, 255 bytes in all
    assert len(ascii_name.encode()) == len(utf8_name.encode()) == 255
    touch(tmp_path / ascii_name)
    touch(tmp_path / utf8_name)
    assert sorted(tree(tmp_path)["."]) == sorted([ascii_name, utf8_name])


def test_sparse_file_is_not_a_placeholder(tmp_path: Path) -> None:
    with open(tmp_path / "sparse.mp4", "wb") as f:
        f.truncate(10 << 20)
    (ls,) = listings(tmp_path)
    assert ls.files[0].size == 10 << 20
    assert ls.files[0].is_placeholder is False


# --- one folder's candidates, links to files -----------------------------------------------


def test_only_candidates_are_listed(tmp_path: Path) -> None:
    ok = touch(tmp_path / "sub" / "a.jpg", b"123")
    for rel in ["private/b.jpg", "c.png", "@eaDir/d.jpg", ".hidden/e.jpg", "f.txt", "._g.jpg"]:
        touch(tmp_path / rel)
    (tmp_path / "dir.jpg").mkdir()
    (listed,) = listings(tmp_path, ["private", "*.png"])
    assert listed.path == ok.parent
    (got,) = listed.files
    assert (got.name, got.size, got.ino) == ("a.jpg", 3, ok.stat().st_ino)


def test_links_to_files(tmp_path: Path) -> None:
    target = touch(tmp_path / "t.jpg", b"12")
    (tmp_path / "l.jpg").symlink_to(target)
    assert tree(tmp_path) == {".": ["t.jpg"]}
    (ls,) = listings(tmp_path, follow_symlinks=True)
    assert sorted((f.name, f.size) for f in ls.files) == [("l.jpg", 2), ("t.jpg", 2)]


# --- change detection (pure) -----------------------------------------------------------------


def fs(size: int = 10, mtime_ns: int = 1_000, ino: int = 7) -> FileStat:
    return FileStat("a.jpg", size, mtime_ns, ino, 1, mtime_ns, None, False)


def test_needs_hash_order() -> None:
    known = fs()  # the record's (size, mtime_ns, ino)
    assert change_reason(fs(), None) == "new"
    assert change_reason(fs(size=11, mtime_ns=2, ino=8), known) == "size"
    assert change_reason(fs(mtime_ns=2, ino=8), known) == "mtime"
    assert change_reason(fs(ino=8), known) == "inode"
    assert change_reason(fs(), known) is None
    assert needs_hash(fs(), None)
    assert not needs_hash(fs(), known)
    assert needs_hash(fs(mtime_ns=1_001), known)  # exact by default


def test_needs_hash_accepts_any_known_file_shape() -> None:
    assert not needs_hash(fs(), fs())  # a FileStat is a KnownFile too


def test_unknown_inode_is_not_compared() -> None:
    assert not needs_hash(fs(ino=0), fs())
    assert not needs_hash(fs(ino=7), fs(ino=0))


def test_placeholder_and_birthtime_from_platform_fields() -> None:
    plain = SimpleNamespace()
    assert not is_placeholder(plain)  # type: ignore[arg-type]
    assert birthtime_ns(plain) is None  # type: ignore[arg-type]
    assert is_placeholder(SimpleNamespace(st_flags=0x40000000))  # type: ignore[arg-type]
    assert not is_placeholder(SimpleNamespace(st_flags=0x20))  # type: ignore[arg-type]
    for attr in (0x1000, 0x40000, 0x400000):
        assert is_placeholder(SimpleNamespace(st_file_attributes=attr | 0x20))  # type: ignore[arg-type]
    assert not is_placeholder(SimpleNamespace(st_file_attributes=0x20))  # type: ignore[arg-type]
    assert birthtime_ns(SimpleNamespace(st_birthtime=1.5)) == 1_500_000_000  # type: ignore[arg-type]
    assert birthtime_ns(SimpleNamespace(st_birthtime_ns=7, st_birthtime=9.0)) == 7  # type: ignore[arg-type]


def test_filestat_from_stat_result(tmp_path: Path) -> None:
    p = touch(tmp_path / "a.jpg", b"1234")
    st = os.stat(p)
    f = FileStat.from_stat_result("a.jpg", st)
    assert (f.size, f.mtime_ns, f.ino) == (4, st.st_mtime_ns, st.st_ino)
    assert f.birthtime_ns == (birthtime_ns(st))
    with pytest.raises(AttributeError):
        f.size = 5  # type: ignore[misc]


def test_link_into_another_root_is_left_to_that_root(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    touch(a / "x.jpg")
    touch(b / "y.jpg")
    (a / "to_b").symlink_to(b)
    result = listings([a, b], follow_symlinks=True)
    assert sorted((ls.path, ls.root) for ls in result) == [(a, a), (b, b)]


def test_same_root_named_twice_through_a_link(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "x.jpg")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    for follow in (False, True):
        result = listings([tmp_path / "real", tmp_path / "alias"], follow_symlinks=follow)
        assert [f.name for ls in result for f in ls.files] == ["x.jpg"]


def test_followed_link_to_an_excluded_target_is_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "private" / "secret.jpg")
    touch(tmp_path / "pub" / "ok.jpg")
    (tmp_path / "pub" / "to_private").symlink_to(tmp_path / "private")
    (tmp_path / "pub" / "secret_link.jpg").symlink_to(tmp_path / "private" / "secret.jpg")
    result = tree(tmp_path, [str(tmp_path / "private")], follow_symlinks=True)
    assert result == {"pub": ["ok.jpg"]}


def test_the_walk_and_the_plan_share_one_change_rule(tmp_path) -> None:
    """The walk lists a file as unchanged exactly when ``changes.differs`` (the plan's
    rule) finds no change: an unknown inode (0, a network or Windows file system) is not
    compared, a moved size, mtime or known inode is a change."""
    for name in ("same.jpg", "ino0.jpg", "newino.jpg", "size.jpg", "mtime.jpg"):
        (tmp_path / name).write_bytes(b"\xff\xd8\xff" + name.encode())
    st = {p.name: p.stat() for p in tmp_path.iterdir()}

    def known(folder: str) -> dict[str, tuple[int, int, int]]:
        def t(n: str, size: int = 0, mtime: int = 0, ino: int | None = None):
            s = st[n]
            return (s.st_size + size, s.st_mtime_ns + mtime, s.st_ino if ino is None else ino)
        return {"same.jpg": t("same.jpg"), "ino0.jpg": t("ino0.jpg", ino=0),
                "newino.jpg": t("newino.jpg", ino=st["newino.jpg"].st_ino + 1),
                "size.jpg": t("size.jpg", size=1), "mtime.jpg": t("mtime.jpg", mtime=1)}

    (listing,) = list(walk(AlbumRules([tmp_path], []), MEDIA, known=known))
    assert sorted(listing.unchanged) == ["ino0.jpg", "same.jpg"]
    for name, k in known(str(tmp_path)).items():
        s = st[name]
        expected = name in listing.unchanged
        assert (differs(s.st_size, s.st_mtime_ns, s.st_ino, *k) is None) == expected
        assert (not needs_hash(fs(size=s.st_size, mtime_ns=s.st_mtime_ns, ino=s.st_ino),
                               fs(size=k[0], mtime_ns=k[1], ino=k[2]))) == expected


def test_a_live_photo_is_listed_whole_from_the_walks_own_stat(tmp_path: Path) -> None:
    """When one half of a live photo changed, the unchanged half is listed with it (the
    plan links the pair), built from the stat the walk took: no second stat. A folder
    where nothing changed lists both as unchanged and finds no pairs (a rescan's cost)."""
    for name in ("IMG_1.HEIC", "IMG_1.MOV", "IMG_2.HEIC"):
        touch(tmp_path / name, name.encode())
    st = {p.name: p.stat() for p in tmp_path.iterdir()}
    known = {n: (s.st_size, s.st_mtime_ns, s.st_ino) for n, s in st.items()}
    (same,) = listings(tmp_path, known=lambda folder: known)
    assert (same.files, sorted(same.unchanged), same.pairs) == (
        [], ["IMG_1.HEIC", "IMG_1.MOV", "IMG_2.HEIC"], {})

    known["IMG_1.HEIC"] = (1, 1, 1)  # the still was edited since its backup
    (listing,) = listings(tmp_path, known=lambda folder: known)
    assert [f.name for f in listing.files] == ["IMG_1.HEIC", "IMG_1.MOV"]
    assert (listing.unchanged, listing.partners) == (["IMG_2.HEIC"], ["IMG_1.MOV"])
    assert listing.pairs == {"IMG_1.HEIC": "IMG_1.MOV"}
    video = listing.files[1]
    assert (video.size, video.mtime_ns, video.ino, video.dev, video.ctime_ns) == (
        st["IMG_1.MOV"].st_size, st["IMG_1.MOV"].st_mtime_ns, st["IMG_1.MOV"].st_ino,
        st["IMG_1.MOV"].st_dev, st["IMG_1.MOV"].st_ctime_ns)
