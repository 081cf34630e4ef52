"""Tags on the stand-in, as real servers do them: upsert makes the parents, bulk tagging
counts the pairs it made, the metadata search finds assets by tag, and the loss of tags
set right after an upload (measured on real servers) can be modelled."""

from __future__ import annotations


def seed(srv, *names: str):
    return [srv.state.seed_asset(srv.user.id, n.encode(), n) for n in names]


async def call(api, method: str, path: str, body: dict, status: int = 200):
    got, answer, _ = await api.call(method, path, json=body)
    assert got == status, answer
    if status < 400:  # the specs document successes only
        api.check_response(method, path, got, answer)
    return answer


async def test_upsert_tag_and_search(api):
    await _upsert_tag_and_search(api)


async def test_upsert_tag_and_search_on_v2(api2):
    await _upsert_tag_and_search(api2)


async def _upsert_tag_and_search(api):
    srv = api.srv
    a, b, c = seed(srv, "a.jpg", "b.jpg", "c.jpg")
    tags = await call(api, "PUT", "/tags", {"tags": ["Trips/2024/Rome", "Family"]})
    assert [t["value"] for t in tags] == ["Trips/2024/Rome", "Family"]
    assert srv.state.counters.tags_created == 4  # Trips and Trips/2024 too
    again = await call(api, "PUT", "/tags", {"tags": ["Trips/2024/Rome"]})
    assert again[0]["id"] == tags[0]["id"] and srv.state.counters.tags_created == 4
    rome, family = tags[0]["id"], tags[1]["id"]
    answer = await call(api, "PUT", "/tags/assets",
                        {"tagIds": [rome, family], "assetIds": [a.id, b.id]})
    assert answer == {"count": 4}
    answer = await call(api, "PUT", "/tags/assets", {"tagIds": [rome], "assetIds": [a.id, c.id]})
    assert answer == {"count": 1}
    found = await call(api, "POST", "/search/metadata", {"tagIds": [family], "size": 1})
    assert found["assets"]["nextPage"] == "2" and len(found["assets"]["items"]) == 1
    rest = await call(api, "POST", "/search/metadata", {"tagIds": [family], "size": 1,
                                                          "page": 2})
    assert rest["assets"]["nextPage"] is None
    ids = {found["assets"]["items"][0]["id"], rest["assets"]["items"][0]["id"]}
    assert ids == {a.id, b.id}
    await call(api, "PUT", "/tags/assets", {"tagIds": [rome], "assetIds": [
        "0b9a4c1e-5d6f-4a7b-8c9d-0e1f2a3b4c5d"]}, status=400)


async def test_tags_set_can_be_lost_as_on_real_servers(api):
    srv = api.srv
    a, b = seed(srv, "a.jpg", "b.jpg")
    (tag,) = await call(api, "PUT", "/tags", {"tags": ["Phone"]})
    srv.state.tags_to_lose = 1
    answer = await call(api, "PUT", "/tags/assets", {"tagIds": [tag["id"]],
                                                     "assetIds": [a.id, b.id]})
    assert answer == {"count": 2}  # the answer does not tell
    assert sorted(len(x.tag_ids) for x in (a, b)) == [0, 1]


async def test_the_search_leaves_hidden_assets_out_unless_asked(api):
    srv = api.srv
    shown, hidden = seed(srv, "a.jpg", "a.mov")
    hidden.visibility = "hidden"
    (tag,) = await call(api, "PUT", "/tags", {"tags": ["Live"]})
    await call(api, "PUT", "/tags/assets", {"tagIds": [tag["id"]],
                                            "assetIds": [shown.id, hidden.id]})
    default = await call(api, "POST", "/search/metadata", {"tagIds": [tag["id"]]})
    assert [a["id"] for a in default["assets"]["items"]] == [shown.id]
    asked = await call(api, "POST", "/search/metadata", {"tagIds": [tag["id"]],
                                                         "visibility": "hidden"})
    assert [a["id"] for a in asked["assets"]["items"]] == [hidden.id]


async def test_untag_assets_takes_the_tag_off_and_keeps_the_tag(api):
    await _untag_assets(api)


async def test_untag_assets_on_v2(api2):
    await _untag_assets(api2)


