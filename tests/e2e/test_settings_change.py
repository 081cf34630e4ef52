"""The per-folder settings changed after files were backed up (issue 18), on the
stand-in: a tag taken out of the config comes off what this client tagged, converging
as a tag set does (the server's jobs can put one back), while tags set by hand stay; a
tag put back is set again; a changed ``album:`` adds the files backed up before to the
album they belong in now and leaves the old album as it is."""

from __future__ import annotations

import json
import sqlite3

from immich_backupd.state.schema import DB_NAME

from .conftest import Setup, check_clean, server_albums, write_config
from .test_album_naming import photo
from .test_tags import once, tag_setup, tags_on, ten_minutes_pass


def set_include(setup: Setup, entry: dict | str) -> None:
    config = json.loads(setup.config.read_text())
    config["albums"]["include"] = [entry]
    setup.config.write_text(json.dumps(config))


def removals_left(setup: Setup) -> int:
    with sqlite3.connect(setup.state_dir / DB_NAME) as db:
        return db.execute("SELECT count(*) FROM tag_removals").fetchone()[0]


def test_a_tag_out_of_the_config_comes_off_what_this_client_tagged(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)  # Family, Old/Scans and the folder path
    rome, top = photo(lib / "Trips" / "2024" / "Rome" / "a.jpg"), photo(lib / "top.jpg")
    known = photo(lib / "Trips" / "known.jpg")
    user = server.user.id
    with server.state.lock:  # on the server before, tagged Family by the user
        seeded = server.state.seed_asset(user, (lib / "Trips/known.jpg").read_bytes(),
                                         "known.jpg")
        seeded.tag_ids.add(server.state.upsert_tag(user, "Family").id)
    once(setup)
    assert tags_on(server) == {rome: {"Family", "Old/Scans", "Trips/2024/Rome"},
                               top: {"Family", "Old/Scans"},
                               known: {"Family", "Old/Scans", "Trips"}}
    with server.state.lock:  # the user tags one by hand after the backup
        asset = next(a for a in server.state.assets.values() if a.checksum_hex == rome)
        asset.tag_ids.add(server.state.upsert_tag(user, "Best").id)
    set_include(setup, {"path": str(lib), "album": "path", "tags": ["Old/Scans"]})
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert ("Tags it would take off the files it set them on: Family (2), Trips (1), "
            "Trips/2024/Rome (1).") in dry.stdout, dry.stdout
    server.state.untags_to_undo = 1  # the server's jobs put one removal back
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("tags this client set are no longer in the config") == 1
    expected = {rome: {"Old/Scans", "Best"}, top: {"Old/Scans"},
                known: {"Family", "Old/Scans"}}  # Family was the user's there: it stays
    after = tags_on(server)
    assert all(expected[k] <= after[k] for k in expected)
    assert sum(len(after[k] - expected[k]) for k in expected) == 1  # the one put back
    untags = server.state.counters.untag_requests
    once(setup)  # too soon to ask again
    assert server.state.counters.untag_requests == untags
    ten_minutes_pass(setup)
    once(setup)  # the check: the one put back comes off again, the others were gone
    assert tags_on(server) == expected
    assert removals_left(setup) == 1  # the one taken off again: checked once more
    ten_minutes_pass(setup)
    once(setup)
    assert removals_left(setup) == 0 and tags_on(server) == expected
    untags, tags = server.state.counters.untag_requests, server.state.counters.tag_requests
    ten_minutes_pass(setup)
    once(setup)  # done: nothing more is sent either way
    assert server.state.counters.untag_requests == untags
    assert server.state.counters.tag_requests == tags
    # The tags themselves stay on the server, also the ones no asset has any more.
    assert {t.value for t in server.state.tags.values()} >= {"Family", "Trips/2024/Rome"}
    check_clean(server)


def test_tags_turned_off_for_every_folder_still_come_off(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)
    a = photo(lib / "Trips" / "a.jpg")
    once(setup)
    assert tags_on(server) == {a: {"Family", "Old/Scans", "Trips"}}
    set_include(setup, str(lib))  # no tags anywhere now
    once(setup)
    assert tags_on(server) == {a: set()}


