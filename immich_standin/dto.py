"""The stand-in's response bodies: the DTOs of the official OpenAPI specs
(``AssetResponseDto``, ``AlbumResponseDto``, ``TagResponseDto``, ``UserResponseDto``,
``UserAdminResponseDto``) built from its state, as v2 or v3 shows them.

One module for them all, imported by the route modules (``api_*.py``): an asset's DTO
carries its tags, an album's its assets and owner, so the builders call one another and
no route module needs another's.
"""

from __future__ import annotations

from typing import Any

from .context import RequestContext
from .state import Album, Asset, Tag, User


def user_admin_dto(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "isAdmin": user.is_admin,
        "avatarColor": "primary",
        "createdAt": user.created_at,
        "updatedAt": user.created_at,
        "deletedAt": None,
        "license": None,
        "oauthId": "",
        "profileChangedAt": user.created_at,
        "profileImagePath": "",
        "quotaSizeInBytes": user.quota_size_in_bytes,
        "quotaUsageInBytes": user.quota_usage_in_bytes,
        "shouldChangePassword": False,
        "status": "active",
        "storageLabel": user.storage_label,
    }


def user_dto(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "avatarColor": "primary",
        "profileChangedAt": user.created_at,
        "profileImagePath": "",
    }


def tag_dto(tag: Tag) -> dict[str, Any]:
    """A ``TagResponseDto``."""
    dto: dict[str, Any] = {"id": tag.id, "name": tag.name, "value": tag.value,
                           "createdAt": tag.created_at, "updatedAt": tag.created_at}
    if tag.parent_id:
        dto["parentId"] = tag.parent_id
    return dto


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
