"""Sidecars (``.xmp``) added or changed after their photo was uploaded: Immich takes a
sidecar only with the upload, so they are reported (status, status --json, failed), never
sent, and never shown as backed up with a ✓."""

from __future__ import annotations

import os

from immich_standin.library import XMP, touch_later

from .conftest import server_assets

CHANGED = b"<x:xmpmeta><!-- rating 5 --></x:xmpmeta>\n"


def test_a_sidecar_added_or_changed_after_the_upload_is_reported_not_claimed(
        server, make_setup):
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    first = setup.json("status")
    assert first["sidecars_changed_after_upload"] == 0
    assert first["state"] == "complete"
    created = server.state.counters.created

    holiday = setup.tmp / "lib" / "Pictures" / "2024" / "Holiday"
    edited = holiday / "IMG_3001.jpg.xmp"  # x.jpg.xmp spelling: new content
    edited.write_bytes(CHANGED)
    touch_later(holiday / "IMG_3002.xmp")  # x.xmp spelling: only its time moves
    (holiday / "IMG_1000.jpg.xmp").write_bytes(CHANGED)  # added later, both spellings
    (holiday / "IMG_1001.xmp").write_bytes(CHANGED)
    late = {holiday / n for n in ("IMG_3001.jpg", "IMG_3002.jpg", "IMG_1000.jpg",
                                  "IMG_1001.jpg")}

    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.counters.created == created  # nothing was sent again
    assert "sidecar was added or changed after the upload" in proc.stderr
    assert "✓" not in proc.stdout  # the photos are up, their sidecars are not
    assert "4 photos have a sidecar (.xmp) added or changed" in proc.stdout
    status = setup.json("status")
    assert status["sidecars_changed_after_upload"] == len(late)
    assert status["state"] == "sidecars"
    assert not status["headline"].startswith("✓")
    assert status["backed_up"] == status["total"]  # the photos themselves are there
    text = setup.run("status").stdout
    assert "4 photos have a sidecar (.xmp) added or changed after their upload" in text
    assert "✓ Backup complete" not in text
    listed = setup.run("failed").stdout
    for path in late:
        assert str(path).replace(str(setup.tmp), "") in listed, listed
    assert "Immich takes a sidecar only with the upload" in listed
    # The server still has what went up with the upload.
    assets = server_assets(server)
    assert assets[setup.lib.sha1_of(holiday / "IMG_3001.jpg")].sidecar == XMP

    # Reported once in the log, counted every time after.
    again = setup.run("once")
    assert again.returncode == 0, again.stderr
    assert "sidecar was added or changed" not in again.stderr
    assert setup.json("status")["sidecars_changed_after_upload"] == len(late)

    # A photo edited since goes up again, with its sidecar of now: no longer late.
    photo = holiday / "IMG_3001.jpg"
    photo.write_bytes(photo.read_bytes() + b"edited")
    touch_later(photo, 60)
    assert setup.run("once").returncode == 0
    assert server.state.counters.created == created + 1
    new = [a for a in server_assets(server).values() if a.sidecar == CHANGED]
    assert len(new) == 1
    after = setup.json("status")
    assert after["sidecars_changed_after_upload"] == len(late) - 1


def test_a_sidecar_back_as_it_went_up_is_no_longer_reported(server, make_setup):
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    side = setup.tmp / "lib" / "Pictures" / "2024" / "Holiday" / "IMG_3001.jpg.xmp"
    st = side.stat()
    side.write_bytes(CHANGED)
    assert setup.run("once").returncode == 0
    assert setup.json("status")["sidecars_changed_after_upload"] == 1
    side.write_bytes(XMP)  # a sync tool restored it, time and all
    os.utime(side, ns=(st.st_atime_ns, st.st_mtime_ns))
    proc = setup.run("once")
    assert proc.returncode == 0
    assert "✓ Backup complete" in proc.stdout and "sidecar" not in proc.stdout
    status = setup.json("status")
    assert status["sidecars_changed_after_upload"] == 0
    assert status["state"] == "complete"


