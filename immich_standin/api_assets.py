"""Asset upload and duplicate checks, with the real server's observable quirks.

``POST /assets`` is streamed: the file part is hashed while it arrives and only its
SHA-1 and size are kept. The order of checks follows the real server's:

1. ``x-immich-checksum`` header matches an asset of the user: answer 200 duplicate at
   once, without reading the body, and close the connection under the client.
2. While parsing: a file part's extension is checked when its headers arrive, using the
   ``filename`` field instead if that came *earlier* (also for the sidecar: the quirk).
3. After the body: malformed multipart, no file, empty file, field validation, quota,
   live-photo link, then insert-unless-duplicate (atomic, so concurrent uploads of the
   same bytes give one 201 and 200s with the same id).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .context import ApiError, RequestContext, json_response
from .dto import asset_dto
from .media import asset_type_for, is_sidecar
from .multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from,
)
from .spec import Issue
from .state import Asset, decode_checksum, new_id

MAX_FIELD_BYTES = 1024 * 1024
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
BULK_CHECK_MAX_ITEMS = 65000
CHECKSUM_HEADER_RE = re.compile(r"^(?:[0-9a-fA-F]{40}|[A-Za-z0-9+/]{27}=)$")


@dataclass
class FilePart:
    name: str
    filename: str | None
    checked_name: str  # the name whose extension the server checked
    hasher: Any = field(default_factory=hashlib.sha1)
    size: int = 0
    data: bytearray | None = None  # kept only for the sidecar


@dataclass
class ReceivedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)
    type_error: ApiError | None = None  # "Unsupported file type", found while parsing
    issues: list[Issue] = field(default_factory=list)  # spec validation of the fields


async def receive_upload(ctx: RequestContext) -> ReceivedUpload:
    """Read the whole multipart body, hashing files; record violations and unknown fields.

    Raises :class:`ApiError` only for errors that end the request at once (a malformed
    or truncated body); other problems are returned in the result.
    """
    upload = ReceivedUpload()
    boundary = boundary_from(ctx.request.headers.get("Content-Type", ""))
    if boundary is None:
        ctx.violation("POST /assets needs Content-Type multipart/form-data with a boundary")
        await ctx.body().drain(limit=MAX_FIELD_BYTES)
        raise ApiError(400, "Multipart: Boundary not found", close=True)
    parser = MultipartParser(boundary)
    stream = ctx.body()
    current: FilePart | None = None
    text_name: str | None = None
    text_buf = bytearray()
    while True:
        chunk = await stream.read()
        if not chunk:
            break
        try:
            events = parser.feed(chunk)
        except MultipartError as exc:
            ctx.violation(f"malformed multipart body: {exc}")
            raise ApiError(400, f"Multipart: {exc}", close=True) from exc
        for event in events:
            if isinstance(event, PartStart):
                if event.filename is not None:
                    current = _start_file(ctx, upload, event.name or "", event.filename)
                    text_name = None
                else:
                    current, text_name = None, event.name or ""
                    text_buf.clear()
            elif isinstance(event, PartData):
                if current is not None:
                    current.hasher.update(event.data)
                    current.size += len(event.data)
                    if current.data is not None and len(current.data) < MAX_SIDECAR_BYTES:
                        current.data += event.data
                elif text_name is not None:
                    if len(text_buf) + len(event.data) > MAX_FIELD_BYTES:
                        raise ApiError(400, "Field value too long", close=True)
                    text_buf += event.data
            elif isinstance(event, PartEnd):
                if current is not None:
                    upload.files.setdefault(current.name, current)
                elif text_name is not None:
                    upload.fields[text_name] = text_buf.decode("utf-8", "replace")
                current, text_name = None, None
    try:
        parser.close()
    except MultipartError as exc:
        ctx.violation(f"truncated multipart body ({stream.received} bytes): {exc}")
        raise ApiError(400, str(exc), close=True) from exc

    assert ctx.op is not None
    issues, unknown = ctx.spec.validate_multipart(ctx.op, upload.fields, set(upload.files))
    if unknown:
        with ctx.state.lock:
            ctx.state.unknown_fields.extend(unknown)
    for issue in issues:
        ctx.violation(issue.text())
    upload.issues = issues
    return upload


def _start_file(
    ctx: RequestContext, upload: ReceivedUpload, name: str, filename: str
) -> FilePart:
    # The real server checks the extension when the part arrives, preferring a
    # `filename` field that was sent before it - for the sidecar too.
    checked = upload.fields.get("filename") or filename
    part = FilePart(name=name, filename=filename, checked_name=checked)
    if name == "assetData" and asset_type_for(checked) is None:
        upload.type_error = upload.type_error or ApiError(400, f"Unsupported file type {checked}")
    elif name == "sidecarData":
        part.data = bytearray()
        if not is_sidecar(checked):
            upload.type_error = upload.type_error or ApiError(
                400, f"Unsupported file type {checked}"
            )
    return part


async def upload_asset(ctx: RequestContext) -> web.Response:
    state = ctx.state
    user = ctx.require_user()
    state.bump("upload_requests")
    header = ctx.request.headers.get("x-immich-checksum")
    if header and not CHECKSUM_HEADER_RE.match(header):
        ctx.violation(f"x-immich-checksum {header!r} is neither 40 hex nor 28 base64 chars")
    if header:
        existing = state.find_asset_by_checksum(header, user.id)
        if existing is not None:
            state.bump("duplicates")
            state.bump("early_duplicates")
            ctx.note = "early duplicate (body not read)"
            return json_response(
                ctx, {"id": existing.id, "status": "duplicate"}, close_under_client=True
            )
    try:
        upload = await receive_upload(ctx)
        file = upload.files.get("assetData")
        if header and file is not None and decode_checksum(header) != file.hasher.digest():
            # The server trusts the header; a client sending a wrong one is buggy.
            ctx.violation("x-immich-checksum does not match the SHA-1 of the received file")
        return _finish_upload(ctx, upload)
    except ApiError:
        state.bump("upload_errors")
        raise


def _finish_upload(ctx: RequestContext, upload: ReceivedUpload) -> web.Response:
    state = ctx.state
    user = ctx.require_user()
    file = upload.files.get("assetData")
    if upload.type_error is not None:
        raise upload.type_error
    if file is None:
        raise ApiError(400, "File is required")
    if file.size == 0:
        raise ApiError(400, "File is empty")
    if upload.issues:
        raise ctx.validation_error(upload.issues, record=False)
    fields = upload.fields
    with state.lock:
        quota = user.quota_size_in_bytes
        if quota is not None and user.quota_usage_in_bytes + file.size > quota:
            raise ApiError(400, "Quota has been exceeded!")
        live_id = fields.get("livePhotoVideoId")
        if live_id:
            motion = _live_video(ctx, user.id, live_id)
            if motion.visibility == "timeline":
                motion.visibility = "hidden"
        sidecar = upload.files.get("sidecarData")
        asset = Asset(
            id=new_id(),
            owner_id=user.id,
            checksum=file.hasher.digest(),
            original_file_name=fields.get("filename") or file.filename or "",
            type=asset_type_for(file.checked_name) or "IMAGE",
            size=file.size,
            file_created_at=fields.get("fileCreatedAt", ""),
            file_modified_at=fields.get("fileModifiedAt", ""),
            visibility=fields.get("visibility", "timeline"),
            is_favorite=fields.get("isFavorite") == "true",
            live_photo_video_id=live_id.lower() if live_id else None,
            sidecar=bytes(sidecar.data) if sidecar and sidecar.data is not None else None,
            device_asset_id=fields.get("deviceAssetId"),
            device_id=fields.get("deviceId"),
            duration=fields.get("duration"),
        )
        stored, created = state.insert_asset_unless_duplicate(asset)
        if created:
            state.counters.created += 1
            state.jobs.enqueue(stored.type)
            return json_response(ctx, {"id": stored.id, "status": "created"}, 201)
        state.counters.duplicates += 1
        return json_response(ctx, {"id": stored.id, "status": "duplicate"})


def _live_video(ctx: RequestContext, owner_id: str, live_id: str) -> Asset:
    """The video a ``livePhotoVideoId`` names, as the real server checks it (on upload
    and on update): it exists, is a video and is the user's; else 400. Under the lock."""
    motion = ctx.state.assets.get(live_id.lower())
    if motion is None:
        raise ApiError(400, "Live photo video not found")
    if motion.type != "VIDEO":
        raise ApiError(400, "Live photo video must be a video")
    if motion.owner_id != owner_id:
        raise ApiError(400, "Live photo video does not belong to the user")
    return motion


