"""Async access to the state for the pipeline: the single writer.

One SQLite file in ``state_dir`` (WAL, so ``status`` and the worker threads can read
while a pass writes). It is the memory that makes a backup "exactly once" cheap: a file
whose (size, mtime_ns, inode) match its record is never opened again, and content
already on the server (by BLAKE3) is never uploaded again, whatever its path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from ..model import ON_SERVER, REACHED_END, SEEN_ON_SERVER, FileStatus, PassOutcome
from .bursts import SET_READ, unread_query
from .leaving import LEAVE, QUEUE
from .paths import join_path, split_path, split_paths
from .records import (
    ALBUMS_OF_FILES,
    DIR_ID,
    FILE_COLS,
    FILE_ROW,
    FILES,
    INSERT_COLS,
    ON_SERVER_UNDER,
    OPEN_TAGS,
    TAGS_SET,
    FileRecord,
    PassStats,
    by_folder,
    chunks,
    file_row,
    names_per_statement,
    row_to_record,
    rows_per_statement,
    under_params,
)
from .schema import DB_NAME, PRAGMAS, migrate
from .sidecars import SENT, SET_LATE


def _migrate_file(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(conn)
    finally:
        conn.close()


class StateStore:
    """Async access for the pipeline (aiosqlite: one connection, one thread)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._per_statement = rows_per_statement()
        self._names_per_statement = names_per_statement()
        # Many pipeline tasks write through one connection: a transaction must not
        # interleave with another task's statements.
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    @classmethod
    async def open(cls, state_dir: Path) -> StateStore:
        """Open (creating or migrating it, see :func:`.schema.migrate`) the state in
        ``state_dir``."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / DB_NAME
        await asyncio.to_thread(_migrate_file, path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        await conn.execute("PRAGMA cache_size=-16384")
        return cls(conn, path)

    async def close(self) -> None:
        await self._db.close()

    # -- meta ----------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key=?", (key,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    async def device_id(self) -> str:
        """A per-install id, sent as ``deviceId`` to v2 servers; stable across runs."""
        value = await self.get_meta("device_id")
        if value is None:
            value = f"immich-backupd-{uuid.uuid4()}"
            await self.set_meta("device_id", value)
        return value

    # -- files ---------------------------------------------------------------------
    async def get(self, path: Path) -> FileRecord | None:
        dir_key, name = split_path(path)
        async with self._db.execute(
            f"SELECT {FILE_COLS} FROM {FILES} WHERE d.path=? AND f.name=?", (dir_key, name)
        ) as cur:
            row = await cur.fetchone()
        return row_to_record(row) if row else None

    async def put(self, record: FileRecord) -> None:
        """Insert or replace one record, committed at once (autocommit)."""
        await self.put_many([record])

    async def put_many(self, records: Iterable[FileRecord]) -> None:
        records = list(records)
        await self.put_rows([
            file_row(dir_key, name, r.size, r.mtime_ns, r.ino, r.blake3, r.sha1, r.status,
                     r.remote_id, r.album, r.album_done, r.error, r.attempts, r.next_attempt_at,
                     r.burst)
            for r, (dir_key, name) in zip(records, split_paths(r.path for r in records),
                                          strict=True)])

    async def put_rows(self, records: Sequence[tuple[Any, ...]],
                       sidecars: Sequence[tuple[bytes, bytes, int | None, int | None]] = (),
                       *, hidden_videos: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """:meth:`put_many` for records made by :func:`file_row` (folder and name as
        bytes, see :func:`split_path`): the pipeline records a batch of outcomes without
        building a FileRecord for each. ``sidecars``: (folder, name, size, mtime_ns) of
        the sidecar that went up with each photo uploaded (size None: none), in the
        same transaction (see state/sidecars.py). ``hidden_videos``: (folder, name) of
        live-photo videos that these stills' uploads hid: they leave their album, and
        this client's own additions are queued for removal (see state/leaving.py)."""
        if not records:
            return
        now = time.time()
        rows = [(*r, now) for r in records]
        dirs = [(d,) for d in dict.fromkeys(row[0] for row in rows)]
        per = self._per_statement
        async with self._transaction() as db:
            await db.executemany("INSERT OR IGNORE INTO dirs(path) VALUES (?)", dirs)
            for i in range(0, len(rows), per):
                part = rows[i:i + per]
                await db.execute(
                    f"INSERT OR REPLACE INTO files({INSERT_COLS}) VALUES "
                    + ",".join([FILE_ROW] * len(part)),
                    [value for row in part for value in row],
                )
            if sidecars:
                await db.executemany(SENT, sidecars)
            if hidden_videos:
                await db.executemany(QUEUE, hidden_videos)
                await db.executemany(LEAVE, hidden_videos)

    async def set_late_sidecars(self, verdicts: Sequence[tuple[bool, bytes, bytes]]) -> None:
        """(late, folder, name) for photos whose sidecar the scan found added or changed
        since their upload (late) or back as it went up (see pipeline/sidecars.py)."""
        if not verdicts:
            return
        async with self._transaction() as db:
            await db.executemany(SET_LATE, [(int(late), d, n) for late, d, n in verdicts])

    async def forget(self, path: Path) -> None:
        await self.forget_many([path])

    async def forget_many(self, paths: Iterable[Path]) -> None:
        keys = split_paths(paths)
        if not keys:
            return
        async with self._transaction() as db:
            await self._each_folder(db, "DELETE FROM files", keys)

    async def pending_album_adds(self) -> list[FileRecord]:
        """Files on the server that are not yet confirmed in their album."""
        async with self._db.execute(
            f"SELECT {FILE_COLS} FROM {FILES} WHERE f.status IN (?, ?) AND f.album_done=0 "
            "AND f.album IS NOT NULL AND f.remote_id IS NOT NULL",
            ON_SERVER,
        ) as cur:
            rows = await cur.fetchall()
        return [row_to_record(r) for r in rows]

    async def _each_folder(self, db: aiosqlite.Connection, head: str,
                           keys: list[tuple[bytes, bytes]]) -> None:
        """``head`` (an UPDATE or DELETE of ``files``) for the records ``keys`` name, one
        statement per folder and chunk of names (see by_folder)."""
        for dir_key, names in by_folder(keys, self._names_per_statement):
            await db.execute(f"{head} WHERE dir={DIR_ID} AND name IN "
                             f"({','.join('?' * len(names))})", [dir_key, *names])

    async def seen_on_server(self, after: tuple[int, bytes] | None, limit: int
                             ) -> list[tuple[int, bytes, bytes, str, str | None]]:
        """Up to ``limit`` records whose place on the server ``verify`` asks again
        (status in SEEN_ON_SERVER, with a SHA-1), as (folder id, name, sha1, status,
        remote id), in key order after the key ``after`` (None: from the start). A
        range of the primary key a call: the whole table is read once, in pieces."""
        start = after if after is not None else (-1, b"")
        # "+f.status": filter, do not pick the status index (the rows come in key order).
        async with self._db.execute(
            "SELECT dir, name, sha1, status, remote_id FROM files f "
            "WHERE (dir, name) > (?, ?) AND +f.status IN (?, ?, ?, ?) AND sha1 IS NOT NULL "
            "ORDER BY dir, name LIMIT ?", (*start, *SEEN_ON_SERVER, limit),
        ) as cur:
            return list(await cur.fetchall())

    async def set_verdicts(self, rows: Sequence[tuple[str, str | None, bool, int, bytes]]
                           ) -> None:
        """Write what ``verify`` learnt: (status, remote id, album to be redone, folder
        id, name) a record, in one transaction."""
        if not rows:
            return
        now = time.time()
        async with self._transaction() as db:
            await db.executemany(
                "UPDATE files SET status=?, remote_id=?, "
                "album_done=CASE WHEN ? THEN 0 ELSE album_done END, error=NULL, "
                "updated_at=? WHERE dir=? AND name=?",
                [(s, r, a, now, d, n) for s, r, a, d, n in rows])

    async def albums_of_files(self) -> list[tuple[int, bytes, Path, str | None, int, bool]]:
        """(folder id, name, path, album, size, on the server) of every file the state
        knows (those not on the server tell a live photo's video from a plain one)."""
        async with self._db.execute(ALBUMS_OF_FILES, ON_SERVER) as cur:
            rows = await cur.fetchall()
        return [(i, n, join_path(d, n), a, size, bool(up)) for i, n, d, a, size, up in rows]

    async def move_to_albums(self, rows: Sequence[tuple[str | None, int, bytes]]) -> None:
        """(album, folder id, name): files that now belong in another album (None: none),
        to be added to it (``album_done`` cleared)."""
        if rows:
            async with self._transaction() as db:
                await db.executemany(
                    "UPDATE files SET album=?, album_done=0 WHERE dir=? AND name=?", rows)

    async def mark_album_done(self, paths: Iterable[Path]) -> None:
        keys = split_paths(paths)
        if not keys:
            return
        async with self._transaction() as db:
            await self._each_folder(db, "UPDATE files SET album_done=1", keys)

    async def album_removals(self) -> list[tuple[str, str]]:
        """(asset, album name) of the videos to take out of an album (state/leaving.py)."""
        async with self._db.execute("SELECT remote_id, album FROM album_removals") as cur:
            return [(r, a) for r, a in await cur.fetchall()]

    async def albums_left(self, rows: Iterable[tuple[str, str]]) -> None:
        """Forget (asset, album name) removals done (or that have nothing left to do)."""
        async with self._transaction() as db:
            await db.executemany("DELETE FROM album_removals WHERE remote_id=? AND album=?",
                                 list(rows))

    # -- stacks (pipeline/stacking.py) ---------------------------------------------
    async def on_server_in(self, folder: Path) -> dict[str, str]:
        """Name → server id of the files of ``folder`` (not below it) on the server."""
        async with self._db.execute(
            f"SELECT name, remote_id FROM files WHERE dir={DIR_ID} AND status IN (?, ?) "
            "AND remote_id IS NOT NULL", [_dir_key(folder), *ON_SERVER],
        ) as cur:
            rows = await cur.fetchall()
        return {os.fsdecode(name): remote_id for name, remote_id in rows}

    async def bursts_in(self, folder: Path) -> dict[str, str | None]:
        """Name → Apple burst id (None: not read, "": none) of the files of ``folder``
        on the server."""
        async with self._db.execute(
            f"SELECT name, burst FROM files WHERE dir={DIR_ID} AND status IN (?, ?) "
            "AND remote_id IS NOT NULL", [_dir_key(folder), *ON_SERVER],
        ) as cur:
            rows = await cur.fetchall()
        return {os.fsdecode(name): burst for name, burst in rows}

    async def set_bursts(self, folder: Path, found: Mapping[str, str]) -> None:
        """Keep the Apple burst ids read from files of ``folder`` whose records had none
        (name → id, "" for none)."""
        if not found:
            return
        async with self._transaction() as db:
            await db.executemany(
                f"UPDATE files SET burst=? WHERE dir={DIR_ID} AND name=?",
                [(burst, _dir_key(folder), os.fsencode(name)) for name, burst in found.items()])

    async def unread_bursts(self, after: tuple[int, bytes] | None, limit: int,
                            extensions: Iterable[str]
                            ) -> list[tuple[int, bytes, bytes, int, int, int]]:
        """Up to ``limit`` files on the server whose burst id was never read, named
        with one of ``extensions``, after the key ``after`` (None: from the start), as
        (folder id, folder path, name, size, mtime_ns, ino); see state/bursts.py."""
        start = after if after is not None else (-1, b"")
        async with self._db.execute(unread_query(extensions),
                                    (*start, *ON_SERVER, limit)) as cur:
            return list(await cur.fetchall())

    async def set_read_bursts(self, rows: Sequence[tuple[str, int, bytes, int, int, int]]
                              ) -> None:
        """Keep the ids read by the catch-up: (burst, folder id, name, and the size,
        mtime_ns and ino it was read under; a record changed since is left alone)."""
        if rows:
            async with self._transaction() as db:
                await db.executemany(SET_READ, rows)

    async def adopted_in(self, folder: Path) -> set[str]:
        """The names of the files of ``folder`` that the server had before this client
        sent them (status duplicate): they may be in a stack made without this state."""
        async with self._db.execute(
            f"SELECT name FROM files WHERE dir={DIR_ID} AND status=?",
            [_dir_key(folder), FileStatus.DUPLICATE],
        ) as cur:
            return {os.fsdecode(name) for name, in await cur.fetchall()}

    async def names_on_server(self) -> AsyncIterator[tuple[Path, dict[str, str | None]]]:
        """Each folder with files on the server, and their names → Apple burst id (None:
        not read, "": none): one query over the whole state, a folder at a time in key
        order (the stack settings changed: pipeline/stacking.py groups them by name)."""
        folder: tuple[int, bytes] | None = None
        names: dict[str, str | None] = {}
        async with self._db.execute(
            "SELECT f.dir, d.path, f.name, f.burst FROM files f JOIN dirs d ON d.id = f.dir "
            "WHERE f.status IN (?, ?) AND f.remote_id IS NOT NULL ORDER BY f.dir",
            ON_SERVER,
        ) as cur:
            async for dir_id, path, name, burst in cur:
                if folder is not None and folder[0] != dir_id:
                    yield Path(os.fsdecode(folder[1])), names
                    names = {}
                folder = (dir_id, path)
                names[os.fsdecode(name)] = burst
        if folder is not None:
            yield Path(os.fsdecode(folder[1])), names

    async def known_stacks(self) -> list[tuple[str, str, frozenset[str]]]:
        """(stack id, primary id, asset ids) of every stack the state knows is on the
        server, whichever folder its files were in then (stacks.by_asset looks them up
        by asset id)."""
        async with self._db.execute(
                "SELECT DISTINCT stack_id, primary_id, asset_ids FROM stacks") as cur:
            rows = await cur.fetchall()
        return [(sid, primary, frozenset(ids.split(","))) for sid, primary, ids in rows]

    async def save_stack(self, folder: Path, key: str, stack_id: str, primary_id: str,
                         asset_ids: Iterable[str], replaces: str | None = None) -> None:
        """Remember the stack made (or found on the server) for group ``key`` of
        ``folder``, replacing the one remembered for it before and the stack
        ``replaces`` wherever it was remembered (the server deleted both)."""
        async with self._transaction() as db:
            if replaces is not None:
                await db.execute("DELETE FROM stacks WHERE stack_id=?", (replaces,))
            await db.execute(
                f"INSERT OR REPLACE INTO stacks(dir, key, stack_id, primary_id, asset_ids) "
                f"VALUES({DIR_ID}, ?, ?, ?, ?)",
                (_dir_key(folder), key, stack_id, primary_id, ",".join(sorted(asset_ids))))

    # -- tags (pipeline/tagging.py) ------------------------------------------------
    async def want_tags(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Remember that asset ``remote_id`` should have ``tag`` (kept if known). A pair
        being taken off is wanted again with the time this client had set it: still its
        own, checked before it counts as held."""
        rows = list(pairs)
        if rows:
            async with self._transaction() as db:
                async with db.execute("SELECT EXISTS(SELECT 1 FROM tag_removals)") as cur:
                    removing = (await cur.fetchone() or (0,))[0]
                if removing:
                    await db.executemany(
                        "INSERT OR IGNORE INTO asset_tags(remote_id, tag, set_at) SELECT "
                        "remote_id, tag, set_at FROM tag_removals WHERE remote_id=? AND tag=?",
                        rows)
                    await db.executemany(
                        "DELETE FROM tag_removals WHERE remote_id=? AND tag=?", rows)
                await db.executemany(
                    "INSERT OR IGNORE INTO asset_tags(remote_id, tag) VALUES(?, ?)", rows)

    async def has_tags(self) -> bool:
        """True when this client keeps any tag pair (wanted, or being taken off)."""
        async with self._db.execute(
            "SELECT EXISTS(SELECT 1 FROM asset_tags) OR EXISTS(SELECT 1 FROM tag_removals)"
        ) as cur:
            row = await cur.fetchone()
        return bool(row and row[0])

    async def tags_of_files(self) -> list[tuple[str, str, Path]]:
        """(remote id, tag, path) of the tags this client set itself (``set_at`` known:
        not those the asset had before), once per file the state has on the server with
        that id."""
        async with self._db.execute(TAGS_SET, ON_SERVER) as cur:
            rows = await cur.fetchall()
        return [(r, t, join_path(d, n)) for r, t, d, n in rows]

    async def tags_of_assets(self, assets: Iterable[str]) -> list[tuple[str, str, Path]]:
        """:meth:`tags_of_files` for ``assets`` alone (a statement per 500)."""
        out: list[tuple[str, str, Path]] = []
        for part in chunks(sorted(set(assets)), 500):
            async with self._db.execute(
                    f"{TAGS_SET} AND t.remote_id IN ({','.join('?' * len(part))})",
                    [*ON_SERVER, *part]) as cur:
                out += [(r, t, join_path(d, n)) for r, t, d, n in await cur.fetchall()]
        return out

    async def unwant_tags(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Take (remote id, tag) pairs off the wanted ones, to be taken off the server."""
        rows = list(pairs)
        if rows:
            async with self._transaction() as db:
                await db.executemany(
                    "INSERT OR REPLACE INTO tag_removals(remote_id, tag, set_at) SELECT "
                    "remote_id, tag, set_at FROM asset_tags WHERE remote_id=? AND tag=?", rows)
                await db.executemany("DELETE FROM asset_tags WHERE remote_id=? AND tag=?", rows)

    async def tag_removals(self) -> list[tuple[str, str, float | None]]:
        """(remote id, tag, removal last sent at; None: not yet) of the pairs being taken
        off."""
        async with self._db.execute(
                "SELECT remote_id, tag, removed_at FROM tag_removals") as cur:
            return [(r, t, at) for r, t, at in await cur.fetchall()]

    async def tags_removed(self, pairs: Iterable[tuple[str, str]], now: float) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "UPDATE tag_removals SET removed_at=? WHERE remote_id=? AND tag=?",
                [(now, r, t) for r, t in pairs])

    async def removals_done(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Forget pairs taken off for good."""
        async with self._transaction() as db:
            await db.executemany("DELETE FROM tag_removals WHERE remote_id=? AND tag=?",
                                 list(pairs))

    async def tag_ids(self) -> dict[str, str]:
        """Tag path → the server's id, of the tags this client made."""
        async with self._db.execute("SELECT tag, id FROM tag_ids") as cur:
            return {t: i for t, i in await cur.fetchall()}

    async def save_tag_ids(self, ids: dict[str, str]) -> None:
        async with self._transaction() as db:
            await db.executemany("INSERT OR REPLACE INTO tag_ids(tag, id) VALUES(?, ?)",
                                 sorted(ids.items()))

    async def on_server_under(self, root: Path) -> list[tuple[Path, str]]:
        """(path, server id) of every file in or below ``root`` on the server."""
        async with self._db.execute(ON_SERVER_UNDER, under_params(root)) as cur:
            rows = await cur.fetchall()
        return [(Path(os.fsdecode(d)) / os.fsdecode(n), r) for d, n, r in rows]

    async def open_tags(self) -> list[tuple[str, str, float | None]]:
        """(remote id, tag, set at) of the tags not yet seen to hold, for assets the
        state still has on the server."""
        async with self._db.execute(OPEN_TAGS, ON_SERVER) as cur:
            return [(r, t, s) for r, t, s in await cur.fetchall()]

    async def tags_set(self, pairs: Iterable[tuple[str, str]], now: float) -> None:
        async with self._transaction() as db:
            await db.executemany("UPDATE asset_tags SET set_at=? WHERE remote_id=? AND tag=?",
                                 [(now, r, t) for r, t in pairs])

    async def tags_confirmed(self, pairs: Iterable[tuple[str, str]]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "UPDATE asset_tags SET confirmed=1 WHERE remote_id=? AND tag=?", list(pairs))

    # -- passes --------------------------------------------------------------------
    async def start_pass(self) -> int:
        async with self._transaction() as db:
            cur = await db.execute(
                "INSERT INTO passes(started_at, outcome) VALUES(?, ?)",
                (time.time(), PassOutcome.RUNNING.value))
        return int(cur.lastrowid or 0)

    async def had_earlier_pass(self) -> bool:
        """True if a pass started before the running one (the last row of ``passes``)."""
        async with self._db.execute(
                "SELECT EXISTS(SELECT 1 FROM passes WHERE id < (SELECT max(id) FROM passes))"
        ) as cur:
            row = await cur.fetchone()
        return bool(row and row[0])

    async def finish_pass(self, pass_id: int, stats: PassStats, outcome: PassOutcome) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                "UPDATE passes SET finished_at=?, outcome=?, seen=?, hashed=?, uploaded=?, "
                "duplicates=?, failed=?, bytes=?, duration=? WHERE id=?",
                (now, outcome.value, stats.seen, stats.hashed, stats.uploaded, stats.duplicates,
                 stats.failed, stats.bytes, now - stats.started_at, pass_id),
            )
        if outcome in REACHED_END:
            await self.set_meta("last_backup_at", str(now))


def _dir_key(folder: Path) -> bytes:
    """The state's key of ``folder`` (as :func:`split_path` gives it for its files)."""
    return split_path(folder / "_")[0]
