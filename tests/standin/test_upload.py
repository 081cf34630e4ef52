"""POST /assets: answers, validation per version, quota, duplicates, quirks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import time

import aiohttp

DATE = "2024-05-01T12:00:00.000Z"


async def test_created_then_duplicate_with_the_same_id(api, srv):
    data = b"\xff\xd8 a jpeg"
    status, first, _ = await api.upload(data)
    assert status == 201 and first["status"] == "created"
    api.check_response("POST", "/assets", status, first)
    status, second, _ = await api.upload(data, filename="other-name.jpg")
    assert (status, second) == (200, {"id": first["id"], "status": "duplicate"})
    asset = srv.state.assets[first["id"]]
    assert asset.checksum_hex == hashlib.sha1(data).hexdigest()
    assert asset.size == len(data) and asset.type == "IMAGE"
    assert asset.original_file_name == "IMG_0001.jpg"
    assert asset.file_created_at == DATE
    c = srv.state.counters
    assert (c.upload_requests, c.created, c.duplicates) == (2, 1, 1)
    assert srv.state.violations == []


async def test_checksum_header_duplicate_answers_without_reading_the_body(srv):
    """The 200 arrives while the client is still sending; then the connection closes."""
    existing = srv.state.seed_asset(srv.user.id, b"known bytes", "known.jpg")
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.settimeout(5)
    head = (
        "POST /api/assets HTTP/1.1\r\nHost: x\r\n"
        f"x-api-key: {srv.api_key}\r\nx-immich-checksum: {existing.checksum_b64}\r\n"
        "Content-Type: multipart/form-data; boundary=BOUND\r\n"
        "Content-Length: 5000000000\r\n\r\n"
    )
    sock.sendall(head.encode() + b"--BOUND\r\n")
    answer = b""
    while b"duplicate" not in answer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the answer"
        answer += chunk
    text = answer.decode()
    assert text.startswith("HTTP/1.1 200") and "Connection: close" in text
    assert existing.id in text
    assert sock.recv(100) == b""  # end of stream: the server is not reading any more
    sent, error = 0, None
    try:
        for _ in range(500_000):
            sock.sendall(b"z" * 10_000)
            sent += 10_000
    except OSError as exc:
        error = exc
    sock.close()
    assert error is not None and sent < 5_000_000_000
    assert srv.state.counters.early_duplicates == 1


async def test_small_early_duplicate_reaches_an_aiohttp_client(api, srv):
    existing = srv.state.seed_asset(srv.user.id, b"tiny", "tiny.jpg")
    for _ in range(5):
        status, body, _ = await api.upload(b"tiny", checksum=api.sha1(b"tiny"))
        assert (status, body["id"]) == (200, existing.id)


async def test_aiohttp_client_gets_the_early_duplicate_answer(api, srv):
    big = b"b" * 20_000_000
    existing = srv.state.seed_asset(srv.user.id, big, "big.mov")
    status, body, _ = await api.upload(big, "big.mov", checksum=api.sha1(big))
    assert (status, body) == (200, {"id": existing.id, "status": "duplicate"})


async def test_wrong_checksum_header_is_trusted(api, srv):
    other = srv.state.seed_asset(srv.user.id, b"other", "o.jpg")
    status, body, _ = await api.upload(b"new bytes", checksum=other.checksum_hex)
    assert (status, body["id"]) == (200, other.id)


async def test_checksum_header_not_matching_the_bytes_is_a_violation(api, srv):
    status, _, _ = await api.upload(b"actual bytes", checksum=api.sha1(b"other bytes"))
    assert status == 201
    assert any("does not match" in v for v in srv.state.violations)
    status, _, _ = await api.upload(b"more bytes", checksum="xyz")
    assert status == 201
    assert any("neither 40 hex" in v for v in srv.state.violations)


async def test_empty_file_and_missing_file(api, srv):
    status, body, _ = await api.upload(b"")
    assert (status, body["message"]) == (400, "File is empty")
    data = aiohttp.FormData([("fileCreatedAt", DATE), ("fileModifiedAt", DATE)])
    data.add_field("x", b"y", filename="x.bin")  # force multipart
    status, body, _ = await api.call("POST", "/assets", data=data)
    assert (status, body["message"]) == (400, "File is required")
    assert srv.state.assets == {}


async def test_unsupported_file_type(api, srv):
    status, body, _ = await api.upload(b"text", "notes.txt")
    assert (status, body["message"]) == (400, "Unsupported file type notes.txt")
    assert srv.state.assets == {}


async def test_filename_field_before_sidecar_breaks_the_sidecar(api, srv):
    xmp = b"<x:xmpmeta/>"
    status, body, _ = await api.upload(
        b"img", "IMG_1.jpg", before=[("filename", "IMG_1.jpg")], sidecar=xmp,
        sidecar_name="IMG_1.jpg.xmp",
    )
    assert (status, body["message"]) == (400, "Unsupported file type IMG_1.jpg")
    # Safe order: file parts first, filename after them.
    status, body, _ = await api.upload(
        b"img", "IMG_1.jpg", sidecar=xmp, fields=[("filename", "Renamed.jpg")]
    )
    assert status == 201
    asset = srv.state.assets[body["id"]]
    assert asset.sidecar == xmp and asset.original_file_name == "Renamed.jpg"


async def test_filename_field_before_file_is_used_for_the_type_check(api):
    status, body, _ = await api.upload(b"img", "IMG_1.jpg", before=[("filename", "a.txt")])
    assert (status, body["message"]) == (400, "Unsupported file type a.txt")


async def test_v3_rejects_naive_dates_and_accepts_offsets(api, srv):
    status, body, _ = await api.upload(
        b"img", dates=False,
        fields=[("fileCreatedAt", "2024-05-01T12:00:00"), ("fileModifiedAt", DATE)],
    )
    assert status == 400 and body["message"] == "Validation failed"
    assert body["errors"][0]["path"] == ["fileCreatedAt"]
    assert body["errors"][0]["code"] == "invalid_format"
    assert any("fileCreatedAt" in v for v in srv.state.violations)
    status, _, _ = await api.upload(
        b"img", dates=False,
        fields=[("fileCreatedAt", "2024-05-01T12:00:00+02:00"), ("fileModifiedAt", DATE)],
    )
    assert status == 201


async def test_missing_dates_are_rejected(api):
    status, body, _ = await api.upload(b"img", dates=False)
    assert status == 400
    assert {tuple(e["path"]) for e in body["errors"]} == {("fileCreatedAt",), ("fileModifiedAt",)}


async def test_v2_requires_device_ids_and_v3_drops_them(api, api2):
    status, body, _ = await api2.upload(b"img")
    assert status == 400 and isinstance(body["message"], list)
    assert any("deviceAssetId" in m for m in body["message"])
    assert any("deviceId" in m for m in body["message"])
    device = [("deviceAssetId", "IMG_1-123"), ("deviceId", "backupd")]
    status, body, _ = await api2.upload(b"img", fields=device)
    assert status == 201
    assert api2.srv.state.unknown_fields == []
    status, _, _ = await api.upload(b"img", fields=device)
    assert status == 201
    assert sorted(api.srv.state.unknown_fields) == ["deviceAssetId", "deviceId"]
    assert api.srv.state.violations == []


async def test_v3_field_types(api, srv):
    for name, value in [("duration", "0:00:05.000"), ("isFavorite", "yes"),
                        ("visibility", "public"), ("livePhotoVideoId", "nope")]:
        status, body, _ = await api.upload(b"v" + value.encode(), "v.mp4", fields=[(name, value)])
        assert status == 400, name
        assert body["errors"][0]["path"][0] == name
    status, body, _ = await api.upload(
        b"video", "v.mp4", fields=[("duration", "5000"), ("isFavorite", "true"),
                                   ("visibility", "archive")],
    )
    assert status == 201
    asset = srv.state.assets[body["id"]]
    assert (asset.type, asset.is_favorite, asset.visibility) == ("VIDEO", True, "archive")


async def test_quota_exceeded_after_the_body_and_usage_updates(api, srv):
    srv.set_quota(100)
    status, _, _ = await api.upload(b"a" * 60)
    assert status == 201
    _, me, _ = await api.call("GET", "/users/me")
    assert (me["quotaSizeInBytes"], me["quotaUsageInBytes"]) == (100, 60)
    status, body, _ = await api.upload(b"b" * 41)
    assert (status, body["message"]) == (400, "Quota has been exceeded!")
    status, _, _ = await api.upload(b"c" * 40)
    assert status == 201
    assert len(srv.state.assets) == 2


async def test_duplicates_are_per_user(api, srv):
    _, other_key = srv.add_user()
    status, mine, _ = await api.upload(b"shared bytes")
    status2, theirs, _ = await api.upload(b"shared bytes", key=other_key)
    assert (status, status2) == (201, 201) and mine["id"] != theirs["id"]


async def test_concurrent_uploads_of_the_same_bytes(api, srv):
    results = await asyncio.gather(*(api.upload(b"same" * 1000) for _ in range(4)))
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 200, 200, 201]
    assert len({r[1]["id"] for r in results}) == 1
    assert len(srv.state.assets) == 1


async def test_trashed_asset_reupload_is_duplicate_and_stays_trashed(api, srv):
    status, body, _ = await api.upload(b"trash me")
    srv.state.trash_asset(body["id"])
    status, again, _ = await api.upload(b"trash me")
    assert (status, again["id"]) == (200, body["id"])
    assert srv.state.assets[body["id"]].is_trashed


async def test_live_photo_linking(api, srv):
    status, image, _ = await api.upload(b"still-0")
    fields = [("livePhotoVideoId", image["id"])]
    status, body, _ = await api.upload(b"still-1", "IMG_1.HEIC", fields=fields)
    assert (status, body["message"]) == (400, "Live photo video must be a video")
    unknown = "3f0c6a1e-8a3b-4c55-9d1e-2b7a9c4d5e6f"
    status, body, _ = await api.upload(
        b"still-1", "IMG_1.HEIC", fields=[("livePhotoVideoId", unknown)]
    )
    assert (status, body["message"]) == (400, "Live photo video not found")
    status, video, _ = await api.upload(b"motion", "IMG_1.MOV", fields=[("visibility", "hidden")])
    assert status == 201
    status, still, _ = await api.upload(
        b"still-1", "IMG_1.HEIC", fields=[("livePhotoVideoId", video["id"])]
    )
    assert status == 201
    assert srv.state.assets[still["id"]].live_photo_video_id == video["id"]
    assert srv.state.assets[video["id"]].visibility == "hidden"


async def test_linking_hides_a_visible_video(api, srv):
    _, video, _ = await api.upload(b"motion2", "IMG_2.MOV")
    assert srv.state.assets[video["id"]].visibility == "timeline"
    status, _, _ = await api.upload(b"s2", "IMG_2.jpg", fields=[("livePhotoVideoId", video["id"])])
    assert status == 201
    assert srv.state.assets[video["id"]].visibility == "hidden"


async def test_truncated_multipart_is_400_and_leaves_no_asset(srv):
    body = (
        b"--B\r\nContent-Disposition: form-data; name=\"assetData\"; filename=\"a.jpg\"\r\n"
        b"\r\npartial file data"
    )
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.settimeout(5)
    sock.sendall(
        (f"POST /api/assets HTTP/1.1\r\nHost: x\r\nx-api-key: {srv.api_key}\r\n"
         "Content-Type: multipart/form-data; boundary=B\r\n"
         f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    )
    answer = sock.recv(65536).decode()
    sock.close()
    assert answer.startswith("HTTP/1.1 400") and "Connection: close" in answer
    assert srv.state.assets == {}
    assert any("truncated multipart" in v for v in srv.state.violations)


async def test_base64_checksum_header(api, srv):
    data = b"b64"
    existing = srv.state.seed_asset(srv.user.id, data, "a.png")
    b64 = base64.b64encode(hashlib.sha1(data).digest()).decode()
    status, body, _ = await api.upload(b"anything", checksum=b64)
    assert (status, body["id"]) == (200, existing.id)


async def test_large_upload_is_streamed(api, srv):
    big = b"L" * (64 * 1024 * 1024)
    started = time.monotonic()
    status, body, _ = await api.upload(big, "big.mp4")
    assert status == 201
    assert srv.state.assets[body["id"]].checksum_hex == hashlib.sha1(big).hexdigest()
    assert time.monotonic() - started < 10
