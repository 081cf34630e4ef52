"""Bulk-import mode against the stand-in: the real client pauses only the heavy queues
that were running, records them in a real state file first, resumes exactly those, and a
pass killed in between is made good at the next start. A key that may not do it costs one
warning, nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from immich_backupd.immich.client import ImmichClient
from immich_backupd.pipeline.jobpause import (
    HEAVY_QUEUES,
    META_KEY,
    JobPause,
    queues_to_pause,
    resume_leftovers,
    should_pause,
)
from immich_standin import StandinServer


@pytest.fixture
def srv() -> Iterator[StandinServer]:
    with StandinServer(version="3.1.0") as server:
        yield server



def test_the_decisions():
    assert should_pause(True, 1001, 1000) and not should_pause(True, 1000, 1000)
    assert not should_pause(False, 10**6, 1000)
    server = {"thumbnailGeneration": False, "metadataExtraction": True,
              "backgroundTask": False, "sidecar": False, "ocr": False}
    # Already paused by an admin: not ours to pause or resume. Not in HEAVY: left alone.
    assert queues_to_pause(server) == ["thumbnailGeneration", "ocr"]


async def test_pause_then_resume_only_what_was_running(srv, store):
    srv.state.jobs.set_paused("metadataExtraction", True)  # the admin's choice
    async with ImmichClient(srv.api_url, srv.api_key) as client:
        pause = JobPause(client, store)
        paused = await pause.pause()
        assert "metadataExtraction" not in paused
        assert set(paused) == set(HEAVY_QUEUES) - {"metadataExtraction"}
        assert set(srv.state.jobs.paused_names()) == set(HEAVY_QUEUES)
        assert json.loads(await store.get_meta(META_KEY)) == paused
        assert await pause.pause() == paused  # once per pass
        await pause.resume()
    assert srv.state.jobs.paused_names() == ["metadataExtraction"]
    assert not await store.get_meta(META_KEY)
    resumed = [name for name, flag in srv.state.jobs.pause_log if not flag]
    assert sorted(resumed) == sorted(paused)


async def test_a_pass_killed_while_paused_is_made_good_at_the_next_start(srv, store):
    async with ImmichClient(srv.api_url, srv.api_key) as client:
        await JobPause(client, store).pause()  # and then the process dies: no resume
    assert srv.state.jobs.paused_names()
    async with ImmichClient(srv.api_url, srv.api_key) as client:
        resumed = await resume_leftovers(client, store)
        assert set(resumed) == set(HEAVY_QUEUES)
        assert srv.state.jobs.paused_names() == []
        assert await resume_leftovers(client, store) == []  # nothing left


async def test_a_key_that_may_not_pause_warns_once_and_changes_nothing(srv, store):
    _, key = srv.state.add_user_with_key()  # a user, not an admin
    warnings: list[str] = []
    async with ImmichClient(srv.api_url, key) as client:
        pause = JobPause(client, store, warn=warnings.append)
        assert await pause.pause() == []
        assert await pause.pause() == []
    assert len(warnings) == 1 and "Forbidden" in warnings[0]
    assert srv.state.jobs.paused_names() == [] and srv.state.jobs.pause_log == []
    assert not await store.get_meta(META_KEY)


async def test_a_server_away_at_resume_keeps_the_record_for_the_next_try(srv, store):
    async with ImmichClient(srv.api_url, srv.api_key) as client:
        paused = await JobPause(client, store).pause()
    srv.faults.set_down("refuse")
    async with ImmichClient(srv.api_url, srv.api_key, timeout=2) as client:
        assert await resume_leftovers(client, store) == []
    assert json.loads(await store.get_meta(META_KEY)) == paused
    srv.faults.set_down(None)
    async with ImmichClient(srv.api_url, srv.api_key) as client:
        assert set(await resume_leftovers(client, store)) == set(paused)
    assert srv.state.jobs.paused_names() == []
