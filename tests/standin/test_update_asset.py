"""PUT /assets/{id}: linking a live photo's video to its still afterwards (v3 and v2)."""

from __future__ import annotations


async def test_link_hides_the_video_and_answers_the_asset(api):
    await _link_and_unlink(api)


async def test_link_on_v2_too(api2):
    await _link_and_unlink(api2)


async def _link_and_unlink(api):
    srv = api.srv
    still = srv.state.seed_asset(srv.user.id, b"still", "IMG_1.jpg")
    video = srv.state.seed_asset(srv.user.id, b"motion", "IMG_1.mov")
    assert video.visibility == "timeline"
    path = f"/assets/{still.id}"
    status, body, _ = await api.call("PUT", path, json={"livePhotoVideoId": video.id})
    assert status == 200, body
    api.check_response("PUT", path, status, body)
    assert body["livePhotoVideoId"] == video.id
    assert (still.live_photo_video_id, video.visibility) == (video.id, "hidden")
    status, body, _ = await api.call("PUT", path, json={"livePhotoVideoId": None})
    assert status == 200 and body["livePhotoVideoId"] is None
    assert (still.live_photo_video_id, video.visibility) == (None, "timeline")
    assert srv.state.counters.updates == 2
    assert srv.state.violations == []


async def test_link_refusals_are_the_real_servers(api, srv):
    still = srv.state.seed_asset(srv.user.id, b"still", "IMG_1.jpg")
    other = srv.state.seed_asset(srv.user.id, b"other", "IMG_2.jpg")
    path = f"/assets/{still.id}"
    status, body, _ = await api.call("PUT", path, json={"livePhotoVideoId": other.id})
    assert (status, body["message"]) == (400, "Live photo video must be a video")
    unknown = "0b9a4c1e-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
    status, body, _ = await api.call("PUT", path, json={"livePhotoVideoId": unknown})
    assert (status, body["message"]) == (400, "Live photo video not found")
    status, body, _ = await api.call("PUT", f"/assets/{unknown}",
                                     json={"livePhotoVideoId": None})
    assert (status, body["message"]) == (400, "Not found or no asset.update access")
    assert still.live_photo_video_id is None


async def test_link_needs_the_asset_update_permission(api, srv):
    still = srv.state.seed_asset(srv.user.id, b"still", "IMG_1.jpg")
    video = srv.state.seed_asset(srv.user.id, b"motion", "IMG_1.mov")
    key = srv.state.create_api_key(srv.user.id, permissions=["asset.upload"])
    status, body, _ = await api.call("PUT", f"/assets/{still.id}", key=key,
                                     json={"livePhotoVideoId": video.id})
    assert (status, body["message"]) == (403, "Missing required permission: asset.update")
    assert still.live_photo_video_id is None and video.visibility == "timeline"
