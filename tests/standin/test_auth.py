"""Authentication and permissions, with the real server's messages."""

from __future__ import annotations

import pytest


async def test_missing_key_is_401_authentication_required(api):
    status, body, _ = await api.call("GET", "/users/me", key=None)
    assert status == 401
    assert body["message"] == "Authentication required"


async def test_unknown_key_is_401_invalid_api_key(api):
    status, body, _ = await api.call("GET", "/users/me", key="not-a-key")
    assert (status, body["message"]) == (401, "Invalid API key")


@pytest.mark.parametrize(
    ("method", "path", "json", "permission"),
    [
        ("POST", "/assets/bulk-upload-check", {"assets": []}, "asset.upload"),
        ("GET", "/users/me", None, "user.read"),
        ("GET", "/albums", None, "album.read"),
        ("POST", "/albums", {"albumName": "x"}, "album.create"),
        ("PUT", "/albums/assets", {"albumIds": [], "assetIds": []}, "albumAsset.create"),
    ],
)
async def test_missing_permission_is_403_naming_it(api, srv, method, path, json, permission):
    _, key = srv.add_user(["server.about"])
    status, body, _ = await api.call(method, path, json=json, key=key)
    assert status == 403
    assert body["message"] == f"Missing required permission: {permission}"


async def test_upload_needs_asset_upload(api, srv):
    _, key = srv.add_user(["user.read"])
    status, body, _ = await api.upload(b"data", key=key)
    assert (status, body["message"]) == (403, "Missing required permission: asset.upload")


async def test_api_key_me_needs_only_a_valid_key(api, srv):
    _, key = srv.add_user(["asset.upload", "user.read"])
    status, body, _ = await api.call("GET", "/api-keys/me", key=key)
    assert status == 200 and body["permissions"] == ["asset.upload", "user.read"]
    status, _, _ = await api.call("GET", "/users/me", key=key)
    assert status == 200
