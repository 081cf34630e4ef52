"""POST /assets/bulk-upload-check."""

from __future__ import annotations

import base64
import hashlib


def _item(i: str, checksum: str) -> dict[str, str]:
    return {"id": i, "checksum": checksum}


async def test_accept_reject_base64_and_trashed(api, srv):
    dup = srv.state.seed_asset(srv.user.id, b"dup", "a.jpg")
    trashed = srv.state.seed_asset(srv.user.id, b"trashed", "b.jpg", trashed=True)
    b64 = base64.b64encode(hashlib.sha1(b"dup").digest()).decode()
    assert len(b64) == 28
    body = {"assets": [
        _item("new", hashlib.sha1(b"new").hexdigest()),
        _item("dup-hex", dup.checksum_hex),
        _item("dup-b64", b64),
        _item("trashed", trashed.checksum_hex),
        _item("junk", "not a checksum at all"),
    ]}
    status, answer, _ = await api.call("POST", "/assets/bulk-upload-check", json=body)
    assert status == 200
    api.check_response("POST", "/assets/bulk-upload-check", status, answer)
    results = {r["id"]: r for r in answer["results"]}
    assert results["new"] == {"id": "new", "action": "accept"}
    assert results["junk"]["action"] == "accept"
    assert results["dup-hex"] == {"id": "dup-hex", "action": "reject", "reason": "duplicate",
                                  "assetId": dup.id, "isTrashed": False}
    assert results["dup-b64"]["assetId"] == dup.id
    assert results["trashed"]["isTrashed"] is True
    c = srv.state.counters
    assert (c.bulk_checks, c.bulk_items_checked) == (1, 5)


async def test_other_users_assets_are_not_duplicates(api, srv):
    other, _ = srv.add_user()
    theirs = srv.state.seed_asset(other.id, b"theirs", "t.jpg")
    body = {"assets": [_item("x", theirs.checksum_hex)]}
    _, answer, _ = await api.call("POST", "/assets/bulk-upload-check", json=body)
    assert answer["results"][0]["action"] == "accept"


async def test_empty_list_and_too_many_items_are_500(api):
    status, body, _ = await api.call("POST", "/assets/bulk-upload-check", json={"assets": []})
    assert (status, body["statusCode"]) == (500, 500)
    many = {"assets": [_item(str(i), "00") for i in range(65001)]}
    status, _, _ = await api.call("POST", "/assets/bulk-upload-check", json=many)
    assert status == 500


async def test_body_over_10_mb_is_500(api):
    huge = {"assets": [_item("x" * 1000, "0" * 40) for _ in range(11_000)]}
    status, _, _ = await api.call("POST", "/assets/bulk-upload-check", json=huge)
    assert status == 500


async def test_bad_body_is_400_and_a_violation(api, srv):
    status, body, _ = await api.call(
        "POST", "/assets/bulk-upload-check", json={"assets": [{"id": "a"}]}
    )
    assert status == 400 and body["message"] == "Validation failed"
    assert body["errors"][0]["path"] == ["assets", 0, "checksum"]
    assert srv.state.violations and "checksum" in srv.state.violations[0]


async def test_v2_validation_errors_are_a_list_of_strings(api2):
    status, body, _ = await api2.call("POST", "/assets/bulk-upload-check", json={"asset": []})
    assert status == 400 and isinstance(body["message"], list)
    assert "assets" in body["message"][0]


async def test_malformed_json_is_400(api, srv):
    status, _, _ = await api.call(
        "POST", "/assets/bulk-upload-check", data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert any("malformed JSON" in v for v in srv.state.violations)
