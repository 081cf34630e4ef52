"""Stacks on the stand-in, as real servers do them: a new stack replaces one whose primary
is listed, a listed member leaves its old stack, refusals are the real server's."""

from __future__ import annotations

from immich_backupd.media.stacks import KnownStack, stack_requests, stacks_in_folder

UNKNOWN = "0b9a4c1e-5d6f-4a7b-8c9d-0e1f2a3b4c5d"


def seed(srv, *names: str):
    return [srv.state.seed_asset(srv.user.id, n.encode(), n) for n in names]


async def stack(api, *assets) -> dict:
    status, body, _ = await api.call("POST", "/stacks", json={"assetIds": [a.id for a in assets]})
    assert status == 201, body
    api.check_response("POST", "/stacks", status, body)
    return body


async def asset_stack(api, asset) -> dict | None:
    status, body, _ = await api.call("GET", f"/assets/{asset.id}")
    assert status == 200, body
    api.check_response("GET", f"/assets/{asset.id}", status, body)
    return body["stack"]


async def test_create_get_list_delete(api):
    await _create_get_list_delete(api)


async def test_create_get_list_delete_on_v2(api2):
    await _create_get_list_delete(api2)


async def _create_get_list_delete(api):
    srv = api.srv
    jpg, raw = seed(srv, "IMG_1.JPG", "IMG_1.CR2")
    assert await asset_stack(api, jpg) is None
    body = await stack(api, jpg, raw)
    assert body["primaryAssetId"] == jpg.id
    assert [a["id"] for a in body["assets"]] == [jpg.id, raw.id]
    sid = body["id"]
    for asset in (jpg, raw):
        assert await asset_stack(api, asset) == {"id": sid, "primaryAssetId": jpg.id,
                                                 "assetCount": 2}

    status, got, _ = await api.call("GET", f"/stacks/{sid}")
    assert status == 200 and got == body
    api.check_response("GET", f"/stacks/{sid}", status, got)
    status, listed, _ = await api.call("GET", "/stacks", params={"primaryAssetId": jpg.id})
    assert status == 200 and [s["id"] for s in listed] == [sid]
    api.check_response("GET", "/stacks", status, listed)
    status, listed, _ = await api.call("GET", "/stacks", params={"primaryAssetId": raw.id})
    assert (status, listed) == (200, [])

    status, _, _ = await api.call("DELETE", f"/stacks/{sid}")
    assert status == 204
    assert await asset_stack(api, jpg) is None and raw.stack_id is None
    assert (await api.call("GET", "/stacks"))[1] == []
    assert srv.state.violations == []


async def test_stacking_the_same_pair_again_replaces_the_stack(api, srv):
    jpg, raw = seed(srv, "IMG_1.JPG", "IMG_1.CR2")
    first = await stack(api, jpg, raw)
    second = await stack(api, jpg, raw)
    assert second["id"] != first["id"]
    status, body, _ = await api.call("GET", f"/stacks/{first['id']}")
    assert (status, body["message"]) == (400, "Not found or no stack.read access")
    assert [s["id"] for s in (await api.call("GET", "/stacks"))[1]] == [second["id"]]
    assert (srv.state.counters.stacks_created, srv.state.counters.stacks_deleted) == (2, 1)


async def test_a_listed_primary_merges_its_stack_in(api, srv):
    a, b, c = seed(srv, "a.jpg", "b.jpg", "c.jpg")
    first = await stack(api, a, b)
    merged = await stack(api, c, a)  # a was the primary of the first stack
    assert merged["primaryAssetId"] == c.id
    assert {x["id"] for x in merged["assets"]} == {a.id, b.id, c.id}
    assert first["id"] not in srv.state.stacks


async def test_a_listed_member_moves_out_of_its_stack(api, srv):
    a, b, c = seed(srv, "a.jpg", "b.jpg", "c.jpg")
    first = await stack(api, a, b)
    second = await stack(api, c, b)  # b was a member, not the primary
    assert {x["id"] for x in second["assets"]} == {b.id, c.id}
    status, old, _ = await api.call("GET", f"/stacks/{first['id']}")
    assert status == 200  # the old stack stays, with its primary alone
    assert [x["id"] for x in old["assets"]] == [a.id]
    assert await asset_stack(api, a) == {"id": first["id"], "primaryAssetId": a.id,
                                         "assetCount": 1}


