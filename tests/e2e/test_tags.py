"""Tags per include folder (issue 18): ``tags`` and ``folder_as_tags`` on the stand-in for
a nested tree, also on a file the server had already, and re-set in a later pass when
the server lost them (as real servers do right after an upload)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Setup, check_clean, server_albums, write_config
from .test_stacks import photo


def tags_on(server) -> dict[str, set[str]]:
    """Checksum → the tag paths its asset has."""
    with server.state.lock:
        return {a.checksum_hex: {server.state.tags[t].value for t in a.tag_ids}
                for a in server.state.assets.values()}


def tag_setup(tmp: Path, server) -> tuple[Setup, Path]:
    lib = tmp / "lib"
    lib.mkdir()
    config = write_config(tmp, server, None, albums={"include": [
        {"path": str(lib), "album": "path", "tags": ["Family", "Old/Scans"],
         "folder_as_tags": True}]})
    return Setup(tmp=tmp, lib=None, config=config, state_dir=tmp / "state"), lib  # type: ignore[arg-type]


def once(setup: Setup) -> None:
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr


def test_tags_land_on_a_nested_tree_and_lost_ones_are_set_again(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)
    rome = photo(lib / "Trips" / "2024" / "Rome" / "a.jpg")
    top = photo(lib / "top.jpg")
    # A live photo: its video goes up hidden, and a search leaves hidden assets out
    # unless asked for them; its tags must still be seen to hold.
    still, video = photo(lib / "Trips" / "IMG_2001.HEIC"), photo(lib / "Trips" / "IMG_2001.MOV")
    known = photo(lib / "Trips" / "2024" / "Rome" / "known.jpg")
    server.state.seed_asset(server.user.id, (lib / "Trips/2024/Rome/known.jpg").read_bytes(),
                            "known.jpg")
    expected = {rome: {"Family", "Old/Scans", "Trips/2024/Rome"},
                known: {"Family", "Old/Scans", "Trips/2024/Rome"},
                top: {"Family", "Old/Scans"},
                still: {"Family", "Old/Scans", "Trips"}, video: {"Family", "Old/Scans", "Trips"}}
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert ("Tags it would set: Family (5), Old/Scans (5), Trips (2), Trips/2024/Rome (2)."
            in dry.stdout), dry.stdout
    server.state.tags_to_lose = 2  # the server's jobs take two of the first pass's away
    once(setup)
    first = tags_on(server)
    assert sum(len(t) for t in first.values()) == sum(len(t) for t in expected.values()) - 2
    assert server_albums(server) == {"Trips/2024/Rome": {rome, known}, "lib": {top},
                                     "Trips": {still}}
    assert {a.visibility for a in server.state.assets.values()} == {"timeline", "hidden"}
    once(setup)  # nothing changed on disk: the read-back finds the lost tags, sets them
    assert tags_on(server) == expected
    requests = server.state.counters.tag_requests
    once(setup)  # all hold: read back again, nothing set
    assert server.state.counters.tag_requests == requests
    assert tags_on(server) == expected
    values = {t.value for t in server.state.tags.values()}
    assert values == {"Family", "Old", "Old/Scans", "Trips", "Trips/2024", "Trips/2024/Rome"}
    check_clean(server)


def test_a_key_without_tag_permissions_backs_up_untagged_and_says_why(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)
    key = server.state.create_api_key(server.user.id, [
        "asset.upload", "asset.read", "user.read", "album.read", "album.create",
        "albumAsset.create", "asset.update", "stack.create"])
    (tmp_path / "api-key").write_text(key + "\n")
    photo(lib / "Trips" / "a.jpg")
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert len(server.state.assets) == 1 and server.state.tags == {}
    assert proc.stderr.count("no tags: the API key lacks a permission") == 1, proc.stderr


def test_tags_added_to_a_folder_backed_up_before_reach_its_old_files(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)
    config = json.loads(setup.config.read_text())
    entry = config["albums"]["include"][0]
    config["albums"]["include"] = [entry["path"]]  # first without tags
    setup.config.write_text(json.dumps(config))
    old = photo(lib / "Trips" / "old.jpg")
    other = photo(tmp_path / "elsewhere" / "x.jpg")
    config["albums"]["include"].append(str(tmp_path / "elsewhere"))
    setup.config.write_text(json.dumps(config))
    once(setup)
    assert tags_on(server) == {old: set(), other: set()}
    config["albums"]["include"][0] = entry  # now with tags, nothing changed on disk
    setup.config.write_text(json.dumps(config))
    once(setup)
    assert tags_on(server) == {old: {"Family", "Old/Scans", "Trips"}, other: set()}
    requests = server.state.counters.tag_requests
    once(setup)  # the same settings: nothing to add, everything held
    assert server.state.counters.tag_requests == requests
