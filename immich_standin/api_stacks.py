"""Stacks: create, list, get, update, delete, remove one asset - per the real server.

What a client must know, modelled from the server's own code (``stack.service.ts``,
``stack.repository.ts``) and measured on real servers:

- ``POST /stacks`` takes ``assetIds`` (at least two, the first becomes the primary);
  every id must be the user's asset (else 400 ``Not found or no asset.update access``).
  Stacks whose *primary* is among the ids are deleted and their members merged into the
  new stack, so stacking the same pair again makes a new stack (new id) and deletes the
  old one. An id that is a non-primary member of another stack is moved out of it; that
  stack keeps its other members (even if only its primary is left).
- A stack's ``assets`` leave out trashed and hidden assets.
- Someone else's or an unknown stack: 400 ``Not found or no stack.<action> access``.
- ``GET /assets/{id}`` shows ``stack: {id, primaryAssetId, assetCount}`` (null when
  unstacked), see :func:`immich_standin.api_assets.get_asset`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import ApiError, RequestContext, json_response
from .dto import asset_dto
from .state import Stack


def stack_dto(ctx: RequestContext, stack: Stack) -> dict[str, Any]:
    """A ``StackResponseDto``."""
    return {
        "id": stack.id,
        "primaryAssetId": stack.primary_asset_id,
        "assets": [asset_dto(ctx, a) for a in ctx.state.stack_members(stack.id)],
    }


def no_content(ctx: RequestContext) -> web.Response:
    resp = web.Response(status=204)
    resp.headers["X-Correlation-ID"] = ctx.correlation_id
    return resp


def _own_stack(ctx: RequestContext, stack_id: str, action: str) -> Stack:
    stack = ctx.state.stacks.get(stack_id.lower())
    if stack is None or stack.owner_id != ctx.require_user().id:
        raise ApiError(400, f"Not found or no stack.{action} access")
    return stack


async def create_stack(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    user = ctx.require_user()
    state = ctx.state
    with state.lock:
        ids = [a.lower() for a in body["assetIds"]]
        if any(a not in state.assets or state.assets[a].owner_id != user.id for a in ids):
            raise ApiError(400, "Not found or no asset.update access")
        stack = state.create_stack(user.id, ids)
        return json_response(ctx, stack_dto(ctx, stack), 201)


async def search_stacks(ctx: RequestContext) -> web.Response:
    user = ctx.require_user()
    primary = ctx.request.query.get("primaryAssetId")
    with ctx.state.lock:
        stacks = [s for s in ctx.state.stacks.values() if s.owner_id == user.id
                  and (primary is None or s.primary_asset_id == primary.lower())]
        return json_response(ctx, [stack_dto(ctx, s) for s in stacks])


async def get_stack(ctx: RequestContext) -> web.Response:
    with ctx.state.lock:
        stack = _own_stack(ctx, ctx.path_params["id"], "read")
        return json_response(ctx, stack_dto(ctx, stack))


async def update_stack(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    with ctx.state.lock:
        stack = _own_stack(ctx, ctx.path_params["id"], "update")
        primary = (body.get("primaryAssetId") or "").lower()
        if primary:
            if primary not in {a.id for a in ctx.state.stack_members(stack.id)}:
                raise ApiError(400, "Primary asset must be in the stack")
            stack.primary_asset_id = primary
        return json_response(ctx, stack_dto(ctx, stack))


async def delete_stack(ctx: RequestContext) -> web.Response:
    with ctx.state.lock:
        stack = _own_stack(ctx, ctx.path_params["id"], "delete")
        ctx.state.delete_stack(stack.id)
    return no_content(ctx)


async def delete_stacks(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    with ctx.state.lock:
        stacks = [_own_stack(ctx, i, "delete") for i in body["ids"]]
        for stack in stacks:
            ctx.state.delete_stack(stack.id)
    return no_content(ctx)


async def remove_asset(ctx: RequestContext) -> web.Response:
    state = ctx.state
    with state.lock:
        stack = _own_stack(ctx, ctx.path_params["id"], "update")
        asset = state.assets.get(ctx.path_params["assetId"].lower())
        if asset is None or asset.stack_id != stack.id:
            raise ApiError(400, "Asset not in stack")
        if asset.id == stack.primary_asset_id:
            raise ApiError(400, "Cannot remove stack's primary asset")
        asset.stack_id = None
    return no_content(ctx)