def test_deleted_in_immich_and_retried_goes_up_with_the_sidecar_of_now(server, make_setup):
    """What docs/later-edits.md advises when the sidecar matters more than the asset."""
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    holiday = setup.tmp / "lib" / "Pictures" / "2024" / "Holiday"
    (holiday / "IMG_3001.jpg.xmp").write_bytes(CHANGED)
    assert setup.run("once").returncode == 0
    assert setup.json("status")["sidecars_changed_after_upload"] == 1
    asset = server_assets(server)[setup.lib.sha1_of(holiday / "IMG_3001.jpg")]
    server.state.delete_asset(asset.id)
    assert setup.run("verify").returncode == 0
    assert setup.run("retry", "--deleted").returncode == 0
    assert setup.run("once").returncode == 0
    again = server_assets(server)[setup.lib.sha1_of(holiday / "IMG_3001.jpg")]
    assert again.id != asset.id and again.sidecar == CHANGED
    status = setup.json("status")
    assert status["sidecars_changed_after_upload"] == 0
    assert status["state"] == "complete"


def test_the_daemon_notices_a_sidecar_edited_after_the_upload(server, make_setup, tmp_path):
    from .test_daemon import start_backed_up, wait_until

    setup = make_setup(server, trigger_delay="300ms")
    d = start_backed_up(setup, server, tmp_path)
    try:
        created = server.state.counters.created
        side = setup.lib.include[0] / "2024" / "Holiday" / "IMG_3001.jpg.xmp"
        side.write_bytes(CHANGED)  # inotify sees it: a pass of that folder follows
        wait_until(lambda: setup.json("status")["sidecars_changed_after_upload"] == 1, 20,
                   "the edited sidecar to be reported")
        assert server.state.counters.created == created
    finally:
        code = d.stop()
    assert code == 0, d.stderr()


def test_a_live_photos_shared_sidecar_counts_once(server, make_setup):
    """``IMG.xmp`` beside ``IMG.HEIC`` and ``IMG.MOV`` goes up with both; edited later,
    it is one photo (the still; the video is hidden behind it), not two."""
    setup = make_setup(server)
    still, video = setup.lib.live_pairs[0]
    side = still.with_suffix(".xmp")
    side.write_bytes(XMP)
    os.utime(side, (still.stat().st_mtime,) * 2)
    assert setup.run("once").returncode == 0
    assets = server_assets(server)
    assert assets[setup.lib.sha1_of(still)].sidecar == XMP
    assert assets[setup.lib.sha1_of(video)].sidecar == XMP
    side.write_bytes(CHANGED)
    assert setup.run("once").returncode == 0
    assert setup.json("status")["sidecars_changed_after_upload"] == 1
    assert str(still) in setup.run("failed", "--wide").stdout


def test_a_late_sidecar_removed_from_a_folder_left_without_sidecars_is_no_longer_reported(
        server, make_setup):
    """The scan compares the sidecars of folders that have some; a folder whose only
    sidecar was late and is then deleted has none, and is compared all the same."""
    setup = make_setup(server)
    folder = setup.tmp / "lib" / "Pictures" / "2025" / "Lone"
    folder.mkdir(parents=True)
    (folder / "IMG_5000.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(400))
    os.utime(folder / "IMG_5000.jpg", (1_700_000_000, 1_700_000_000))
    assert setup.run("once").returncode == 0
    (folder / "IMG_5000.xmp").write_bytes(CHANGED)
    assert setup.run("once").returncode == 0
    assert setup.json("status")["sidecars_changed_after_upload"] == 1

    (folder / "IMG_5000.xmp").unlink()  # nothing left to send: nothing to report
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    status = setup.json("status")
    assert status["sidecars_changed_after_upload"] == 0
    assert status["state"] == "complete" and status["headline"].startswith("✓")
