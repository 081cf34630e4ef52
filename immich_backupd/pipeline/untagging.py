"""Taking off the tags the config no longer asks for (issue 18).

Contract: only a tag this client set itself is ever taken off, from the assets it set it
on: a pair the state keeps with the time it was set (``asset_tags.set_at``). A tag the
asset had before this client set it (the server answered ``duplicate``: the user's, or
read from the file's own keywords) and a tag the user added by hand are never touched.
Tags themselves (the tag objects, even left empty) are never deleted: the user may use
them elsewhere. A removal uses the id the tag had when this client made it (state
``tag_ids``), so a tag the user deleted is not made again: the server answers 400 for
it, and its pairs are forgotten (they went with the tag). Only pairs set by a release
before these ids were kept look their tag up by upsert.

When: once the tag settings changed (meta ``tag_settings``, see tagging.py), every pair
this client set is held against the tags its file's include folder asks for now
(``followups.unwanted_tags``); a pair asked for by none of the asset's files is moved to
``tag_removals``. So are, each pass, the pairs of the assets of files moved on this disk
(a folder renamed): their old folder's tags come off and
their new folder's are set (tagging.py). A file no longer below any include folder
keeps its tags (it is not
backed up any more, not set up otherwise). A pair put back in the config before its
removal is done is this client's again (``StateStore.want_tags``).

Converging: like a tag set, a removal can be undone by the server's jobs, so a removal
is not taken as done when it is answered. ``followups.removals_due`` decides each pass:
a pair never sent is sent; one sent at least ``REMOVAL_CHECK_AFTER`` ago is sent again,
as the check: the answer for each asset says whether the tag was back (success: taken off
again, checked again later) or not (``not_found``: gone, forgotten). Asking the server
to remove is exact where a metadata search is not (a search by a tag finds the assets
of its child tags too), and costs one request per tag and 1000 assets.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from ..immich.client import AlbumAddResult
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..scan.rules import AlbumRules
from ..state import StateStore
from .connect import raise_if_refused_or_fatal
from .followups import Removal, removals_due, unwanted_tags
from .server import PassServer

log = logging.getLogger("immich_backupd.tags")

BATCH = 1000  # assets per DELETE /tags/{id}/assets
GONE = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.NOT_FOUND})  # the tag is not there


async def forget_unwanted(store: StateStore, rules: AlbumRules,
                          assets: Collection[str] | None = None) -> int:
    """Move the pairs no include folder asks for any more to the removals; return how
    many. Called when the tag settings changed (every asset), and with ``assets`` for
    those of files moved on this disk this pass (a folder renamed: its files' old folder tags
    come off, :func:`followups.unwanted_tags` held against their paths now)."""
    if assets is not None:
        unwanted = unwanted_tags(await store.tags_of_assets(assets), rules) if assets else []
        if unwanted:
            await store.unwant_tags(unwanted)
            log.info("%d tag%s this client set on files now in another folder come off "
                     "(their folder's tags are set)", len(unwanted),
                     "s" if len(unwanted) != 1 else "")
        return len(unwanted)
    unwanted = unwanted_tags(await store.tags_of_files(), rules)
    if unwanted:
        await store.unwant_tags(unwanted)
        n = len(unwanted)
        log.info("%d %s no longer in the config: %s taken off those files (the tags "
                 "themselves, and tags set by hand, stay)", n,
                 "tag this client set is" if n == 1 else "tags this client set are",
                 "it is" if n == 1 else "they are")
    return len(unwanted)


async def take_off_tags(client: PassServer, store: StateStore, now: float) -> int:
    """Send the removals due; return how many pairs were taken off. ``client``: the
    pass's retrying server. A key without ``tag.asset`` raises (said by the caller)."""
    due = removals_due([Removal(*r) for r in await store.tag_removals()], now)
    if not due:
        return 0
    ids = await store.tag_ids()
    missing = [t for t in due if t not in ids]
    try:
        if missing:  # set by a release that did not keep the ids
            found = await client.upsert_tags(missing)
            await store.save_tag_ids(found)
            ids.update(found)
    except (ApiError, TransportError) as exc:
        raise_if_refused_or_fatal(exc)
        log.warning("tags not taken off (%s); tried again next pass", exc)
        return 0
    taken = 0
    for tag, assets in due.items():
        for start in range(0, len(assets), BATCH):
            chunk = assets[start:start + BATCH]
            try:
                results = await client.remove_tag(ids[tag], chunk)
            except (ApiError, TransportError) as exc:
                raise_if_refused_or_fatal(exc)
                if isinstance(exc, ApiError) and exc.kind in GONE:
                    log.info("tag %r is no longer on the server: nothing to take off", tag)
                    await store.removals_done([(a, tag) for a in assets])
                    break
                log.warning("tag %r not taken off %d files (%s); tried again next pass",
                            tag, len(chunk), exc)
                continue
            taken += await _record(store, tag, results, now)
    if taken:
        log.info("took %d tag%s off; checked again in a later pass", taken,
                 "s" if taken != 1 else "")
    return taken


async def _record(store: StateStore, tag: str, results: list[AlbumAddResult],
                  now: float) -> int:
    removed, gone = [], []
    for r in results:
        if r.success:
            removed.append((r.asset_id, tag))
        elif r.error == "not_found":  # not (or no longer) there: done
            gone.append((r.asset_id, tag))
        else:
            log.warning("could not take tag %r off asset %s: %s", tag, r.asset_id,
                        r.error or "unknown error")
    await store.tags_removed(removed, now)
    await store.removals_done(gone)
    return len(removed)
