"""The aiohttp application: one catch-all handler that routes by the spec.

Routing goes through the spec rather than aiohttp's router, so that an operation that
does not exist in the emulated version (e.g. ``POST /assets/exist`` on v3) is a 404 *and*
a recorded violation, and so that every request - including those answered by an
injected fault - is validated the same way. The order per request is the real server's:
down switch, faults, spec match, parameter validation, authentication (guards run
before validation pipes in NestJS), permission, handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import api_albums, api_assets, api_queues, api_server, api_stacks, api_tags
from .context import (
    CLOSE_UNDER_CLIENT,
    ApiError,
    BodyCutShort,
    ConnectionDropped,
    RequestContext,
    answer_then_drain,
    close_under_client,
    error_response,
    json_response,
    new_correlation_id,
    reason,
)
from .faults import FaultRule, Faults
from .spec import Spec, spec_for_version
from .state import RequestRecord, StandinState

logger = logging.getLogger(__name__)

Handler = Callable[[RequestContext], Awaitable[web.StreamResponse]]

ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/server/ping"): api_server.ping,
    ("GET", "/server/version"): api_server.version,
    ("GET", "/server/media-types"): api_server.media_types,
    ("GET", "/users/me"): api_server.users_me,
    ("GET", "/api-keys/me"): api_server.api_key_me,
    ("POST", "/assets"): api_assets.upload_asset,
    ("POST", "/assets/bulk-upload-check"): api_assets.bulk_upload_check,
    ("GET", "/assets/{id}"): api_assets.get_asset,
    ("PUT", "/assets/{id}"): api_assets.update_asset,
    ("POST", "/assets/exist"): api_assets.check_existing_assets,
    ("GET", "/assets/device/{deviceId}"): api_assets.device_asset_ids,
    ("GET", "/albums"): api_albums.list_albums,
    ("POST", "/albums"): api_albums.create_album,
    ("GET", "/albums/{id}"): api_albums.get_album,
    ("PUT", "/albums/{id}/assets"): api_albums.add_assets,
    ("DELETE", "/albums/{id}/assets"): api_albums.remove_assets,
    ("PUT", "/albums/assets"): api_albums.add_assets_to_albums,
    ("POST", "/stacks"): api_stacks.create_stack,
    ("GET", "/stacks"): api_stacks.search_stacks,
    ("DELETE", "/stacks"): api_stacks.delete_stacks,
    ("GET", "/stacks/{id}"): api_stacks.get_stack,
    ("PUT", "/stacks/{id}"): api_stacks.update_stack,
    ("DELETE", "/stacks/{id}"): api_stacks.delete_stack,
    ("DELETE", "/stacks/{id}/assets/{assetId}"): api_stacks.remove_asset,
    ("GET", "/tags"): api_tags.list_tags,
    ("PUT", "/tags"): api_tags.upsert_tags,
    ("PUT", "/tags/assets"): api_tags.tag_assets,
    ("PUT", "/tags/{id}/assets"): api_tags.tag_assets_of,
    ("DELETE", "/tags/{id}/assets"): api_tags.untag_assets,
    ("POST", "/search/metadata"): api_tags.search_metadata,
    ("GET", "/queues"): api_queues.list_queues,
    ("GET", "/queues/{name}"): api_queues.get_queue,
    ("PUT", "/queues/{name}"): api_queues.update_queue,
}

STATE_KEY = web.AppKey("standin_state", StandinState)
FAULTS_KEY = web.AppKey("standin_faults", Faults)
VERSION_KEY = web.AppKey("standin_version", str)
SPEC_KEY = web.AppKey("standin_spec", Spec)
LINGER_KEY = web.AppKey("standin_linger", float)


def build_app(
    state: StandinState, faults: Faults, version: str, *, close_linger: float = 0.5
) -> web.Application:
    app = web.Application(client_max_size=1024**4)
    app[LINGER_KEY] = close_linger
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    app[VERSION_KEY] = version
    app[SPEC_KEY] = spec_for_version(version)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _abort(request: web.Request) -> web.Response:
    """Abort the TCP connection; the returned response is never delivered."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


async def dispatch(request: web.Request) -> web.StreamResponse:
    app = request.app
    state, faults = app[STATE_KEY], app[FAULTS_KEY]
    cid = new_correlation_id()
    headers = {k: v for k, v in request.headers.items() if k.lower() != "x-api-key"}
    record = RequestRecord(
        method=request.method, path=request.path, query=request.query_string,
        status=None, correlation_id=cid, headers=headers,
    )
    try:
        if request.path == "/_standin/state" and request.method == "GET":
            record.status = 200
            resp = web.json_response(state.snapshot())
            resp.headers["X-Correlation-ID"] = cid
            return resp
        if faults.down_mode is not None:
            record.note = "server down: connection aborted"
            return _abort(request)
        ctx = RequestContext(
            request=request, state=state, spec=app[SPEC_KEY], version=app[VERSION_KEY],
            correlation_id=cid, plan=faults.plan_for(request.method, request.path),
        )
        try:
            resp = await _handle(ctx)
        except ApiError as err:
            resp = error_response(ctx, err)
        except (ConnectionDropped, BodyCutShort, asyncio.CancelledError):
            raise
        except Exception as exc:  # a stand-in bug: answer like Immich, keep serving
            logger.exception("stand-in internal error on %s %s", request.method, request.path)
            state.add_internal_error(f"{request.method} {request.path}: {exc!r}")
            resp = error_response(ctx, ApiError(500, "Internal server error"))
        record.status = resp.status
        record.note = ctx.note
        if resp.get(CLOSE_UNDER_CLIENT):
            await close_under_client(request, resp, app[LINGER_KEY])
        elif not request.content.at_eof():
            await answer_then_drain(request, resp)
        return resp
    except ConnectionDropped as exc:
        record.note = str(exc)
        return _abort(request)
    except BodyCutShort as exc:
        record.status = 400
        record.note = f"body cut short: {exc}"
        resp = web.json_response(
            {"message": "Request aborted", "error": "Bad Request", "statusCode": 400,
             "correlationId": cid}, status=400,
        )
        resp.headers["X-Correlation-ID"] = cid
        resp.force_close()
        return resp
    finally:
        state.record_request(record)


