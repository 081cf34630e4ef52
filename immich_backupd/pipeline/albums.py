"""Album sync: each backed-up file goes into the server album its include folder names.

Runs after the uploads of a pass, over every file the state has not yet confirmed in
its album (so a pass that was interrupted, or album_sync turned on later, catches up).
The album list is read once per pass. Names are not unique on the server, so an album
is never created blindly: the list is read, and the missing albums created, under a
lock that every immich-backupd of this user on this machine shares (two configs on the
same folders), so that each album is created once. Across
machines, where no lock is shared, every client picks the oldest of albums of the same
name (see ``ImmichClient.albums``). Assets are added in batches, and each per-id result
is read, since the server answers 200 even when every id fails.

When the album settings of the include folders change (``album:``; meta
``album_settings``), :func:`follow_album_settings` moves the files already on the server
to the album they belong in now (the state's ``album``, no longer done), so that this
sync adds them, in batches like any other. It only adds: the album a file was in before
is left as it is (the user may have curated it; files are never taken out of an
album), and ``album: none`` adds nothing.

A live photo's video that was backed up before its still went into the album as an
ordinary file; the still's upload hides it (state/leaving.py), and this sync takes it
out of the album again (``DELETE /albums/{id}/assets``, ``albumAsset.delete``): the one
removal, of this client's own addition, in batches with the album list read once.

``client`` is the pass's retrying server (``server.Retrying``): a call that fails here
has been tried again already.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from ..immich.errors import ApiError, TransportError
from ..media.kinds import MediaTypes
from ..scan.rules import AlbumRules
from ..state import StateStore
from .albumlock import album_creation_lock
from .connect import raise_if_fatal
from .followups import ALBUM_SETTINGS_KEY, FileAlbum, album_settings_text, moved_albums
from .server import PassServer

log = logging.getLogger("immich_backupd.albums")

BATCH = 1000


async def follow_album_settings(store: StateStore, rules: AlbumRules, media: MediaTypes
                                ) -> int:
    """When the album settings changed since the last pass, move the files on the server
    to the albums they belong in now (added by :func:`sync_albums`); return how many."""
    settings = album_settings_text(rules)
    if settings == await store.get_meta(ALBUM_SETTINGS_KEY):
        return 0
    files = [FileAlbum(*row) for row in await store.albums_of_files()]
    moved = moved_albums(files, rules, media)
    if moved:
        await store.move_to_albums(moved)
        n = len(moved)
        log.info("album settings changed: %d %s added to the %s now; the %s left "
                 "as %s (files are never taken out of an album)", n,
                 "file backed up before is" if n == 1 else "files backed up before are",
                 "album it belongs in" if n == 1 else "albums they belong in",
                 "album it was in is" if n == 1 else "albums they were in are",
                 "it is" if n == 1 else "they are")
    await store.set_meta(ALBUM_SETTINGS_KEY, settings)
    return len(moved)


async def sync_albums(client: PassServer, store: StateStore, *, user_id: str = "") -> int:
    """Add pending files to their albums, and take the videos that became a live
    photo's hidden part out of theirs. Return how many files were confirmed in their
    album. ``user_id`` (the key's user) names the lock under which missing albums are
    created."""
    pending = await store.pending_album_adds()
    leaving = await store.album_removals()
    if not pending and not leaving:
        return 0
    by_album: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for record in pending:
        assert record.album is not None and record.remote_id is not None
        by_album[record.album][record.remote_id].append(record.path)
    async with album_creation_lock(client.api_url, user_id):
        try:
            existing = await client.albums()
        except (ApiError, TransportError) as exc:
            raise_if_fatal(exc)
            log.warning("cannot read the album list (%s); albums will be updated next pass",
                        exc)
            return 0
        await _create_missing(client, sorted(by_album), existing)
    if leaving:
        await _take_out(client, store, leaving, existing)
    confirmed = 0
    for name, assets in sorted(by_album.items()):
        if name not in existing:
            continue  # could not be created: said, and tried again next pass
        try:
            confirmed += await _fill_album(client, store, name, assets, existing)
        except (ApiError, TransportError) as exc:
            raise_if_fatal(exc)
            log.warning("album %r not updated (%s); retried next pass", name, exc)
    return confirmed


async def _fill_album(
    client: PassServer,
    store: StateStore,
    name: str,
    assets: dict[str, list[Path]],
    existing: dict[str, str],
) -> int:
    album_id = existing[name]
    ids = sorted(assets)
    confirmed = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        results = await client.add_to_album(album_id, chunk)
        done: list[Path] = []
        for r in results:
            if r.success or r.error == "duplicate":
                done.extend(assets.get(r.asset_id, ()))
            else:
                log.warning("could not add asset %s to album %r: %s", r.asset_id, name,
                            r.error or "unknown error")
        await store.mark_album_done(done)
        confirmed += len(done)
    return confirmed


async def _take_out(client: PassServer, store: StateStore, leaving: list[tuple[str, str]],
                    existing: dict[str, str]) -> None:
    """Take (asset, album name) out of the albums ``existing`` names; forget each one
    done, not there, or whose album is gone. Any other answer keeps it for next pass."""
    by_album: dict[str, list[str]] = defaultdict(list)
    for remote_id, name in leaving:
        by_album[name].append(remote_id)
    for name, ids in sorted(by_album.items()):
        ids.sort()
        album_id = existing.get(name)
        if album_id is None:  # the album is gone: nothing to take out of it
            await store.albums_left((i, name) for i in ids)
            continue
        taken = 0
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            try:
                results = await client.remove_from_album(album_id, chunk)
            except (ApiError, TransportError) as exc:
                raise_if_fatal(exc)
                log.warning("live photo videos not taken out of album %r (%s); retried "
                            "next pass", name, exc)
                break
            done = []
            for r in results:
                if r.success or r.error == "not_found":
                    done.append(r.asset_id)
                    taken += r.success
                else:
                    log.warning("could not take asset %s out of album %r: %s", r.asset_id,
                                name, r.error or "unknown error")
            await store.albums_left((i, name) for i in done)
        if taken:
            log.info("took %d live photo video%s out of album %r: each is shown by its "
                     "photo now, which came later", taken, "" if taken == 1 else "s", name)


async def _create_missing(client: PassServer, names: list[str],
                          existing: dict[str, str]) -> None:
    """Create the albums of ``names`` not in ``existing`` (the list just read, under the
    creation lock), and put their ids in it."""
    for name in names:
        if name in existing:
            continue
        try:
            existing[name] = await client.create_album(name)
        except (ApiError, TransportError) as exc:
            raise_if_fatal(exc)
            log.warning("album %r not created (%s); retried next pass", name, exc)
            continue
        log.info("created album %r", name)