async def bulk_upload_check(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    items: list[dict[str, Any]] = body["assets"]
    user = ctx.require_user()
    if not items:
        # The real server builds `WHERE checksum IN ()` and fails.
        raise ApiError(500, "Internal server error")
    if len(items) > BULK_CHECK_MAX_ITEMS:
        raise ApiError(500, "Internal server error")  # database parameter limit
    state = ctx.state
    results: list[dict[str, Any]] = []
    with state.lock:
        state.counters.bulk_checks += 1
        state.counters.bulk_items_checked += len(items)
        for item in items:
            raw = decode_checksum(item["checksum"])
            found = None if raw is None else state.find_asset_by_checksum(raw, user.id)
            if found is None:
                results.append({"id": item["id"], "action": "accept"})
            else:
                results.append({
                    "id": item["id"], "action": "reject", "reason": "duplicate",
                    "assetId": found.id, "isTrashed": found.is_trashed,
                })
    return json_response(ctx, {"results": results})


async def check_existing_assets(ctx: RequestContext) -> web.Response:
    """v2 only: ``POST /assets/exist`` (removed in v3)."""
    body = await ctx.json_body()
    user = ctx.require_user()
    wanted = set(body["deviceAssetIds"])
    with ctx.state.lock:
        existing = [
            a.device_asset_id for a in ctx.state.assets.values()
            if a.owner_id == user.id and a.device_id == body["deviceId"]
            and a.device_asset_id in wanted
        ]
    return json_response(ctx, {"existingIds": existing})


async def device_asset_ids(ctx: RequestContext) -> web.Response:
    """v2 only: ``GET /assets/device/{deviceId}`` (removed in v3)."""
    user = ctx.require_user()
    device = ctx.path_params["deviceId"]
    with ctx.state.lock:
        ids = [
            a.device_asset_id for a in ctx.state.assets.values()
            if a.owner_id == user.id and a.device_id == device and a.device_asset_id
        ]
    return json_response(ctx, ids)


async def get_asset(ctx: RequestContext) -> web.Response:
    """``GET /assets/{id}``: the asset with its ``stack``; not the user's (or unknown):
    400 ``Not found or no asset.read access``."""
    user = ctx.require_user()
    with ctx.state.lock:
        asset = ctx.state.assets.get(ctx.path_params["id"].lower())
        if asset is None or asset.owner_id != user.id:
            raise ApiError(400, "Not found or no asset.read access")
        return json_response(ctx, asset_dto(ctx, asset, with_stack=True))


async def update_asset(ctx: RequestContext) -> web.Response:
    """``PUT /assets/{id}`` (``UpdateAssetDto``, both majors): the fields a backup client
    sends. ``livePhotoVideoId`` links a video to a still afterwards, as the real server
    does: the video must exist, be a video and be the user's; once linked it is hidden
    (``null`` unlinks, and the video shows again). An asset that is not the user's is
    400 ``Not found or no asset.update access``."""
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        asset = state.assets.get(ctx.path_params["id"].lower())
        if asset is None or asset.owner_id != user.id:
            raise ApiError(400, "Not found or no asset.update access")
        if "livePhotoVideoId" in body:
            live_id = body["livePhotoVideoId"]
            if live_id is None:
                old = state.assets.get(asset.live_photo_video_id or "")
                if old is not None and old.visibility == "hidden":
                    old.visibility = "timeline"
                asset.live_photo_video_id = None
            else:
                motion = _live_video(ctx, user.id, live_id)
                motion.visibility = "hidden"
                asset.live_photo_video_id = motion.id
        if "isFavorite" in body:
            asset.is_favorite = bool(body["isFavorite"])
        if "visibility" in body:
            asset.visibility = body["visibility"]
        state.counters.updates += 1
        return json_response(ctx, asset_dto(ctx, asset))
