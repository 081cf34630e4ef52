"""Album naming per include folder (issue 18): ``album: folder`` (the default), ``path``
(the folder path below the include folder, so same-named folders stay apart), a fixed
name, and ``none``; checked on the stand-in after a real ``once``, and in a dry run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .conftest import Setup, check_clean, server_albums, write_config


def photo(path: Path) -> str:
    """Write a small JPEG-looking file unique to its path; return its SHA-1 hex."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\xff\xd8\xff\xe0" + str(path).encode() * 50
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def naming_setup(tmp: Path, server) -> tuple[Setup, dict[str, set[str]], set[str]]:
    """Four include folders, one per naming; return the setup, the albums a backup must
    leave, and the checksums of the files that belong to no album."""
    by_path, phone, loose, plain = (tmp / n for n in ("archive", "phone", "loose", "plain"))
    expected: dict[str, set[str]] = {
        "2019/Rome": {photo(by_path / "2019" / "Rome" / "a.jpg")},
        "2020/Rome": {photo(by_path / "2020" / "Rome" / "b.jpg")},
        "archive": {photo(by_path / "top.jpg")},
        "Phone": {photo(phone / "DCIM" / "c.jpg"), photo(phone / "Camera" / "d.jpg")},
        "Rome": {photo(plain / "Trips" / "Rome" / "f.jpg")},
    }
    no_album = {photo(loose / "sub" / "e.jpg")}
    config = write_config(tmp, server, None, albums={"include": [
        {"path": str(by_path), "album": "path"},
        {"path": str(phone), "album": "Phone"},
        {"path": str(loose), "album": "none"},
        str(plain),
    ]})
    setup = Setup(tmp=tmp, lib=None, config=config, state_dir=tmp / "state")  # type: ignore[arg-type]
    return setup, expected, no_album


def test_path_fixed_and_no_album_per_include_folder(server, tmp_path):
    setup, expected, no_album = naming_setup(tmp_path, server)
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "5 albums would get files (5 new: 2019/Rome, 2020/Rome, Phone, Rome, archive)" \
        in dry.stdout, dry.stdout
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server_albums(server) == expected  # same-named Rome folders did not merge
    uploaded = {a.checksum_hex for a in server.state.assets.values()}
    assert uploaded == set().union(*expected.values()) | no_album
    # A second pass has nothing to add and creates no album twice.
    created = server.state.counters.created
    assert setup.run("once").returncode == 0
    assert server.state.counters.created == created
    assert server_albums(server) == expected
    check_clean(server)


def test_a_bad_album_value_is_one_line_at_its_key(server, tmp_path):
    setup, _, _ = naming_setup(tmp_path, server)
    config = json.loads(setup.config.read_text())
    config["albums"]["include"][0]["album"] = ["path"]
    config["albums"]["include"][1]["albun"] = "x"
    setup.config.write_text(json.dumps(config, indent=2))
    proc = setup.run("once")
    assert proc.returncode == 78, (proc.returncode, proc.stderr)
    assert "at 'albums.include[0].album': expected a string" in proc.stderr
    assert "at 'albums.include[1].albun': unknown key 'albun' (did you mean 'album'?)" \
        in proc.stderr
    assert server.state.assets == {}


def test_no_album_anywhere_needs_no_album_permissions(server, tmp_path):
    """Every include folder ``album: none`` (album_sync left on, its default): nothing
    goes into an album, so a key without album.read/album.create/albumAsset.create
    backs up. Check and once refused it (exit 77) for permissions no request used."""
    a, b = photo(tmp_path / "phone" / "a.jpg"), photo(tmp_path / "scans" / "1990" / "b.jpg")
    key = server.state.create_api_key(server.user.id, ["asset.upload", "asset.read",
                                                       "user.read", "asset.update"])
    config = write_config(tmp_path, server, None, api_key=key, albums={"include": [
        {"path": str(tmp_path / "phone"), "album": "none"},
        {"path": str(tmp_path / "scans"), "album": None}]})
    setup = Setup(tmp=tmp_path, lib=None, config=config, state_dir=tmp_path / "state")  # type: ignore[arg-type]
    for args in (("check",), ("once", "--dry-run"), ("once",)):
        proc = setup.run(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "lacks the permission" not in proc.stdout + proc.stderr
    assert {x.checksum_hex for x in server.state.assets.values()} == {a, b}
    assert server_albums(server) == {}
    # One folder that makes albums: the key must allow them again, said before a pass.
    data = json.loads(config.read_text())
    data["albums"]["include"][1]["album"] = "Scans"
    config.write_text(json.dumps(data))
    proc = setup.run("once")
    assert proc.returncode == 77 and "album.create" in proc.stderr, proc.stderr
