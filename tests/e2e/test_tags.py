"""Tags per include folder (issue 18): ``tags`` and ``folder_as_tags`` on the stand-in for
a nested tree, also on a file the server had already, and re-set in a later pass when
the server lost them (as real servers do right after an upload)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from immich_backupd.state.schema import DB_NAME

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


def ten_minutes_pass(setup: Setup) -> None:
    """Age what the state says was set (or taken off), as if the server's jobs had had
    their time since: a tag that held by then is done."""
    with sqlite3.connect(setup.state_dir / DB_NAME) as db:
        db.execute("UPDATE asset_tags SET set_at = set_at - 600")
        db.execute("UPDATE tag_removals SET removed_at = removed_at - 600")


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
    dry = setup.run("once", "--dry-run")  # it would set them all again: the check
    assert ("Tags it set before and would set again, as the check that they held (the "
            "server can lose a tag set after an upload): Family (5), Old/Scans (5), "
            "Trips (2), Trips/2024/Rome (2).") in dry.stdout, dry.stdout
    first = tags_on(server)
    assert sum(len(t) for t in first.values()) == sum(len(t) for t in expected.values()) - 2
    assert server_albums(server) == {"Trips/2024/Rome": {rome, known}, "lib": {top},
                                     "Trips": {still}}
    assert {a.visibility for a in server.state.assets.values()} == {"timeline", "hidden"}
    once(setup)  # nothing changed on disk: the read-back finds the lost tags, sets them
    assert tags_on(server) == expected
    made = server.state.counters.tags_made
    once(setup)  # all hold: checked again (each answered "had it"), nothing made
    assert server.state.counters.tags_made == made
    assert tags_on(server) == expected
    ten_minutes_pass(setup)
    once(setup)  # held long enough: done
    requests = server.state.counters.tag_requests
    once(setup)  # nothing is sent any more
    assert server.state.counters.tag_requests == requests
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
    dry = setup.run("once", "--dry-run")
    assert ("Tags it would add to files backed up before: Family (1), Old/Scans (1), "
            "Trips (1).") in dry.stdout, dry.stdout
    assert "would set again" not in dry.stdout
    once(setup)
    assert tags_on(server) == {old: {"Family", "Old/Scans", "Trips"}, other: set()}
    made = server.state.counters.tags_made
    once(setup)  # the same settings: nothing to add, everything held
    assert server.state.counters.tags_made == made


def test_a_lost_tag_is_set_again_also_when_a_tag_below_it_held(server, tmp_path):
    """A search by a tag finds the assets of the tags below it too (the real server's
    ``tag_closure``): a lost ``Old`` on a file that kept ``Old/Scans`` must not count as
    seen."""
    lib = tmp_path / "lib"
    config = write_config(tmp_path, server, None, albums={"include": [
        {"path": str(lib), "tags": ["Old"], "folder_as_tags": True}]})
    setup = Setup(tmp=tmp_path, lib=None, config=config, state_dir=tmp_path / "state")  # type: ignore[arg-type]
    scan = photo(lib / "Old" / "Scans" / "a.jpg")
    server.state.tags_to_lose = 1  # the first pair set, Old, is taken away again
    once(setup)
    assert tags_on(server) == {scan: {"Old/Scans"}}
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert tags_on(server) == {scan: {"Old", "Old/Scans"}}
    assert "set 1 tag; checked again" in proc.stderr, proc.stderr  # not "1 tags"


def test_a_renamed_folder_s_files_follow_it_with_their_folder_tag(server, tmp_path):
    """A folder renamed on disk: its files (same content, moved) lose the folder-path tag
    this client set from the old name and get the new one, in the same pass, without
    any settings change; a copy elsewhere keeps the tag of the folder it is still in."""
    setup, lib = tag_setup(tmp_path, server)
    a = photo(lib / "Trips" / "2024" / "a.jpg")
    b = photo(lib / "Scans" / "b.jpg")
    once(setup)
    assert tags_on(server) == {a: {"Family", "Old/Scans", "Trips/2024"},
                               b: {"Family", "Old/Scans", "Scans"}}
    (lib / "Trips").rename(lib / "Travel")
    shutil.copy2(lib / "Scans" / "b.jpg", lib / "b.jpg")  # b in two folders now
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert tags_on(server) == {a: {"Family", "Old/Scans", "Travel/2024"},
                               b: {"Family", "Old/Scans", "Scans"}}
    assert "1 tag this client set on files now in another folder come off" in proc.stderr
