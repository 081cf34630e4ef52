"""Albums: list, create, get, add assets - per the real server's result semantics.

Album names are not unique (creating the same name twice gives two albums). Adding
assets answers 200 even when every id fails; each id gets ``success``/``error`` where
the error is ``duplicate`` (already in the album) or ``no_permission`` (not the user's
asset - the real server cannot tell "unknown" from "not yours", so unknown ids get
``no_permission`` too). The response shape differs between v2 (``owner``, ``ownerId``,
``assets``) and v3 (owner only in ``albumUsers``; no ``assets`` list).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .api_server import user_dto
from .context import ApiError, RequestContext, json_response
from .state import Album, Asset, now_iso


def _duration_v2(asset: Asset) -> str:
    return asset.duration or "0:00:00.00000"


def asset_dto(ctx: RequestContext, asset: Asset, *, with_stack: bool = False) -> dict[str, Any]:
    """An ``AssetResponseDto`` with what the stand-in knows (no EXIF, no thumbnails);
    ``with_stack``: its ``stack`` (or null), as ``GET /assets/{id}`` shows it."""
    dto: dict[str, Any] = {
        "id": asset.id,
        "checksum": asset.checksum_b64,
        "createdAt": asset.created_at,
        "updatedAt": asset.created_at,
        "fileCreatedAt": asset.file_created_at,
        "fileModifiedAt": asset.file_modified_at,
        "localDateTime": asset.file_created_at,
        "hasMetadata": False,
        "height": None,
        "width": None,
        "isArchived": asset.visibility == "archive",
        "isEdited": False,
        "isFavorite": asset.is_favorite,
        "isOffline": False,
        "isTrashed": asset.is_trashed,
        "originalFileName": asset.original_file_name,
        "originalPath": f"/data/upload/{asset.owner_id}/{asset.id}",
        "ownerId": asset.owner_id,
        "thumbhash": None,
        "type": asset.type,
        "visibility": asset.visibility,
        "livePhotoVideoId": asset.live_photo_video_id,
    }
    if asset.tag_ids:
        from .api_tags import tag_dto  # api_tags builds on this module

        dto["tags"] = [tag_dto(ctx.state.tags[t]) for t in sorted(asset.tag_ids)]
    if ctx.major == 2:
        dto["deviceAssetId"] = asset.device_asset_id or ""
        dto["deviceId"] = asset.device_id or ""
        dto["duration"] = _duration_v2(asset)
    else:
        dto["duration"] = int(asset.duration) if (asset.duration or "").isdigit() else None
    if with_stack:
        stack = ctx.state.stacks.get(asset.stack_id or "")
        dto["stack"] = None if stack is None else {
            "id": stack.id, "primaryAssetId": stack.primary_asset_id,
            "assetCount": len(ctx.state.stack_members(stack.id)),
        }
    return dto


def album_dto(ctx: RequestContext, album: Album, *, with_assets: bool) -> dict[str, Any]:
    state = ctx.state
    owner = state.users[album.owner_id]
    assets = [state.assets[a] for a in album.asset_ids if a in state.assets]
    dto: dict[str, Any] = {
        "id": album.id,
        "albumName": album.name,
        "description": album.description,
        "albumThumbnailAssetId": assets[0].id if assets else None,
        "assetCount": len(assets),
        "createdAt": album.created_at,
        "updatedAt": album.updated_at,
        "hasSharedLink": False,
        "isActivityEnabled": True,
        "shared": False,
        "order": "desc",
        "contributorCounts": [],
    }
    if assets:
        dates = sorted(a.file_created_at for a in assets)
        dto["startDate"], dto["endDate"] = dates[0], dates[-1]
        dto["lastModifiedAssetTimestamp"] = max(a.created_at for a in assets)
    if ctx.major == 2:
        dto["owner"] = user_dto(owner)
        dto["ownerId"] = owner.id
        dto["albumUsers"] = []
        dto["assets"] = [asset_dto(ctx, a) for a in assets] if with_assets else []
    else:
        dto["albumUsers"] = [{"role": "owner", "user": user_dto(owner)}]
    return dto


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
