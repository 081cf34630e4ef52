"""The job queues: what an upload queues, pausing and resuming (admin only), the
refusals of the real server, and the modelled cost of running jobs."""

from __future__ import annotations

import asyncio

import pytest


async def test_queues_list_and_pause_and_resume(api, srv):
    status, body, _ = await api.call("GET", "/queues")
    assert status == 200, body
    api.check_response("GET", "/queues", status, body)
    names = {q["name"] for q in body}
    assert {"thumbnailGeneration", "metadataExtraction", "backgroundTask"} <= names
    path = "/queues/thumbnailGeneration"
    status, body, _ = await api.call("PUT", path, json={"isPaused": True})
    assert status == 200, body
    api.check_response("PUT", path, status, body)
    assert body["isPaused"] is True
    status, body, _ = await api.call("GET", path)
    assert (status, body["isPaused"]) == (200, True)
    status, body, _ = await api.call("PUT", path, json={"isPaused": False})
    assert (status, body["isPaused"]) == (200, False)
    assert srv.state.jobs.pause_log == [("thumbnailGeneration", True),
                                        ("thumbnailGeneration", False)]
    assert srv.state.violations == []


async def test_the_v2_server_has_queues_too(api2):
    status, body, _ = await api2.call("PUT", "/queues/metadataExtraction",
                                      json={"isPaused": True})
    assert (status, body["isPaused"]) == (200, True)
    api2.check_response("PUT", "/queues/metadataExtraction", status, body)


async def test_refusals_are_the_real_servers(api, srv):
    status, body, _ = await api.call("PUT", "/queues/backgroundTask", json={"isPaused": True})
    assert (status, body["message"]) == (400, "The BackgroundTask queue cannot be paused")
    _, key = srv.state.add_user_with_key()  # every permission, but not an admin
    status, body, _ = await api.call("GET", "/queues", key=key)
    assert (status, body["message"]) == (403, "Forbidden")
    status, body, _ = await api.call("PUT", "/queues/thumbnailGeneration",
                                     json={"isPaused": True}, key=key)
    assert status == 403
    limited = srv.state.create_api_key(srv.user.id, ["queue.read"])  # the admin's
    status, body, _ = await api.call("PUT", "/queues/thumbnailGeneration",
                                     json={"isPaused": True}, key=limited)
    assert (status, body["message"]) == (403, "Missing required permission: queue.update")
    status, body, _ = await api.call("PUT", "/queues/noSuchQueue", json={"isPaused": True})
    assert status == 400
    assert not srv.state.jobs.paused_names()


async def test_uploads_queue_jobs_that_wait_while_paused(api, srv):
    await api.call("PUT", "/queues/thumbnailGeneration", json={"isPaused": True})
    for i in range(3):
        status, body, _ = await api.upload(f"photo {i}".encode(), f"IMG_{i}.jpg")
        assert status == 201, body
    _, queues, _ = await api.call("GET", "/queues")
    by_name = {q["name"]: q for q in queues}
    assert by_name["thumbnailGeneration"]["statistics"]["paused"] == 3
    assert by_name["thumbnailGeneration"]["statistics"]["completed"] == 0
    assert by_name["metadataExtraction"]["statistics"]["completed"] == 3
    await api.call("PUT", "/queues/thumbnailGeneration", json={"isPaused": False})
    _, thumbs, _ = await api.call("GET", "/queues/thumbnailGeneration")
    assert thumbs["statistics"] == {"active": 0, "completed": 3, "delayed": 0, "failed": 0,
                                    "paused": 0, "waiting": 0}


@pytest.mark.parametrize("cost", [0.05])
async def test_jobs_with_a_cost_run_on_the_workers(api, srv, cost):
    srv.state.jobs.job_seconds = cost
    for i in range(2):
        await api.upload(f"photo {i}".encode(), f"IMG_{i}.jpg")
    for _ in range(200):
        _, q, _ = await api.call("GET", "/queues/thumbnailGeneration")
        if q["statistics"]["completed"] == 2:
            break
        await asyncio.sleep(0.02)
    assert q["statistics"]["completed"] == 2
