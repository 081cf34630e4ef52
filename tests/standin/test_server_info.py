"""Server info endpoints, users/me, api-keys/me, 404s and spec-shaped answers."""

from __future__ import annotations

import aiohttp
import pytest

from immich_standin import StandinServer


async def test_ping_version_media_types_need_no_key(api):
    status, body, _ = await api.call("GET", "/server/ping", key=None)
    assert (status, body) == (200, {"res": "pong"})
    status, body, _ = await api.call("GET", "/server/version", key=None)
    assert (status, body) == (200, {"major": 3, "minor": 1, "patch": 0, "prerelease": None})
    api.check_response("GET", "/server/version", status, body)
    status, body, _ = await api.call("GET", "/server/media-types", key=None)
    assert status == 200
    api.check_response("GET", "/server/media-types", status, body)
    for ext in (".jpg", ".jpeg", ".heic", ".dng", ".png", ".webp", ".avif", ".jxl"):
        assert ext in body["image"]
    for ext in (".mp4", ".mov", ".mkv", ".m2ts", ".3gp"):
        assert ext in body["video"]
    assert body["sidecar"] == [".xmp"]
    assert all(e.startswith(".") and e == e.lower() for e in body["image"] + body["video"])


async def test_v2_version_has_no_prerelease(api2):
    status, body, _ = await api2.call("GET", "/server/version")
    assert (status, body) == (200, {"major": 2, "minor": 7, "patch": 0})


@pytest.mark.parametrize("version", ["1.106.0", "4.0.0"])
async def test_unsupported_versions_report_themselves(version):
    with StandinServer(version=version) as srv:
        async with aiohttp.ClientSession() as s, s.get(srv.url + "/api/server/version") as r:
            body = await r.json()
    major, minor, patch = (int(x) for x in version.split("."))
    assert (body["major"], body["minor"], body["patch"]) == (major, minor, patch)


async def test_users_me_and_api_key_me_fit_the_spec(api, api2):
    for client in (api, api2):
        status, me, _ = await client.call("GET", "/users/me")
        assert status == 200
        client.check_response("GET", "/users/me", status, me)
        assert me["quotaSizeInBytes"] is None and me["quotaUsageInBytes"] == 0
        status, key, _ = await client.call("GET", "/api-keys/me")
        assert status == 200 and key["permissions"] == ["all"]
        client.check_response("GET", "/api-keys/me", status, key)


async def test_unknown_route_is_404_json_and_a_violation(api, srv):
    status, body, headers = await api.call("GET", "/nope")
    assert status == 404 and body["statusCode"] == 404
    assert body["correlationId"] == headers["X-Correlation-ID"]
    assert any("/api/nope" in v for v in srv.state.violations)


async def test_endpoint_removed_in_v3_is_404_there_but_exists_in_v2(api, api2):
    body = {"deviceId": "d", "deviceAssetIds": ["a"]}
    status, _, _ = await api.call("POST", "/assets/exist", json=body)
    assert status == 404
    assert any("assets/exist" in v for v in api.srv.state.violations)
    status, answer, _ = await api2.call("POST", "/assets/exist", json=body)
    assert (status, answer) == (200, {"existingIds": []})


async def test_request_log_strips_the_api_key(api, srv):
    await api.call("GET", "/users/me")
    record = srv.state.requests[-1]
    assert record.status == 200 and record.path == "/api/users/me"
    assert all(k.lower() != "x-api-key" for k in record.headers)
    assert record.correlation_id