async def _handle(ctx: RequestContext) -> web.StreamResponse:
    request = ctx.request
    path = request.path
    for hook in ctx.plan.hooks:
        if hook.at_arrival:
            _run_hook(hook)
    if ctx.plan.latency:
        await asyncio.sleep(ctx.plan.latency)
    if not (path == "/api" or path.startswith("/api/")):
        raise ApiError(404, f"Cannot {request.method} {path}")
    rel = path[len("/api"):] or "/"
    match = ctx.spec.match(request.method, rel)
    issues = []
    if match is None:
        ctx.violation(f"no such operation in the v{ctx.spec.version} spec")
    else:
        ctx.op, ctx.path_params = match
        issues = ctx.spec.validate_params(ctx.op, ctx.path_params, dict(request.query))
        if issues:
            ctx.validation_error(issues)  # records the violations
    terminal = ctx.plan.terminal
    if terminal is not None and terminal.kind != "lost_answer":
        ctx.state.bump("faults_injected")
        return await _apply_fault(ctx, terminal)
    if match is None:
        raise ApiError(404, f"Cannot {request.method} {path}")
    assert ctx.op is not None
    handler = ROUTES.get((request.method, ctx.op.template))
    if handler is None:
        ctx.note = "operation exists in the spec but is not implemented by the stand-in"
        raise ApiError(404, f"Cannot {request.method} {path}")
    if ctx.op.needs_auth:
        _authenticate(ctx)
    if issues:
        raise ctx.validation_error(issues, record=False)
    resp = await handler(ctx)
    for hook in ctx.plan.hooks:
        if not hook.at_arrival:
            _run_hook(hook)
    if terminal is not None:  # lost_answer: done for real, but the answer never leaves
        ctx.state.bump("faults_injected")
        await ctx.body().drain()
        raise ConnectionDropped(f"fault #{terminal.id}: answer {resp.status} lost")
    return resp


def _run_hook(rule: FaultRule) -> None:
    """A test's callback: now (before the answer) or just after the answer went out."""
    if rule.callback is None:
        return
    if rule.after_answer:
        asyncio.get_running_loop().call_later(rule.seconds, rule.callback)
    else:
        rule.callback()


def _authenticate(ctx: RequestContext) -> None:
    secret = ctx.request.headers.get("x-api-key")
    if not secret:
        raise ApiError(401, "Authentication required")
    key = ctx.state.key(secret)
    if key is None:
        raise ApiError(401, "Invalid API key")
    ctx.key = key
    ctx.user = ctx.state.users[key.user_id]
    if ctx.op is not None and ctx.op.admin_only and not ctx.user.is_admin:
        raise ApiError(403, "Forbidden")
    permission = ctx.op.permission if ctx.op is not None else None
    if not key.allows(permission):
        raise ApiError(403, f"Missing required permission: {permission}")


async def _apply_fault(ctx: RequestContext, rule: FaultRule) -> web.StreamResponse:
    """Answer with an injected fault, still validating the body when it is read."""
    if rule.kind == "drop" or rule.read_body:
        # A "drop" rule aborts inside the body reader after `after_bytes`.
        await _consume_body(ctx)
        if rule.kind == "drop":
            raise ConnectionDropped("dropped at end of body")
    ctx.note = f"fault #{rule.id}: {rule.kind} {rule.status if rule.kind == 'status' else ''}"
    if rule.body is None:
        resp: web.Response = json_response(ctx, {
            "message": reason(rule.status), "statusCode": rule.status,
            "correlationId": ctx.correlation_id,
        }, rule.status)
    else:
        resp = web.Response(
            status=rule.status, text=rule.body, content_type=rule.content_type,
        )
        resp.headers["X-Correlation-ID"] = ctx.correlation_id
    if rule.retry_after is not None:
        resp.headers["Retry-After"] = rule.retry_after
    resp.headers.update(rule.extra_headers)
    if not rule.read_body:
        resp.force_close()  # answered before the body: drain it, then close
    return resp


async def _consume_body(ctx: RequestContext) -> None:
    """Read the request body as the real handler would, for validation's sake."""
    if ctx.op is None or not ctx.op.body_content_types:
        await ctx.body().drain()
        return
    try:
        if "multipart/form-data" in ctx.op.body_content_types:
            await api_assets.receive_upload(ctx)
        else:
            await ctx.json_body()
    except ApiError:
        pass
    await ctx.body().drain()
