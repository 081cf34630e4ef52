"""The check stage: ask the server which hashed files it already has.

Between hashing and uploading. Hashed units come in through the check queue (lists of
units, ended by :data:`END`); the stage asks ``bulk-upload-check`` about them in
batches of up to ``batch_size`` files (or whatever came within CHECK_WAIT of a batch's
first group, when the uploaders are about to idle), hands the answers the server
settles to the record stage (already there, in its trash, a type it refuses) and puts
the units still to send in the upload queue, ending it with one END per uploader.

One request's worth at a time: a batch is asked about a part (``batch_size`` files) at
a time, and that part's uploads are queued before the next part is asked about, so the
check runs no further ahead of the uploads than one request and the upload queue,
however large the groups the hashers hand over; a fatal answer then stops the pass
early (tests/reliability/test_stops_recorded.py).

The check is an optimisation: when it fails (not fatally), the files are uploaded with
their checksum header and the server answers "duplicate" instead of storing a copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

from ..immich.errors import ApiError, TransportError
from ..model import Outcome
from ..state import DUPLICATE, TRASHED, UNSUPPORTED
from .connect import raise_if_fatal
from .plan import END, Unit, unfinished_units
from .record import Done, Recorder
from .server import PassServer

log = logging.getLogger("immich_backupd.pipeline")

CHECK_WAIT = 0.05  # seconds a bulk-check batch waits for more units before it goes
TRASHED_REASON = "in the Immich trash: not uploaded again; restore it there to keep it"


class CheckStage:
    """Checks units with the server and queues the ones to upload.

    ``stopping()``: the pass takes no new work. ``on_queued(n)``: called after each
    part with the files the check has left to upload so far (the bulk-import mode
    pauses the server's job queues by it); awaited only when it returns an awaitable.
    ``ends_sent``: the end markers put in the upload queue so far (the pass sends the
    rest when the stage ends early)."""

    def __init__(self, api: PassServer, recorder: Recorder, *, batch_size: int,
                 stopping: Callable[[], bool],
                 on_queued: Callable[[int], Awaitable[None] | None] = lambda n: None
                 ) -> None:
        self.api = api
        self.recorder = recorder
        self.batch_size = batch_size
        self.stopping = stopping
        self.on_queued = on_queued
        self.to_upload = 0
        self.ends_sent = 0

    async def run(self, check_q: asyncio.Queue[object], upload_q: asyncio.Queue[object],
                  n_uploaders: int) -> None:
        """Check what comes through ``check_q`` until its END; then end ``upload_q``
        for each of the ``n_uploaders`` (only on a normal end)."""
        loop = asyncio.get_running_loop()
        ended = False
        while not ended:
            batch: list[Unit] = []
            count = 0
            item = await check_q.get()
            deadline = loop.time() + CHECK_WAIT
            while True:
                if item is END:
                    ended = True
                    break
                assert isinstance(item, list)
                batch += item
                count += sum(len(u.members) for u in item)
                if count >= self.batch_size:
                    break
                try:
                    item = check_q.get_nowait()
                    continue
                except asyncio.QueueEmpty:
                    pass
                if upload_q.qsize() < n_uploaders:
                    break  # the uploaders are about to idle: waiting would stall them
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await check_q.get()
                except TimeoutError:
                    break
            if batch and not self.stopping():
                await self.check_batch(batch, upload_q)
        for _ in range(n_uploaders):
            await upload_q.put(END)
            self.ends_sent += 1

    async def check_batch(self, batch: list[Unit], upload_q: asyncio.Queue[object]) -> None:
        """Check ``batch`` one request (``batch_size`` files) at a time, queueing each
        part's uploads before asking about the next."""
        for part in parts(batch, self.batch_size):
            if self.stopping():
                return
            await self.check_part(part, upload_q)

    async def check_part(self, part: list[Unit], upload_q: asyncio.Queue[object]) -> None:
        pending = [c for u in part for c in u.members if c.outcome is None]
        ids = {str(i): c for i, c in enumerate(pending)}
        items = [(i, c.sha1) for i, c in ids.items() if c.sha1 is not None]
        results = []
        if items:
            try:
                results = await self.api.bulk_upload_check(items)
            except (ApiError, TransportError) as exc:
                raise_if_fatal(exc)
                log.warning("bulk-upload-check failed (%s); uploading with checksum only",
                            exc)
        outcomes: list[Done] = []
        linking = {id(u.members[0]) for u in part if u.link_to is not None}
        for r in results:
            cand = ids.get(r.id)
            if cand is None or r.accept:
                continue
            if r.reason == "duplicate" and r.asset_id:
                cand.remote_id = r.asset_id
                if id(cand) in linking and not r.is_trashed:
                    continue  # a late video already up: an upload worker links it
                if r.is_trashed:
                    outcomes.append(Outcome(cand, TRASHED, r.asset_id, TRASHED_REASON))
                else:
                    outcomes.append(Outcome(cand, DUPLICATE, r.asset_id))
            elif r.reason == "unsupported-format":
                outcomes.append(Outcome(cand, UNSUPPORTED, None, "unsupported file type"))
        await self.recorder.later(outcomes)
        unfinished = unfinished_units(part)
        self.to_upload += sum(c.outcome is None for u in unfinished for c in u.members)
        waiting = self.on_queued(self.to_upload)
        if waiting is not None:
            await waiting
        for unit in unfinished:
            await upload_q.put(unit)


def parts(units: list[Unit], size: int) -> Iterator[list[Unit]]:
    """Split units, kept whole, into parts of at most ``size`` members still without an
    outcome (a unit larger than ``size`` is a part of its own)."""
    part: list[Unit] = []
    n = 0
    for unit in units:
        k = sum(c.outcome is None for c in unit.members)
        if part and n + k > size:
            yield part
            part, n = [], 0
        part.append(unit)
        n += k
    if part:
        yield part
