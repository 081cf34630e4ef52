"""Tags in the pass: ``tags`` and ``folder_as_tags`` of an include folder on its files.

Real servers (v3.1.0 and newer, measured) can lose a tag set right after an upload for
good: the sidecar-write and metadata jobs re-apply the tags they read before. So a tag
set is not taken as done. The state keeps every (asset, tag) this client wants, when it
last set it, and whether it was seen to hold. Each pass, after the uploads:

1. the files recorded on the server in this pass (uploaded, or there already) add the
   pairs their include folder asks for; when the tag settings differ from those of the
   last pass (meta ``tag_settings``: tags added to a folder backed up before), every
   file the state has on the server below those folders does; a file moved on this
   disk (its folder renamed) loses the tags this client set that its path no
   longer asks for (untagging.py), so its tags follow its folder;
2. every open pair is sent, one ``PUT /tags/{id}/assets`` per tag and 1000 assets,
   whose answer for each asset is the check: made now, or had it already
   (``duplicate``);
3. :func:`tag_verdict` decides from that answer: made now is set (by this client: its
   own, checked again next pass); had it and never set by this client is not its own
   (the user's, or from the file's keywords): done, and never taken off; had it at
   least :data:`CONFIRM_AFTER` after this client set it is done, since the server's
   jobs for a fresh upload have run by then; had it sooner is checked again next pass.

The answer is exact where a metadata search is not: a search by a tag finds the assets
of the tags below it too (the server joins ``tag_closure``), so it would take a lost
``Old`` for held on a file that kept ``Old/Scans``. A pair the asset had already makes
nothing and starts no job on the server.

So tags converge over passes: every pass re-sets what was lost, and a pair stops costing
anything once it held for a while. When the settings changed, the pairs this client set
that the config no longer asks for are taken off (untagging.py), converging the same
way. A request that fails is said in the log and tried again next pass; a key without
``tag.create``/``tag.asset`` is said once per pass.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

from ..immich.errors import ApiError, ErrorKind, TransportError
from ..scan.rules import AlbumRules
from ..state import StateStore
from .connect import raise_if_refused_or_fatal
from .followups import TAG_SETTINGS_KEY, tag_settings_text
from .server import PassServer
from .untagging import forget_unwanted, take_off_tags

log = logging.getLogger("immich_backupd.tags")

CONFIRM_AFTER = 600.0  # seconds: a fresh upload's metadata and sidecar jobs are done
BATCH = 1000  # assets per PUT /tags/{id}/assets


class OpenTag(NamedTuple):
    """A tag this client wants on an asset and has not yet seen hold."""

    remote_id: str
    tag: str
    set_at: float | None  # None: not set yet


class TagVerdict(enum.Enum):
    """What the answer to setting an open tag says."""

    SET = "set"  # made now: this client's, checked again next pass
    HELD = "held"  # there, long enough after this client set it: done
    THEIRS = "theirs"  # there before this client ever set it: done, never taken off
    WAIT = "wait"  # there, but too soon after it was set to trust: checked again
    RETRY = "retry"  # refused: tried again next pass


def tag_verdict(row: OpenTag, error: str | None, now: float, *,
                confirm_after: float = CONFIRM_AFTER) -> TagVerdict:
    """The verdict on ``row`` from the server's answer for its asset: ``error`` None
    when the pair was made now, ``duplicate`` when the asset had the tag. Pure."""
    if error is None:
        return TagVerdict.SET
    if error != "duplicate":
        return TagVerdict.RETRY
    if row.set_at is None:
        return TagVerdict.THEIRS
    return TagVerdict.HELD if now - row.set_at >= confirm_after else TagVerdict.WAIT


async def sync_tags(client: PassServer, store: StateStore, rules: AlbumRules,
                    folders: Iterable[Path], now: float, *,
                    arrived: Collection[str] = ()) -> int:
    """Want the tags of the files of ``folders``, (re)set and check the open ones.
    ``arrived``: the assets of files moved on this disk this pass (a folder renamed):
    the tags this client set that their paths no longer ask for come off.
    Return how many (asset, tag) pairs were made. ``client``: the pass's retrying server
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
    elif arrived:
        await forget_unwanted(store, rules, assets=arrived)
    rows = [OpenTag(*row) for row in await store.open_tags()]
    try:
        sent = await _converge(client, store, rows, now) if rows else 0
        await take_off_tags(client, store, now)
        return sent
    except ApiError as exc:
        if exc.kind is not ErrorKind.PERMISSION:
            raise
        log.warning("no tags: the API key lacks a permission (%s); give it tag.create "
                    "and tag.asset", exc.message)
        return 0


async def _converge(client: PassServer, store: StateStore, rows: list[OpenTag],
                    now: float) -> int:
    try:
        ids = await client.upsert_tags(sorted({r.tag for r in rows}))
        await store.save_tag_ids(ids)
    except (ApiError, TransportError) as exc:
        raise_if_refused_or_fatal(exc)
        log.warning("tags not updated (%s); tried again next pass", exc)
        return 0
    by_tag: dict[str, dict[str, OpenTag]] = defaultdict(dict)
    for row in rows:
        by_tag[row.tag][row.remote_id] = row
    made = 0
    for tag, open_rows in sorted(by_tag.items()):
        assets = sorted(open_rows)
        for start in range(0, len(assets), BATCH):
            chunk = assets[start:start + BATCH]
            try:
                results = await client.add_tag(ids[tag], chunk)
            except (ApiError, TransportError) as exc:
                raise_if_refused_or_fatal(exc)
                log.warning("tag %r not set on %d files (%s); tried again next pass", tag,
                            len(chunk), exc)
                continue
            verdicts: dict[TagVerdict, list[tuple[str, str]]] = defaultdict(list)
            for r in results:
                row = open_rows.get(r.asset_id)
                if row is None:
                    continue
                error = None if r.success else (r.error or "unknown error")
                verdict = tag_verdict(row, error, now)
                verdicts[verdict].append((r.asset_id, tag))
                if verdict is TagVerdict.RETRY:
                    log.warning("could not set tag %r on asset %s: %s; tried again next "
                                "pass", tag, r.asset_id, error)
            await store.tags_set(verdicts[TagVerdict.SET], now)
            await store.tags_confirmed(verdicts[TagVerdict.HELD] + verdicts[TagVerdict.THEIRS])
            made += len(verdicts[TagVerdict.SET])
    if made:
        log.info("set %d tag%s; checked again in a later pass", made, "s" if made != 1 else "")
    return made
