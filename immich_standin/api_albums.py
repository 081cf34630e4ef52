"""Albums: list, create, get, add and remove assets - per the real server's result semantics.

Album names are not unique (creating the same name twice gives two albums). Adding
assets answers 200 even when every id fails; each id gets ``success``/``error`` where
the error is ``duplicate`` (already in the album) or ``no_permission`` (not the user's
asset - the real server cannot tell "unknown" from "not yours", so unknown ids get
``no_permission`` too). Removing assets (``DELETE /albums/{id}/assets``,
``albumAsset.delete``) answers the same way: ``not_found`` for an id not in the album,
success for any other (the album's owner may always take an asset out). The response
shape differs between v2 (``owner``, ``ownerId``, ``assets``) and v3 (owner only in
``albumUsers``; no ``assets`` list): see dto.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import ApiError, RequestContext, json_response
from .dto import album_dto
from .state import Album, now_iso


def _query_bool(ctx: RequestContext, name: str) -> bool | None:
    raw = ctx.request.query.get(name)
    return None if raw is None else raw == "true"


async def list_albums(ctx: RequestContext) -> web.Response:
    user = ctx.require_user()
    query = ctx.request.query
    with ctx.state.lock:
        albums = [a for a in ctx.state.albums.values() if a.owner_id == user.id]
        if "assetId" in query:
            albums = [a for a in albums if query["assetId"] in a.asset_ids]
        elif ctx.major >= 3:
            if "id" in query:
                albums = [a for a in albums if a.id == query["id"]]
            if "name" in query:
                albums = [a for a in albums if a.name == query["name"]]
            if _query_bool(ctx, "isShared") is True or _query_bool(ctx, "isOwned") is False:
                albums = []
        elif _query_bool(ctx, "shared") is True:
            albums = []
        body = [album_dto(ctx, a, with_assets=False) for a in albums]
    return json_response(ctx, body)


async def create_album(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        # Ids the user may not share are silently left out, like the real server.
        allowed = [
            a for a in body.get("assetIds", [])
            if a in state.assets and state.assets[a].owner_id == user.id
        ]
        album = state.create_album(
            user.id, body["albumName"], allowed, description=body.get("description") or ""
        )
        return json_response(ctx, album_dto(ctx, album, with_assets=True), 201)


def _album_for(ctx: RequestContext, permission: str, *, not_found: str) -> Album:
    user = ctx.require_user()
    album = ctx.state.albums.get(ctx.path_params["id"].lower())
    if album is None:
        raise ApiError(400, not_found)
    if album.owner_id != user.id:
        raise ApiError(400, f"Not found or no {permission} access")
    return album


async def get_album(ctx: RequestContext) -> web.Response:
    with ctx.state.lock:
        album = _album_for(ctx, "album.read", not_found="Not found or no album.read access")
        with_assets = _query_bool(ctx, "withoutAssets") is not True
        return json_response(ctx, album_dto(ctx, album, with_assets=with_assets))


async def add_assets(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        album = _album_for(ctx, "albumAsset.create", not_found="Album not found")
        results: list[dict[str, Any]] = []
        present = set(album.asset_ids)
        for asset_id in body["ids"]:
            aid = asset_id.lower()
            asset = state.assets.get(aid)
            if aid in present:
                results.append({"id": asset_id, "success": False, "error": "duplicate"})
            elif asset is None or asset.owner_id != user.id:
                results.append({"id": asset_id, "success": False, "error": "no_permission"})
            else:
                album.asset_ids.append(aid)
                present.add(aid)
                results.append({"id": asset_id, "success": True})
        if any(r["success"] for r in results):
            album.updated_at = now_iso()
    return json_response(ctx, results)


async def remove_assets(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    state = ctx.state
    with state.lock:
        album = _album_for(ctx, "albumAsset.delete",
                           not_found="Not found or no albumAsset.delete access")
        results: list[dict[str, Any]] = []
        for asset_id in body["ids"]:
            aid = asset_id.lower()
            if aid in album.asset_ids:
                album.asset_ids.remove(aid)
                results.append({"id": asset_id, "success": True})
            else:
                results.append({"id": asset_id, "success": False, "error": "not_found"})
        if any(r["success"] for r in results):
            album.updated_at = now_iso()
    return json_response(ctx, results)


async def add_assets_to_albums(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        albums = [
            state.albums[a.lower()] for a in body["albumIds"]
            if a.lower() in state.albums and state.albums[a.lower()].owner_id == user.id
        ]
        if not albums:
            return json_response(ctx, {"success": False, "error": "no_permission"})
        assets = [
            a.lower() for a in body["assetIds"]
            if a.lower() in state.assets and state.assets[a.lower()].owner_id == user.id
        ]
        if not assets:
            return json_response(ctx, {"success": False, "error": "no_permission"})
        added = False
        for album in albums:
            for aid in assets:
                if aid not in album.asset_ids:
                    album.asset_ids.append(aid)
                    album.updated_at = now_iso()
                    added = True
    if added:
        return json_response(ctx, {"success": True})
    return json_response(ctx, {"success": False, "error": "duplicate"})
