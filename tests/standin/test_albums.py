"""Albums: duplicate names, per-id results, many-to-many adds, v2/v3 shapes."""

from __future__ import annotations

UNKNOWN = "3f0c6a1e-8a3b-4c55-9d1e-2b7a9c4d5e6f"


async def _asset(api, data: bytes) -> str:
    status, body, _ = await api.upload(data)
    assert status == 201
    return body["id"]


async def test_same_name_twice_makes_two_albums(api, srv):
    s1, a1, _ = await api.call("POST", "/albums", json={"albumName": "Holidays"})
    s2, a2, _ = await api.call("POST", "/albums", json={"albumName": "Holidays"})
    assert (s1, s2) == (201, 201) and a1["id"] != a2["id"]
    api.check_response("POST", "/albums", s1, a1)
    status, albums, _ = await api.call("GET", "/albums")
    assert status == 200 and [a["albumName"] for a in albums] == ["Holidays", "Holidays"]
    api.check_response("GET", "/albums", status, albums)
    status, named, _ = await api.call("GET", "/albums", params={"name": "Holidays"})
    assert len(named) == 2
    assert len(srv.state.albums_named("Holidays")) == 2


async def test_create_with_assets_and_get(api, srv):
    a = await _asset(api, b"one")
    status, album, _ = await api.call("POST", "/albums", json={"albumName": "A", "assetIds": [a]})
    assert status == 201 and album["assetCount"] == 1
    status, got, _ = await api.call("GET", f"/albums/{album['id']}")
    assert status == 200 and got["assetCount"] == 1
    api.check_response("GET", "/albums/{id}", status, got)
    status, found, _ = await api.call("GET", "/albums", params={"assetId": a})
    assert [f["id"] for f in found] == [album["id"]]


async def test_v2_album_has_owner_and_assets(api2):
    status, body, _ = await api2.upload(  # v2 needs the device ids
        b"v2", fields=[("deviceAssetId", "x"), ("deviceId", "d")]
    )
    a = body["id"]
    _, album, _ = await api2.call("POST", "/albums", json={"albumName": "V2", "assetIds": [a]})
    status, got, _ = await api2.call("GET", f"/albums/{album['id']}")
    assert status == 200
    assert got["ownerId"] and [x["id"] for x in got["assets"]] == [a]
    api2.check_response("GET", "/albums/{id}", status, got)


async def test_unknown_album(api):
    status, body, _ = await api.call("GET", f"/albums/{UNKNOWN}")
    assert status == 400
    status, body, _ = await api.call("PUT", f"/albums/{UNKNOWN}/assets", json={"ids": []})
    assert (status, body["message"]) == (400, "Album not found")


async def test_bad_uuid_in_path_is_400_and_violation(api, srv):
    status, body, _ = await api.call("GET", "/albums/not-a-uuid")
    assert status == 400 and body["message"] == "Validation failed"
    assert any("albums/not-a-uuid" in v for v in srv.state.violations)


async def test_add_assets_per_id_results(api, srv):
    a = await _asset(api, b"a")
    b = await _asset(api, b"b")
    other, _ = srv.add_user()
    theirs = srv.state.seed_asset(other.id, b"theirs", "t.jpg").id
    _, album, _ = await api.call("POST", "/albums", json={"albumName": "X", "assetIds": [a]})
    status, results, _ = await api.call(
        "PUT", f"/albums/{album['id']}/assets", json={"ids": [a, b, theirs, UNKNOWN]}
    )
    assert status == 200
    api.check_response("PUT", "/albums/{id}/assets", status, results)
    assert results == [
        {"id": a, "success": False, "error": "duplicate"},
        {"id": b, "success": True},
        {"id": theirs, "success": False, "error": "no_permission"},
        {"id": UNKNOWN, "success": False, "error": "no_permission"},
    ]
    assert srv.state.albums[album["id"]].asset_ids == [a, b]


async def test_remove_assets_per_id_results(api, srv):
    a = await _asset(api, b"a")
    b = await _asset(api, b"b")
    _, album, _ = await api.call("POST", "/albums", json={"albumName": "X", "assetIds": [a, b]})
    status, results, _ = await api.call(
        "DELETE", f"/albums/{album['id']}/assets", json={"ids": [a, UNKNOWN]})
    assert status == 200
    api.check_response("DELETE", "/albums/{id}/assets", status, results)
    assert results == [{"id": a, "success": True},
                       {"id": UNKNOWN, "success": False, "error": "not_found"}]
    assert srv.state.albums[album["id"]].asset_ids == [b]


async def test_all_failing_is_still_200(api):
    _, album, _ = await api.call("POST", "/albums", json={"albumName": "Y"})
    status, results, _ = await api.call(
        "PUT", f"/albums/{album['id']}/assets", json={"ids": [UNKNOWN]}
    )
    assert status == 200 and results[0]["success"] is False


async def test_add_many_to_many(api, srv):
    a = await _asset(api, b"m1")
    _, x, _ = await api.call("POST", "/albums", json={"albumName": "X"})
    _, y, _ = await api.call("POST", "/albums", json={"albumName": "Y"})
    body = {"albumIds": [x["id"], y["id"]], "assetIds": [a]}
    status, answer, _ = await api.call("PUT", "/albums/assets", json=body)
    assert (status, answer) == (200, {"success": True})
    api.check_response("PUT", "/albums/assets", status, answer)
    status, answer, _ = await api.call("PUT", "/albums/assets", json=body)
    assert answer == {"success": False, "error": "duplicate"}
    assert srv.state.albums[y["id"]].asset_ids == [a]


async def test_bad_json_body_is_a_violation(api, srv):
    status, body, _ = await api.call("POST", "/albums", json={"name": "wrong field"})
    assert status == 400
    assert body["errors"][0]["path"] == ["albumName"]
    assert srv.state.violations
    status, _, _ = await api.call("PUT", "/albums/assets", json={"albumIds": ["x"], "assetIds": []})
    assert status == 400
