"""Server info, the current user and the current API key.

These are what a client calls first (version gate, media types, quota, permissions), so
their shapes follow the spec's response schemas closely enough to validate against them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import RequestContext, json_response
from .dto import user_admin_dto
from .media import media_types_response
from .spec import parse_version


async def ping(ctx: RequestContext) -> web.Response:
    return json_response(ctx, {"res": "pong"})


async def version(ctx: RequestContext) -> web.Response:
    major, minor, patch = parse_version(ctx.version)
    body: dict[str, Any] = {"major": major, "minor": minor, "patch": patch}
    if major >= 3:
        body["prerelease"] = None
    return json_response(ctx, body)


async def media_types(ctx: RequestContext) -> web.Response:
    return json_response(ctx, media_types_response())


async def users_me(ctx: RequestContext) -> web.Response:
    with ctx.state.lock:
        return json_response(ctx, user_admin_dto(ctx.require_user()))


async def api_key_me(ctx: RequestContext) -> web.Response:
    key = ctx.key
    assert key is not None
    return json_response(ctx, {
        "id": key.id,
        "name": key.name,
        "permissions": list(key.permissions),
        "createdAt": key.created_at,
        "updatedAt": key.updated_at,
    })
