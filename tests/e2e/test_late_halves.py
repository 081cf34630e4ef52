"""Live photos whose halves arrive apart (sync tools write them in either order)."""

from __future__ import annotations

import hashlib
import shutil

from immich_standin import StandinServer

from .conftest import server_albums, server_assets

PERMISSIONS_WITHOUT_UPDATE = ["asset.upload", "user.read", "album.read", "album.create",
                              "albumAsset.create"]


def _set_aside(setup, index: int) -> list:
    """Move one half of every live pair out of the library; return (half, kept) paths."""
    aside = setup.tmp / "aside"
    aside.mkdir(exist_ok=True)
    moved = []
    for pair in setup.lib.live_pairs:
        half = pair[index]
        kept = aside / half.name
        half.rename(kept)
        moved.append((half, kept))
    return moved


def _bring_back(moved) -> None:
    for half, kept in moved:
        shutil.copy(kept, half)  # written now: a fresh file, as a sync tool writes it


def _assert_linked(srv: StandinServer, setup) -> None:
    assets = server_assets(srv)
    for still, video in setup.lib.live_pairs:
        s, v = assets[setup.lib.sha1_of(still)], assets[setup.lib.sha1_of(video)]
        assert s.live_photo_video_id == v.id, still
        assert v.visibility == "hidden" and s.visibility == "timeline"


def test_a_video_after_its_still_is_uploaded_and_linked(server, make_setup):
    setup = make_setup(server)
    assert setup.lib.live_pairs
    moved = _set_aside(setup, 1)
    assert setup.run("once").returncode == 0
    assets = server_assets(server)
    for still, _ in setup.lib.live_pairs:
        assert assets[setup.lib.sha1_of(still)].live_photo_video_id is None

    _bring_back(moved)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    _assert_linked(server, setup)
    assert server.state.counters.updates == len(setup.lib.live_pairs)
    assert "linked" in proc.stderr
    status = setup.json("status")
    assert status["backed_up"] == status["total"] == len(setup.lib.expected)
    # Nothing left to do: no second link, no upload.
    created = server.state.counters.created
    assert setup.run("once").returncode == 0
    assert (server.state.counters.created, server.state.counters.updates) == (
        created, len(setup.lib.live_pairs))


def test_a_still_after_its_video_is_linked_at_upload(server, make_setup):
    setup = make_setup(server)
    moved = _set_aside(setup, 0)
    assert setup.run("once").returncode == 0
    _bring_back(moved)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    _assert_linked(server, setup)
    assert server.state.counters.updates == 0  # linked by the still's upload itself


def test_a_video_in_an_album_leaves_it_when_its_still_comes_later(server, make_setup):
    """Backed up alone, the video went into its folder's album as an ordinary file; once
    its still links it as the live photo's hidden part it comes out again (this
    client's own addition), and status counts it in no album."""
    setup = make_setup(server)
    moved = _set_aside(setup, 0)
    videos = {setup.lib.sha1_of(v) for _, v in setup.lib.live_pairs}
    assert setup.run("once").returncode == 0
    assert videos <= set().union(*server_albums(server).values())
    before = sum(setup.json("status")["albums"].values())

    _bring_back(moved)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    _assert_linked(server, setup)
    assert not videos & set().union(*server_albums(server).values())
    stills = {setup.lib.sha1_of(s) for s, _ in setup.lib.live_pairs}
    assert stills <= set().union(*server_albums(server).values())
    assert "live photo video" in proc.stderr
    albums = setup.json("status")["albums"]
    assert sum(albums.values()) == before  # a still in, its video out
    in_albums = sum(len(a) for a in server_albums(server).values())
    assert sum(albums.values()) == in_albums
    # Done: the next pass sends no removal again.
    assert setup.run("once").returncode == 0
    assert not videos & set().union(*server_albums(server).values())


def test_without_asset_update_the_video_fails_with_why_then_links_on_retry(
        server, make_setup):
    limited = server.state.create_api_key(server.user.id, PERMISSIONS_WITHOUT_UPDATE)
    setup = make_setup(server, api_key=limited)
    moved = _set_aside(setup, 1)
    assert setup.run("once").returncode == 0
    _bring_back(moved)
    proc = setup.run("once")
    assert proc.returncode == 1, proc.stderr
    failed = setup.json("failed")
    assert {f["path"] for f in failed} == {str(v) for _, v in setup.lib.live_pairs}
    assert all("asset.update" in f["reason"] for f in failed)
    status = setup.json("status")
    assert status["backed_up"] == len(setup.lib.expected) - len(setup.lib.live_pairs)

    (setup.tmp / "api-key").write_text(server.api_key + "\n")  # the key gets the right
    created = server.state.counters.created
    assert setup.run("retry", "--all").returncode == 0
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    _assert_linked(server, setup)
    assert server.state.counters.created == created  # the videos were up: only linked
    assert setup.json("failed") == []


def test_a_mov_after_its_jpg_is_linked_on_a_v2_server_too(make_setup):
    """The acceptance's own words (a ``.MOV`` added after its ``.JPG``), on the v2 line
    (``PUT /api/assets/{id}`` of the v2.7 spec), whose uploads need deviceAssetId."""
    from immich_standin.library import JPEG, MOV

    from .conftest import check_clean

    with StandinServer(version="2.7.0") as srv:
        setup = make_setup(srv)
        folder = setup.lib.include[0] / "2024" / "Holiday"
        still, video = folder / "IMG_5001.JPG", folder / "IMG_5001.MOV"
        still.write_bytes(JPEG + b"jpg-5001" + bytes(200))
        assert setup.run("once").returncode == 0
        video.write_bytes(MOV + b"mov-5001" + bytes(300))
        proc = setup.run("once")
        assert proc.returncode == 0, proc.stderr
        assets = server_assets(srv)
        s = assets[hashlib.sha1(still.read_bytes()).hexdigest()]
        v = assets[hashlib.sha1(video.read_bytes()).hexdigest()]
        assert s.live_photo_video_id == v.id and v.visibility == "hidden"
        assert srv.state.counters.updates == 1
        status = setup.json("status")
        assert status["backed_up"] == status["total"]
        check_clean(srv)