async def _untag_assets(api):
    srv = api.srv
    a, b, c = seed(srv, "a.jpg", "b.jpg", "c.jpg")
    (tag,) = await call(api, "PUT", "/tags", {"tags": ["Phone"]})
    await call(api, "PUT", "/tags/assets", {"tagIds": [tag["id"]], "assetIds": [a.id, b.id]})
    answer = await call(api, "DELETE", f"/tags/{tag['id']}/assets", {"ids": [a.id, c.id]})
    assert answer == [{"id": a.id, "success": True},
                      {"id": c.id, "success": False, "error": "not_found"}]
    assert (a.tag_ids, b.tag_ids) == (set(), {tag["id"]})
    assert set(srv.state.tags) == {tag["id"]}  # the tag itself stays
    # Taken off by the request, put back by the server's jobs: the answer does not tell.
    srv.state.untags_to_undo = 1
    answer = await call(api, "DELETE", f"/tags/{tag['id']}/assets", {"ids": [b.id]})
    assert answer == [{"id": b.id, "success": True}] and b.tag_ids == {tag["id"]}
    assert srv.state.counters.untag_requests == 2
    await call(api, "DELETE", "/tags/0b9a4c1e-5d6f-4a7b-8c9d-0e1f2a3b4c5d/assets",
               {"ids": [a.id]}, status=400)


async def test_state_snapshot_shows_tags(api):
    """``/_standin/state`` (and ``--state-dump``) with tagged assets: each asset lists its
    tag ids and the tags are listed; an asset's tags are a set in memory, which JSON
    cannot hold, so the endpoint answered 500 once any asset had been tagged."""
    srv = api.srv
    (a,) = seed(srv, "a.jpg")
    (tag,) = await call(api, "PUT", "/tags", {"tags": ["Trips/Rome"]})
    await call(api, "PUT", "/tags/assets", {"tagIds": [tag["id"]], "assetIds": [a.id]})
    async with api.session.get(srv.url + "/_standin/state") as resp:
        assert resp.status == 200
        state = await resp.json()
    (asset,) = state["assets"]
    assert asset["tag_ids"] == [tag["id"]]
    assert {t["value"] for t in state["tags"]} == {"Trips", "Trips/Rome"}


async def test_one_tag_on_many_assets_answers_per_asset(api):
    srv = api.srv
    a, b = seed(srv, "a.jpg", "b.jpg")
    (tag,) = await call(api, "PUT", "/tags", {"tags": ["Phone"]})
    await call(api, "PUT", "/tags/assets", {"tagIds": [tag["id"]], "assetIds": [a.id]})
    unknown = "0b9a4c1e-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
    answer = await call(api, "PUT", f"/tags/{tag['id']}/assets", {"ids": [a.id, b.id, unknown]})
    assert answer == [{"id": a.id, "success": False, "error": "duplicate"},  # had it
                      {"id": b.id, "success": True},
                      {"id": unknown, "success": False, "error": "no_permission"}]
    assert b.tag_ids == {tag["id"]}
    await call(api, "PUT", f"/tags/{unknown}/assets", {"ids": [a.id]}, status=400)


async def test_a_search_by_a_tag_finds_the_assets_of_the_tags_below_it(api):
    """As the real server's ``hasTags`` (it joins ``tag_closure``): so a search cannot
    tell whether an asset has a tag itself."""
    srv = api.srv
    a, b = seed(srv, "a.jpg", "b.jpg")
    trips, rome = await call(api, "PUT", "/tags", {"tags": ["Trips", "Trips/Rome"]})
    await call(api, "PUT", "/tags/assets", {"tagIds": [rome["id"]], "assetIds": [a.id]})
    await call(api, "PUT", "/tags/assets", {"tagIds": [trips["id"]], "assetIds": [b.id]})
    found = await call(api, "POST", "/search/metadata", {"tagIds": [trips["id"]]})
    assert {x["id"] for x in found["assets"]["items"]} == {a.id, b.id}
    found = await call(api, "POST", "/search/metadata", {"tagIds": [rome["id"]]})
    assert [x["id"] for x in found["assets"]["items"]] == [a.id]
