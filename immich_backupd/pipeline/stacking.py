"""Stacks in the pass: RAW+JPEG pairs and bursts of one folder become one server stack.

Runs after the uploads of a pass, over the folders in which the pass recorded a file
as on the server (uploaded, or found there already), so a pair whose halves reach the
server in different passes, or whose JPEG was on the server before, is stacked when its
second half arrives. Groups come from the file names the state has for the folder
(``stacks.stacks_in_folder``: never across folders); what to send from the stacks the
state remembers (``stacks.stack_requests``), because stacking again on a real server
replaces the stack and moves members out of other stacks: a stack is never sent twice.

With ``bursts``, iPhone bursts are grouped by the Apple burst id the state keeps for
each file (read with its hash, see hash.py; those backed up before, by burstread.py's
one-time read). A file of the folder being stacked whose id is still unread (one that
read left out, or whose read at hashing failed) has its headers read here, once; never
a cloud placeholder (reading it would download it), and a file that cannot be read now
is tried again next time.

A folder whose stacking failed (the server, the network, or a key without
``stack.create``) is kept in the state (meta ``stacks_pending``) and tried again in every
later pass until it succeeds. A key without ``stack.create`` is said once per pass and
ends nothing: the uploads are the backup, stacks are order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ..appleburst import may_have_burst, read_burst
from ..changes import is_placeholder
from ..config import StackSettings
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..placeholders import suspect
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


def switch_off(settings: StackSettings) -> str:
    """What to set for no stacks at all: each switch of ``settings`` that is on."""
    on = [name for name, value in (("raw_jpeg", settings.raw_jpeg),
                                   ("bursts", settings.bursts)) if value]
    return " and ".join(f"backup.stacks.{name}: false" for name in on)


class _NoPermission(Exception):
    """The key may not create stacks: stop stacking for this pass."""


async def _stack_folder(client: PassServer, store: StateStore,
                        settings: StackSettings, folder: Path, *, send: bool = True
                        ) -> int | None:
    """The stacks made in ``folder``; None when one failed or, without ``send``, one
    is due (tried again next pass)."""
    remote_ids = await store.on_server_in(folder)
    burst_ids = await _burst_ids(store, folder) if settings.bursts else {}
    groups = stacks_in_folder(remote_ids, raw_jpeg=settings.raw_jpeg, bursts=settings.bursts,
                              burst_ids=burst_ids)
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
                            "stack.create, or set %s", exc.message, switch_off(settings))
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


async def _burst_ids(store: StateStore, folder: Path) -> dict[str, str]:
    """Name → Apple burst id of the files of ``folder`` on the server that have one;
    those whose id was never read (NULL) are read now and kept."""
    known = await store.bursts_in(folder)
    unread = [name for name, burst in known.items() if burst is None and may_have_burst(name)]
    if unread:
        found = await asyncio.to_thread(_read_bursts, folder, unread)
        await store.set_bursts(folder, found)
        known.update(found)
    return {name: burst for name, burst in known.items() if burst}


def _read_bursts(folder: Path, names: list[str]) -> dict[str, str]:
    """In a thread: the burst ids ("" for none) of the files ``names`` of ``folder``
    that can be read now; cloud placeholders and unreadable files are left out."""
    found = {}
    for name in names:
        path = folder / name
        try:
            st = os.stat(path)
            if is_placeholder(st) or suspect(st.st_size, getattr(st, "st_blocks", 1)):
                continue
            found[name] = read_burst(path) or ""
        except OSError:
            continue
    return found
