"""Stacks in the pass: RAW+JPEG pairs and bursts of one folder become one server stack.

Runs after the uploads of a pass, over the folders in which the pass recorded a file
as on the server (uploaded, or found there already), so a pair whose halves reach the
server in different passes, or whose JPEG was on the server before, is stacked when its
second half arrives. Groups come from the file names the state has for the folder
(``stacks.stacks_in_folder``: never across folders); what to send from the stacks the
state remembers (``stacks.stack_requests``), because stacking again on a real server
replaces the stack and moves members out of other stacks: a stack is never sent twice.

A folder whose stacking failed (the server, the network, or a key without
``stack.create``) is kept in the state (meta ``stacks_pending``) and tried again in every
later pass until it succeeds. A key without ``stack.create`` is said once per pass and
ends nothing: the uploads are the backup, stacks are order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from ..config import StackSettings
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..stacks import KnownStack, stack_requests, stacks_in_folder
from ..state import StateStore
from .connect import raise_if_fatal
from .server import PassServer

log = logging.getLogger("immich_backupd.stacks")

PENDING_KEY = "stacks_pending"  # meta: JSON list of folders whose stacking failed


async def sync_stacks(client: PassServer, store: StateStore, settings: StackSettings,
                      folders: Iterable[Path]) -> int:
    """Make the stacks of ``folders``, and of those whose stacking failed before, that
    are not on the server yet. Return how many stacks were made. ``client``: the pass's
    retrying server (server.Retrying): a failure here has been tried again already."""
    if not (settings.raw_jpeg or settings.bursts):
        return 0
    before = json.loads(await store.get_meta(PENDING_KEY) or "[]")
    todo = sorted({*folders, *map(Path, before)})
    failed: list[Path] = []
    made = 0
    allowed = True
    for folder in todo:
        try:  # once the key was refused, only find the folders that still need stacks
            got = await _stack_folder(client, store, settings, folder, send=allowed)
        except _NoPermission:  # said once; the uploads are done
            allowed, got = False, None
        if got is None:
            failed.append(folder)
        else:
            made += got
    if failed or before:
        await store.set_meta(PENDING_KEY, json.dumps([str(f) for f in failed]))
    return made


class _NoPermission(Exception):
    """The key may not create stacks: stop stacking for this pass."""


async def _stack_folder(client: PassServer, store: StateStore,
                        settings: StackSettings, folder: Path, *, send: bool = True
                        ) -> int | None:
    """The stacks made in ``folder``; None when one failed or, without ``send``, one
    is due (tried again next pass)."""
    remote_ids = await store.on_server_in(folder)
    groups = stacks_in_folder(remote_ids, raw_jpeg=settings.raw_jpeg, bursts=settings.bursts)
    if not groups:
        return 0
    known = {key: KnownStack(*row) for key, row in (await store.stacks_in(folder)).items()}
    made: int | None = 0
    for request in stack_requests(groups, remote_ids, known):
        if not send:
            return None
        try:
            stack_id, primary_id = await client.create_stack(request.asset_ids)
        except (ApiError, TransportError) as exc:
            if isinstance(exc, ApiError) and exc.kind is ErrorKind.PERMISSION:
                # A key made without stack.create: backing up goes on, without stacks.
                log.warning("no stacks: the API key lacks a permission (%s); give it "
                            "stack.create, or set backup.stacks.raw_jpeg: false", exc.message)
                raise _NoPermission from exc
            raise_if_fatal(exc)
            log.warning("could not stack %s in %s (%s); tried again next pass",
                        request.key, folder, exc)
            made = None
            continue
        await store.save_stack(folder, request.key, stack_id, primary_id, request.asset_ids)
        log.info("stacked %d files in %s", len(request.asset_ids), folder,
                 extra={"path": str(folder)})
        if made is not None:
            made += 1
    return made
