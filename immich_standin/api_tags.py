"""Tags: upsert, tag assets in bulk, and the metadata search by tag - per the real server.

What a client must know, from the server's code (``tag.service.ts``) and measured on real
servers (issue 18):

- ``PUT /tags`` (``tag.create``) takes full paths (``Trips/2024/Rome``) and makes each
  with its missing parents; it answers the tags asked for, each with ``value`` (its path).
- ``PUT /tags/assets`` (``tag.asset``) attaches every tag to every asset and answers
  ``{count}``: the pairs it made (an existing pair is not counted). Every tag and asset
  must be the user's (else 400).
- Tags set right after an upload can be lost for good: the server's sidecar-write and
  metadata jobs re-apply the tags they read before. ``StandinState.tags_to_lose`` models
  it: that many of the next pairs are taken away again (the answer still counts them).
- ``PUT /tags/{id}/assets`` (``tag.asset``) puts one tag on each of ``ids`` and answers
  a ``BulkIdResponseDto`` each: ``duplicate`` for an asset that had it already,
  ``no_permission`` for one that is not the user's (or unknown). The loss above applies.
- ``DELETE /tags/{id}/assets`` (``tag.asset``) takes the tag off each of ``ids`` and
  answers a ``BulkIdResponseDto`` each: ``not_found`` for an asset without the tag (an
  unknown asset too), success for the others (the owner of the tag can always take it
  off). The tag itself stays. A tag that is not the user's (deleted): 400. The loss
  works both ways: ``StandinState.untags_to_undo`` of the next removals are put back
  by the server's jobs (the answer still says success).
- ``POST /search/metadata`` (``asset.read``) with ``tagIds`` finds the assets that have
  all those tags, each itself or one below it (the server's ``hasTags`` joins
  ``tag_closure``: a search for ``Trips`` finds an asset tagged ``Trips/2024`` only);
  pages of ``size``, ``nextPage`` the next page's number or null. Without
  ``visibility`` only timeline and archived assets are searched (the server's default
  visibility): a live photo's hidden video is found only with ``visibility: hidden``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import ApiError, RequestContext, json_response
from .dto import asset_dto, tag_dto
from .state import StandinState, Tag


async def upsert_tags(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    with ctx.state.lock:
        tags = [ctx.state.upsert_tag(user.id, v) for v in body["tags"] if v.strip("/")]
        return json_response(ctx, [tag_dto(t) for t in tags])


async def list_tags(ctx: RequestContext) -> web.Response:
    user = ctx.require_user()
    with ctx.state.lock:
        return json_response(ctx, [tag_dto(t) for t in ctx.state.tags.values()
                                   if t.owner_id == user.id])


async def tag_assets(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        state.counters.tag_requests += 1
        tag_ids = [t.lower() for t in body["tagIds"]]
        asset_ids = [a.lower() for a in body["assetIds"]]
        if any(t not in state.tags or state.tags[t].owner_id != user.id for t in tag_ids):
            raise ApiError(400, "Not found or no tag.asset access")
        if any(a not in state.assets or state.assets[a].owner_id != user.id
               for a in asset_ids):
            raise ApiError(400, "Not found or no asset.update access")
        count = 0
        for asset_id in asset_ids:
            asset = state.assets[asset_id]
            for tag_id in tag_ids:
                if tag_id in asset.tag_ids:
                    continue
                count += 1
                state.counters.tags_made += 1
                if state.tags_to_lose > 0:  # re-applied away by the server's jobs
                    state.tags_to_lose -= 1
                    continue
                asset.tag_ids.add(tag_id)
        return json_response(ctx, {"count": count})


async def tag_assets_of(ctx: RequestContext) -> web.Response:
    """``PUT /tags/{id}/assets``: one tag on many assets, an answer per asset."""
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        state.counters.tag_requests += 1
        tag = _users_tag(ctx, user.id)
        results: list[dict[str, Any]] = []
        for asset_id in body["ids"]:
            asset = state.assets.get(asset_id.lower())
            if asset is not None and tag.id in asset.tag_ids:
                results.append({"id": asset_id, "success": False, "error": "duplicate"})
            elif asset is None or asset.owner_id != user.id:
                results.append({"id": asset_id, "success": False, "error": "no_permission"})
            else:
                results.append({"id": asset_id, "success": True})
                state.counters.tags_made += 1
                if state.tags_to_lose > 0:  # re-applied away by the server's jobs
                    state.tags_to_lose -= 1
                    continue
                asset.tag_ids.add(tag.id)
        return json_response(ctx, results)


def _users_tag(ctx: RequestContext, user_id: str) -> Tag:
    """The tag of the path's ``{id}``, if it is the user's (else 400, as the server's
    access check answers); call it holding the state's lock."""
    tag = ctx.state.tags.get(ctx.path_params["id"].lower())
    if tag is None or tag.owner_id != user_id:
        raise ApiError(400, "Not found or no tag.asset access")
    return tag


async def untag_assets(ctx: RequestContext) -> web.Response:
    """``DELETE /tags/{id}/assets``: one tag off many assets, an answer per asset."""
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        state.counters.untag_requests += 1
        tag = _users_tag(ctx, user.id)
        results: list[dict[str, Any]] = []
        for asset_id in body["ids"]:
            asset = state.assets.get(asset_id.lower())
            if asset is None or asset.owner_id != user.id or tag.id not in asset.tag_ids:
                results.append({"id": asset_id, "success": False, "error": "not_found"})
                continue
            results.append({"id": asset_id, "success": True})
            if state.untags_to_undo > 0:  # put back by the server's jobs
                state.untags_to_undo -= 1
                continue
            asset.tag_ids.discard(tag.id)
        return json_response(ctx, results)


def tag_closure(state: StandinState, tag_id: str) -> set[str]:
    """The tag and every tag below it (the server's ``tag_closure`` rows with it as the
    ancestor): a search by a tag finds the assets of its child tags too."""
    tag = state.tags.get(tag_id)
    if tag is None:
        return set()
    below = tag.value + "/"
    return {t.id for t in state.tags.values()
            if t.owner_id == tag.owner_id and (t.id == tag_id or t.value.startswith(below))}


async def search_metadata(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    unsupported = set(body) - {"tagIds", "page", "size", "withDeleted", "visibility"}
    if unsupported:
        raise ApiError(400, f"stand-in: search by {sorted(unsupported)} is not modelled")
    tag_ids = {t.lower() for t in body.get("tagIds") or ()}
    page, size = int(body.get("page") or 1), int(body.get("size") or 250)
    wanted = (body["visibility"],) if body.get("visibility") else ("timeline", "archive")
    with ctx.state.lock:
        closures = [tag_closure(ctx.state, t) for t in tag_ids]
        found = [a for a in ctx.state.assets.values() if a.owner_id == user.id
                 and not a.is_trashed and a.visibility in wanted
                 and all(c & a.tag_ids for c in closures)]
        found.sort(key=lambda a: a.id)
        items = found[(page - 1) * size:page * size]
        more = page * size < len(found)
        return json_response(ctx, {
            "albums": {"total": 0, "count": 0, "items": [], "facets": []},
            "assets": {"total": len(items), "count": len(items), "facets": [],
                       "items": [asset_dto(ctx, a) for a in items],
                       "nextPage": str(page + 1) if more else None},
        })