async def test_refusals(api, srv):
    a, b = seed(srv, "a.jpg", "b.jpg")
    other_user, _ = srv.state.add_user_with_key()
    theirs = srv.state.seed_asset(other_user.id, b"theirs", "t.jpg")
    status, body, _ = await api.call("POST", "/stacks", json={"assetIds": [a.id]})
    assert status == 400 and body["message"] == "Validation failed"  # at least two
    srv.state.violations.clear()
    for ids in ([a.id, theirs.id], [a.id, UNKNOWN]):
        status, body, _ = await api.call("POST", "/stacks", json={"assetIds": ids})
        assert (status, body["message"]) == (400, "Not found or no asset.update access")
    assert a.stack_id is None and srv.state.stacks == {}

    mine = await stack(api, a, b)
    their_stack = srv.state.create_stack(other_user.id, [theirs.id, theirs.id])
    for method, path, action in [("GET", f"/stacks/{their_stack.id}", "read"),
                                 ("DELETE", f"/stacks/{their_stack.id}", "delete"),
                                 ("GET", f"/stacks/{UNKNOWN}", "read")]:
        status, body, _ = await api.call(method, path)
        assert (status, body["message"]) == (400, f"Not found or no stack.{action} access")
    status, body, _ = await api.call("DELETE", "/stacks",
                                     json={"ids": [mine["id"], their_stack.id]})
    assert (status, body["message"]) == (400, "Not found or no stack.delete access")
    assert mine["id"] in srv.state.stacks  # all or nothing
    status, body, _ = await api.call("GET", f"/assets/{theirs.id}")
    assert (status, body["message"]) == (400, "Not found or no asset.read access")

    key = srv.state.create_api_key(srv.user.id, permissions=["asset.upload"])
    status, body, _ = await api.call("POST", "/stacks", key=key,
                                     json={"assetIds": [a.id, b.id]})
    assert (status, body["message"]) == (403, "Missing required permission: stack.create")


async def test_update_primary_and_remove_a_member(api, srv):
    a, b, c = seed(srv, "a.jpg", "b.jpg", "c.jpg")
    sid = (await stack(api, a, b, c))["id"]
    status, body, _ = await api.call("PUT", f"/stacks/{sid}", json={"primaryAssetId": UNKNOWN})
    assert (status, body["message"]) == (400, "Primary asset must be in the stack")
    status, body, _ = await api.call("PUT", f"/stacks/{sid}", json={"primaryAssetId": b.id})
    assert status == 200 and body["primaryAssetId"] == b.id
    status, body, _ = await api.call("DELETE", f"/stacks/{sid}/assets/{b.id}")
    assert (status, body["message"]) == (400, "Cannot remove stack's primary asset")
    status, _, _ = await api.call("DELETE", f"/stacks/{sid}/assets/{c.id}")
    assert status == 204 and c.stack_id is None
    status, body, _ = await api.call("DELETE", f"/stacks/{sid}/assets/{c.id}")
    assert (status, body["message"]) == (400, "Asset not in stack")


async def test_trashed_and_hidden_members_are_not_shown_and_a_deleted_primary_ends_it(api,
                                                                                        srv):
    a, b, c = seed(srv, "a.jpg", "b.jpg", "c.mov")
    sid = (await stack(api, a, b, c))["id"]
    srv.state.trash_asset(b.id)
    c.visibility = "hidden"
    status, body, _ = await api.call("GET", f"/stacks/{sid}")
    assert status == 200
    assert [x["id"] for x in body["assets"]] == [a.id]
    srv.state.delete_asset(a.id)  # the trash emptied of the primary
    assert sid not in srv.state.stacks and b.stack_id is None and c.stack_id is None


async def test_stack_requests_leave_one_stack_per_group_across_passes(api, srv):
    """The pure decisions of immich_backupd.media.stacks, sent as they say, against the
    stand-in's real-server behaviour: one stack per group, whatever order files arrive."""
    names = ["20231207_101605_001.jpg", "20231207_101605_002.jpg", "20231207_101605_003.jpg"]
    groups = stacks_in_folder(names, bursts=True)
    assets = dict(zip(names, seed(srv, *names), strict=True))
    known: dict[str, KnownStack] = {}
    for up in (names[::2], names, names):  # the middle file arrives in the second pass
        remote = {n: assets[n].id for n in up}
        for req in stack_requests(groups, remote, known):
            body = await stack(api, *(srv.state.assets[i] for i in req.asset_ids))
            if req.replaces is not None:
                assert req.replaces not in srv.state.stacks  # the server deleted it
            made = KnownStack(body["id"], body["primaryAssetId"],
                              frozenset(a["id"] for a in body["assets"]))
            known.update(dict.fromkeys(made.asset_ids, made))
    assert srv.state.counters.stacks_created == 2  # the third pass sent nothing
    (only,) = srv.state.stacks.values()
    assert only.primary_asset_id == assets[names[0]].id
    assert {a.id for a in srv.state.stack_members(only.id)} == {a.id for a in assets.values()}
