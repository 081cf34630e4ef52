"""The job queues (``/queues``: admin only, Alpha in v2.4+): list, read, pause/resume.

See :mod:`immich_standin.jobs` for what is modelled.
"""

from __future__ import annotations

from aiohttp import web

from .context import ApiError, RequestContext, json_response


async def list_queues(ctx: RequestContext) -> web.Response:
    jobs = ctx.state.jobs
    with jobs.lock:
        return json_response(ctx, [q.dto() for q in jobs.queues.values()])


async def get_queue(ctx: RequestContext) -> web.Response:
    jobs = ctx.state.jobs
    with jobs.lock:
        return json_response(ctx, jobs.queues[ctx.path_params["name"]].dto())


async def update_queue(ctx: RequestContext) -> web.Response:
    body = await ctx.json_body()
    jobs = ctx.state.jobs
    name = ctx.path_params["name"]
    if "isPaused" in body:
        try:
            jobs.set_paused(name, bool(body["isPaused"]))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
    with jobs.lock:
        return json_response(ctx, jobs.queues[name].dto())
