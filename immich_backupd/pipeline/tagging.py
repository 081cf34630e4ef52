"""Tags in the pass: ``tags`` and ``folder_as_tags`` of an include folder on its files.

Real servers (v3.1.0 and newer, measured) can lose a tag set right after an upload for
good: the sidecar-write and metadata jobs re-apply the tags they read before. So a tag
set is not taken as done. The state keeps every (asset, tag) this client wants, when it
last set it, and whether it was seen to hold. Each pass, after the uploads:

1. the files recorded on the server in this pass (uploaded, or there already) add the
   pairs their include folder asks for; when the tag settings differ from those of the
   last pass (meta ``tag_settings``: tags added to a folder backed up before), every
   file the state has on the server below those folders does;
2. the open pairs are read back, one metadata search per tag (``assets_with_tag``), for
   those set in an earlier pass;
3. :func:`tag_actions` decides: a pair never set, or set and not seen, is set (again);
   one seen at least :data:`CONFIRM_AFTER` after it was set is done, since the server's
   jobs for a fresh upload have run by then; one seen sooner is read again next pass.
4. A tag is set with ``PUT /tags/{id}/assets``, which answers for each asset: a pair the
   asset had already (``duplicate``) and this client never set is not its own (the
   user's, or from the file's keywords): done, with no ``set_at``, and never taken off.

So tags converge over passes: every pass re-sets what was lost, and a pair stops costing
anything once it held for a while. When the settings changed, the pairs this client set
that the config no longer asks for are taken off (untagging.py), converging the same
way. A request that fails is said in the log and tried again next pass; a key without
``tag.create``/``tag.asset`` is said once per pass.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from ..immich.errors import ApiError, ErrorKind, TransportError
from ..rules import AlbumRules
from ..state import StateStore
from .connect import raise_if_fatal
from .followups import TAG_SETTINGS_KEY, tag_settings_text
from .server import PassServer
from .untagging import forget_unwanted, take_off_tags

log = logging.getLogger("immich_backupd.tags")

CONFIRM_AFTER = 600.0  # seconds: a fresh upload's metadata and sidecar jobs are done
BATCH = 1000  # assets per PUT /tags/assets


class OpenTag(NamedTuple):
    """A tag this client wants on an asset and has not yet seen hold."""

    remote_id: str
    tag: str
    set_at: float | None  # None: not set yet


class TagActions(NamedTuple):
    send: dict[str, list[str]]  # tag → the assets to set it on (again)
    confirm: list[tuple[str, str]]  # (asset, tag) seen to hold: done


def tag_actions(rows: Iterable[OpenTag], seen: Mapping[str, set[str]], now: float, *,
                confirm_after: float = CONFIRM_AFTER) -> TagActions:
    """What to do with the open tags, given ``seen`` (tag → assets that have it, read
    back for every tag of a row set before). Pure."""
    send: dict[str, list[str]] = defaultdict(list)
    confirm: list[tuple[str, str]] = []
    for row in rows:
        if row.set_at is None or row.remote_id not in seen.get(row.tag, ()):
            send[row.tag].append(row.remote_id)
        elif now - row.set_at >= confirm_after:
            confirm.append((row.remote_id, row.tag))
    return TagActions(dict(send), confirm)


async def sync_tags(client: PassServer, store: StateStore, rules: AlbumRules,
                    folders: Iterable[Path], now: float) -> int:
    """Want the tags of the files of ``folders``, read back and (re)set the open ones.
    Return how many (asset, tag) pairs were sent. ``client``: the pass's retrying server
    (server.Retrying): a failure here has been tried again already."""
    wanted = []
    for folder in sorted(set(folders)):
        for name, remote_id in (await store.on_server_in(folder)).items():
            wanted += [(remote_id, tag) for tag in rules.tags_for(folder / name)]
    settings = tag_settings_text(rules)
    changed = settings != await store.get_meta(TAG_SETTINGS_KEY)
    if changed:  # files backed up before these settings get their tags too
        for naming in rules.tag_settings:
            for path, remote_id in await store.on_server_under(naming.root):
                wanted += [(remote_id, tag) for tag in rules.tags_for(path)]
    await store.want_tags(wanted)
    if changed:
        await forget_unwanted(store, rules)
        await store.set_meta(TAG_SETTINGS_KEY, settings)
    rows = [OpenTag(*row) for row in await store.open_tags()]
    try:
        sent = await _converge(client, store, rows, now) if rows else 0
        await take_off_tags(client, store, now)
        return sent
    except ApiError as exc:
        if exc.kind is not ErrorKind.PERMISSION:
            raise
        log.warning("no tags: the API key lacks a permission (%s); give it tag.create, "
                    "tag.asset and asset.read", exc.message)
        return 0


async def _converge(client: PassServer, store: StateStore, rows: list[OpenTag],
                    now: float) -> int:
    try:
        ids = await client.upsert_tags(sorted({r.tag for r in rows}))
        await store.save_tag_ids(ids)
        seen: dict[str, set[str]] = {}
        for tag in sorted({r.tag for r in rows if r.set_at is not None}):
            seen[tag] = await client.assets_with_tag(ids[tag])
    except (ApiError, TransportError) as exc:
        if isinstance(exc, ApiError) and exc.kind is ErrorKind.PERMISSION:
            raise
        raise_if_fatal(exc)
        log.warning("tags not updated (%s); tried again next pass", exc)
        return 0
    actions = tag_actions(rows, seen, now)
    await store.tags_confirmed(actions.confirm)
    fresh = {(r.remote_id, r.tag) for r in rows if r.set_at is None}
    sent = 0
    for tag, assets in sorted(actions.send.items()):
        for start in range(0, len(assets), BATCH):
            chunk = assets[start:start + BATCH]
            try:
                results = await client.add_tag(ids[tag], chunk)
            except (ApiError, TransportError) as exc:
                if isinstance(exc, ApiError) and exc.kind is ErrorKind.PERMISSION:
                    raise
                raise_if_fatal(exc)
                log.warning("tag %r not set on %d files (%s); tried again next pass", tag,
                            len(chunk), exc)
                continue
            mine, theirs = [], []
            for r in results:
                pair = (r.asset_id, tag)
                if r.success or (r.error == "duplicate" and pair not in fresh):
                    mine.append(pair)
                elif r.error == "duplicate":  # there before this client set it
                    theirs.append(pair)
                else:
                    log.warning("could not set tag %r on asset %s: %s; tried again next "
                                "pass", tag, r.asset_id, r.error or "unknown error")
            await store.tags_set(mine, now)
            await store.tags_confirmed(theirs)
            sent += len(mine)
    if sent:
        log.info("set %d tags; they are read back in a later pass", sent)
    return sent
