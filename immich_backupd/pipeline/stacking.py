"""Stacks in the pass: RAW+JPEG pairs and bursts of one folder become one server stack.

Runs after the uploads of a pass, over the folders in which the pass recorded a file
as on the server (uploaded, or found there already), so a pair whose halves reach the
server in different passes, or whose JPEG was on the server before, is stacked when its
second half arrives. When the stack settings differ from those it last ran with (meta
``stack_settings``: ``raw_jpeg`` or ``bursts`` switched on for a library backed up
before), it first groups the names of every folder's files on the server, from the
state alone (no file read), once, and stacks those folders too. Groups come from the
file names the state has for the folder (``stacks.stacks_in_folder``: never across
folders); what to send from the stacks the
state remembers, looked up by their files' server ids (``stacks.stack_requests``), because
stacking again on a real server replaces the stack (and with it what the user changed,
such as its cover) and moves members out of other stacks: a stack is never sent twice,
also after its folder was renamed. A group the state knows no stack of, with a file the
server had before this client sent it (status duplicate: a lost state, another tool),
or in a folder regrouped after a settings change (above), is first asked about
(``GET /assets/{id}``, one file at a time until one is in a stack): one stacked already
is left as it is and remembered, not sent.

With ``bursts``, iPhone bursts are grouped by the Apple burst id the state keeps for
each file (read with its hash, see hash.py; those backed up before, by burstread.py's
one-time read). A file of the folder being stacked whose id is still unread (one that
read left out, or whose read at hashing failed) has its headers read here, once; never
a cloud placeholder (reading it would download it), and a file that cannot be read now
is tried again next time.

A folder whose stacking failed (the server, the network, or a key without
``stack.create``, or without ``asset.read`` to ask) is kept in the state (meta
``stacks_pending``) and tried again in every later pass until it succeeds. A key
without a permission is said once per pass and ends nothing: the uploads are the
backup, stacks are order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from ..config import StackSettings
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..media.appleburst import may_have_burst
from ..media.stacks import KnownStack, by_asset, stack_requests, stacks_in_folder
from ..state import StateStore
from .burstread import burst_if_local
from .connect import raise_if_fatal
from .server import PassServer

log = logging.getLogger("immich_backupd.stacks")

PENDING_KEY = "stacks_pending"  # meta: JSON list of folders whose stacking failed
SETTINGS_KEY = "stack_settings"  # meta: the stack settings the folders were grouped with


async def sync_stacks(client: PassServer, store: StateStore, settings: StackSettings,
                      folders: Iterable[Path]) -> int:
    """Make the stacks of ``folders``, and of those whose stacking failed before, that
    are not on the server yet. Return how many stacks were made. ``client``: the pass's
    retrying server (server.Retrying): a failure here has been tried again already."""
    wanted = stack_settings_text(settings)
    kept = await store.get_meta(SETTINGS_KEY)
    changed = wanted != kept
    if not (settings.raw_jpeg or settings.bursts):
        if changed:
            await store.set_meta(SETTINGS_KEY, wanted)
        return 0
    before = json.loads(await store.get_meta(PENDING_KEY) or "[]")
    # Settings never kept and no pass before this one: a new state, whose files on the
    # server all came in this pass, whose folders are grouped below anyway.
    regroup = changed and (kept is not None or await store.had_earlier_pass())
    again = await _regroup(store, settings) if regroup else set()
    todo = sorted({*folders, *map(Path, before), *again})
    failed: list[Path] = []
    made = 0
    # Settings never kept (a new state, an earlier release): its stacks are its own.
    run = _Run(client, store, settings, ask_in=again if kept else set())
    for folder in todo:
        got = await run.folder(folder)
        if got is None:
            failed.append(folder)
        else:
            made += got
    if failed or before:
        await store.set_meta(PENDING_KEY, json.dumps([str(f) for f in failed]))
    if changed:  # those that failed are pending: tried again without this
        await store.set_meta(SETTINGS_KEY, wanted)
    return made


def stack_settings_text(settings: StackSettings) -> str:
    """The stack settings as kept in meta ``stack_settings``."""
    return json.dumps({"raw_jpeg": settings.raw_jpeg, "bursts": settings.bursts})


async def _regroup(store: StateStore, settings: StackSettings) -> set[Path]:
    """The stack settings changed (or were never kept): the folders whose files on the
    server make a group now, by their names and the burst ids the state has (none read
    here), wherever and whenever they were backed up. Once per change, one query."""
    found: set[Path] = set()
    files = 0
    async for folder, names in store.names_on_server():
        files += len(names)
        burst_ids = {n: b for n, b in names.items() if b} if settings.bursts else {}
        if stacks_in_folder(names, raw_jpeg=settings.raw_jpeg, bursts=settings.bursts,
                            burst_ids=burst_ids):
            found.add(folder)
    if found:
        log.info("the stack settings changed: %d files backed up before grouped by name, "
                 "%d folders with stacks to make or keep", files, len(found))
    return found


def switch_off(settings: StackSettings) -> str:
    """What to set for no stacks at all: each switch of ``settings`` that is on."""
    on = [name for name, value in (("raw_jpeg", settings.raw_jpeg),
                                   ("bursts", settings.bursts)) if value]
    return " and ".join(f"backup.stacks.{name}: false" for name in on)


class _NoPermission(Exception):
    """The key lacks a permission the stacking needs: stop sending for this pass."""


class _Run:
    """One pass's stacking: the stacks the state knows (read once, when a folder has a
    group), and whether the key was refused (said once; then only the folders that
    still need stacks are found, and kept for the next pass). ``ask_in``: the folders
    regrouped after a settings change, whose groups the server is asked about before
    any is stacked (the user may have stacked files of the library in Immich)."""

    def __init__(self, client: PassServer, store: StateStore,
                 settings: StackSettings, *, ask_in: set[Path]) -> None:
        self.client = client
        self.ask_in = ask_in
        self.store = store
        self.settings = settings
        self.known: dict[str, KnownStack] | None = None
        self.allowed = True

    async def folder(self, folder: Path) -> int | None:
        try:
            return await self._stack_folder(folder)
        except _NoPermission:
            self.allowed = False
            return None

    async def _stack_folder(self, folder: Path) -> int | None:
        """The stacks made in ``folder``; None when one failed or, the key refused,
        one is due (tried again next pass)."""
        store, settings = self.store, self.settings
        remote_ids = await store.on_server_in(folder)
        burst_ids = await _burst_ids(store, folder) if settings.bursts else {}
        groups = stacks_in_folder(remote_ids, raw_jpeg=settings.raw_jpeg,
                                  bursts=settings.bursts, burst_ids=burst_ids)
        if not groups:
            return 0
        if self.known is None:
            self.known = by_asset(KnownStack(*row) for row in await store.known_stacks())
        requests = stack_requests(groups, remote_ids, self.known)
        if requests and not self.allowed:
            return None
        adopted = {remote_ids[n] for n in await store.adopted_in(folder)} if requests else set()
        made: int | None = 0
        for request in requests:
            asking = not request.known and (
                folder in self.ask_in or bool(adopted.intersection(request.asset_ids)))
            try:
                found = await self._stacked_already(request.asset_ids) if asking else None
                if found is not None:  # made before the state knew it: left as it is
                    await self._remember(folder, request.key, *found, request.asset_ids)
                    log.info("the files of a stack in %s are stacked on the server "
                             "already; left as they are", folder, extra={"path": str(folder)})
                    continue
                stack_id, primary_id = await self.client.create_stack(request.asset_ids)
            except (ApiError, TransportError) as exc:
                if isinstance(exc, ApiError) and exc.kind is ErrorKind.PERMISSION:
                    # A key made without stack.create (or asset.read, to ask whether
                    # files are stacked already): backing up goes on, without stacks.
                    log.warning("no stacks: the API key lacks a permission (%s); give it "
                                "%s, or set %s", exc.message,
                                "asset.read" if asking else "stack.create",
                                switch_off(settings))
                    raise _NoPermission from exc
                raise_if_fatal(exc)
                log.warning("could not stack %s in %s (%s); tried again next pass",
                            request.key, folder, exc)
                made = None
                continue
            await self._remember(folder, request.key, stack_id, primary_id,
                                 request.asset_ids, request.replaces)
            log.info("stacked %d files in %s", len(request.asset_ids), folder,
                     extra={"path": str(folder)})
            if made is not None:
                made += 1
        return made

    async def _stacked_already(self, asset_ids: tuple[str, ...]) -> tuple[str, str] | None:
        """The stack (id, primary id) on the server that one of ``asset_ids`` is in
        already, or None: asked one file at a time, the cover first, until one is."""
        for asset_id in asset_ids:
            found = await self.client.asset_stack(asset_id)
            if found is not None:
                return found
        return None

    async def _remember(self, folder: Path, key: str, stack_id: str, primary_id: str,
                        asset_ids: tuple[str, ...], replaces: str | None = None) -> None:
        await self.store.save_stack(folder, key, stack_id, primary_id, asset_ids, replaces)
        stack = KnownStack(stack_id, primary_id, frozenset(asset_ids))
        known = self.known if self.known is not None else {}
        for old in [a for a, s in known.items() if s.stack_id == replaces]:
            del known[old]
        known.update(dict.fromkeys(asset_ids, stack))


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
        burst = burst_if_local(folder / name)
        if burst is not None:
            found[name] = burst
    return found