def test_a_tag_taken_out_and_put_back_is_this_clients_again(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)
    entry = json.loads(setup.config.read_text())["albums"]["include"][0]
    a, b = photo(lib / "Trips" / "a.jpg"), photo(lib / "Trips" / "b.jpg")
    once(setup)
    set_include(setup, {**entry, "tags": ["Old/Scans"]})
    server.state.untags_to_undo = 1  # one removal is put back by the server's jobs
    once(setup)
    after = tags_on(server)
    assert sorted("Family" in t for t in after.values()) == [False, True]
    set_include(setup, entry)  # Family back: set again where it came off
    once(setup)
    assert tags_on(server) == {a: {"Family", "Old/Scans", "Trips"},
                               b: {"Family", "Old/Scans", "Trips"}}
    assert removals_left(setup) == 0
    untags = server.state.counters.untag_requests
    ten_minutes_pass(setup)
    once(setup)  # nothing left to take off: the one put back is wanted again
    assert server.state.counters.untag_requests == untags
    # And out again: both come off, also the one put back, which is still this client's.
    set_include(setup, {**entry, "tags": ["Old/Scans"]})
    once(setup)
    assert tags_on(server) == {a: {"Old/Scans", "Trips"}, b: {"Old/Scans", "Trips"}}


def test_a_changed_album_adds_files_backed_up_before_and_leaves_the_old_album(
        server, tmp_path):
    lib = tmp_path / "lib"
    a, b = photo(lib / "2019" / "Rome" / "a.jpg"), photo(lib / "2020" / "Rome" / "b.jpg")
    top = photo(lib / "top.jpg")
    # A live photo: its video goes up hidden and in no album, also after the change.
    still, _ = photo(lib / "2019" / "IMG_1.HEIC"), photo(lib / "2019" / "IMG_1.MOV")
    config = write_config(tmp_path, server, None, albums={"include": [str(lib)]})
    setup = Setup(tmp=tmp_path, lib=None, config=config, state_dir=tmp_path / "state")  # type: ignore[arg-type]
    once(setup)
    before = {"Rome": {a, b}, "lib": {top}, "2019": {still}}
    assert server_albums(server) == before
    set_include(setup, {"path": str(lib), "album": "path"})
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert ("Files backed up before it would add to the album they belong in now (the "
            "albums they are in stay as they are): 2019/Rome (1), 2020/Rome (1).") \
        in dry.stdout, dry.stdout
    assert "It would create the albums 2019/Rome, 2020/Rome for them." in dry.stdout
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("the albums they were in are left as they are") == 1
    by_path = {**before, "2019/Rome": {a}, "2020/Rome": {b}}
    assert server_albums(server) == by_path  # Rome keeps both: the user may curate it
    set_include(setup, {"path": str(lib), "album": "Phone"})
    dry = setup.run("once", "--dry-run")
    assert "It would create the album Phone for them." in dry.stdout, dry.stdout
    once(setup)
    assert server_albums(server) == {**by_path, "Phone": {a, b, top, still}}
    set_include(setup, {"path": str(lib), "album": "none"})
    dry = setup.run("once", "--dry-run")
    assert "albums they belong in now" not in dry.stdout, dry.stdout
    requests = len(server.state.requests)
    once(setup)
    assert server_albums(server) == {**by_path, "Phone": {a, b, top, still}}
    assert not [r for r in server.state.requests[requests:] if "/albums" in r.path
                and r.method != "GET"]  # album: none adds nothing
    check_clean(server)


def test_a_tag_the_user_deleted_is_not_made_again_to_take_it_off(server, tmp_path):
    setup, lib = tag_setup(tmp_path, server)
    entry = json.loads(setup.config.read_text())["albums"]["include"][0]
    a = photo(lib / "Trips" / "a.jpg")
    once(setup)
    with server.state.lock:  # the user deletes the tag Family in Immich
        (family,) = [t.id for t in server.state.tags.values() if t.value == "Family"]
        del server.state.tags[family]
        for asset in server.state.assets.values():
            asset.tag_ids.discard(family)
    set_include(setup, {**entry, "tags": ["Old/Scans"]})
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "tag 'Family' is no longer on the server" in proc.stderr, proc.stderr
    assert "Family" not in {t.value for t in server.state.tags.values()}
    assert tags_on(server) == {a: {"Old/Scans", "Trips"}} and removals_left(setup) == 0
