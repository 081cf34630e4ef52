"""The local state database: what was seen, hashed, uploaded, failed; and each pass.

One SQLite file in ``state_dir`` (WAL, so ``status`` can read while a pass writes).
It is the memory that makes a backup "exactly once" cheap: a file whose (size,
mtime_ns, inode) match its record is never opened again, and content already on the
server (by BLAKE3) is never uploaded again, whatever its path.

Paths are stored as bytes (``os.fsencode``) split into folder and name, so names that
are not valid UTF-8 survive, and the scanner can fetch one folder's records with one
query instead of one per file.

Losing this file loses no data: a fresh state re-learns from the server by checksum
(``bulk-upload-check``) without uploading again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from .errors import StateError
from .lock import DAEMON_LOCK_NAME, LOCK_NAME, is_locked
from .model import ON_SERVER, SEEN_ON_SERVER, FileStatus

DB_NAME = "state.sqlite3"

# Outcomes of a file, as stored in files.status (see model.FileStatus).
UPLOADED = FileStatus.UPLOADED
DUPLICATE = FileStatus.DUPLICATE
FAILED = FileStatus.FAILED
TRASHED = FileStatus.TRASHED
UNSUPPORTED = FileStatus.UNSUPPORTED
DELETED = FileStatus.DELETED
PENDING = FileStatus.PENDING

# Each entry migrates from version i to i+1. Never edit a shipped step; append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        dir BLOB NOT NULL,
        name BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        blake3 BLOB,
        sha1 BLOB,
        status TEXT NOT NULL,
        remote_id TEXT,
        album TEXT,
        album_done INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (dir, name)
    ) WITHOUT ROWID;
    CREATE INDEX files_blake3 ON files (blake3);
    CREATE INDEX files_status ON files (status);
    CREATE INDEX files_ino ON files (ino, size, mtime_ns);
    CREATE TABLE passes (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        outcome TEXT,
        seen INTEGER NOT NULL DEFAULT 0,
        hashed INTEGER NOT NULL DEFAULT 0,
        uploaded INTEGER NOT NULL DEFAULT 0,
        duplicates INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        duration REAL
    );
    """,
    # 2: folders in their own table, files keyed by its integer id. The folder's path
    # was repeated in the key of every row and of every index entry (a WITHOUT ROWID
    # table's indexes carry its key): 605 bytes a file. The content and inode indexes
    # take random inserts when a library is adopted (the pass's largest cost after
    # hashing), so they hold only what finds the candidates: the first 8 bytes of the
    # BLAKE3 (its full value is compared on the rows found) and the inode.
    """
    CREATE TABLE dirs (id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE);
    INSERT INTO dirs(path) SELECT DISTINCT dir FROM files ORDER BY dir;
    CREATE TABLE files_v2 (
        dir INTEGER NOT NULL REFERENCES dirs(id),
        name BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        blake3 BLOB,
        sha1 BLOB,
        status TEXT NOT NULL,
        remote_id TEXT,
        album TEXT,
        album_done INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (dir, name)
    ) WITHOUT ROWID;
    INSERT INTO files_v2
        SELECT d.id, f.name, f.size, f.mtime_ns, f.ino, f.blake3, f.sha1, f.status,
               f.remote_id, f.album, f.album_done, f.error, f.attempts, f.next_attempt_at,
               f.updated_at
        FROM files f JOIN dirs d ON d.path = f.dir ORDER BY d.id, f.name;
    DROP TABLE files;
    ALTER TABLE files_v2 RENAME TO files;
    CREATE INDEX files_content ON files (substr(blake3, 1, 8));
    CREATE INDEX files_status ON files (status);
    CREATE INDEX files_ino ON files (ino);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def split_path(path: Path | str) -> tuple[bytes, bytes]:
    """Return (folder, name) as bytes: the key of a file in the state."""
    return split_paths([path])[0]


def split_paths(paths: Iterable[Path | str]) -> list[tuple[bytes, bytes]]:
    """:func:`split_path` of many paths, encoding each folder once (a batch of records
    is mostly a few folders)."""
    dirs: dict[str, bytes] = {}
    out = []
    for path in paths:
        head, _, tail = os.fspath(path).rpartition("/")
        key = dirs.get(head)
        if key is None:
            key = dirs[head] = os.fsencode(head) or b"/"
        out.append((key, os.fsencode(tail)))
    return out


def join_path(dir_: bytes, name: bytes) -> Path:
    return Path(os.fsdecode(dir_.rstrip(b"/") + b"/" + name))


@dataclass(slots=True)
class FileRecord:
    """What the state knows of one path."""

    path: Path
    size: int
    mtime_ns: int
    ino: int
    status: str
    blake3: bytes | None = None
    sha1: bytes | None = None
    remote_id: str | None = None
    album: str | None = None
    album_done: bool = False
    error: str | None = None
    attempts: int = 0
    next_attempt_at: float | None = None
    updated_at: float = 0.0


@dataclass(slots=True)
class PassStats:
    """The figures of one pass, written to ``passes`` when it ends."""

    seen: int = 0
    hashed: int = 0
    uploaded: int = 0
    duplicates: int = 0
    failed: int = 0
    bytes: int = 0
    started_at: float = field(default_factory=time.time)


_FILE_COLS = (
    "d.path, f.name, f.size, f.mtime_ns, f.ino, f.blake3, f.sha1, f.status, f.remote_id, "
    "f.album, f.album_done, f.error, f.attempts, f.next_attempt_at, f.updated_at"
)
"""The columns of a record, as :func:`row_to_record` takes them, from ``_FILES``."""
_FILES = "files f JOIN dirs d ON d.id = f.dir"
_INSERT_COLS = (
    "dir, name, size, mtime_ns, ino, blake3, sha1, status, remote_id, album, album_done, "
    "error, attempts, next_attempt_at, updated_at"
)
_DIR_ID = "(SELECT id FROM dirs WHERE path=?)"
"""A folder's id from its path, in a WHERE clause (NULL, matching nothing, if unknown)."""
_FILE_PARAMS = len(_INSERT_COLS.split(","))
_FILE_ROW = f"({_DIR_ID}{',?' * (_FILE_PARAMS - 1)})"


def file_row(dir_key: bytes, name: bytes, size: int, mtime_ns: int, ino: int,
             blake3: bytes | None, sha1: bytes | None, status: str, remote_id: str | None,
             album: str | None, album_done: bool, error: str | None, attempts: int = 0,
             next_attempt_at: float | None = None) -> tuple[Any, ...]:
    """One record for :meth:`StateStore.put_rows`, in the order of ``_INSERT_COLS``
    (without ``updated_at``, which the write adds)."""
    return (dir_key, name, size, mtime_ns, ino, blake3, sha1, status, remote_id, album,
            album_done, error, attempts, next_attempt_at)


@functools.cache
def _param_limit() -> int:
    """SQLite's limit on the parameters of one statement (999 before 3.32, 32,766 since)."""
    conn = sqlite3.connect(":memory:")
    try:
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    finally:
        conn.close()


def _rows_per_statement() -> int:
    """How many records one INSERT carries: as many as SQLite's limit on parameters
    allows, up to 1,000. executemany steps each row with the GIL released and must get
    it back after every row; while other threads run Python, that wait made writing a
    batch 3.5 times slower than one multi-row statement, which gives it up once."""
    return max(1, min(1000, _param_limit() // _FILE_PARAMS))


def _names_per_statement() -> int:
    """How many names of one folder an ``IN (...)`` list carries (see _by_folder)."""
    return max(1, min(1000, _param_limit() - 1))


def _by_folder(keys: Iterable[tuple[bytes, bytes]], per: int
               ) -> Iterator[tuple[bytes, list[bytes]]]:
    """(folder, names) in groups of at most ``per`` names of one folder: a statement a
    group, not a row each, for the updates and deletes of many files (a library's
    albums, a deleted folder); see _rows_per_statement for why."""
    folders: dict[bytes, list[bytes]] = {}
    for dir_key, name in keys:
        folders.setdefault(dir_key, []).append(name)
    for dir_key, names in folders.items():
        for i in range(0, len(names), per):
            yield dir_key, names[i:i + per]


def row_to_record(row: Sequence[Any]) -> FileRecord:
    """A :class:`FileRecord` from a raw row of ``_FILE_COLS``."""
    return FileRecord(
        path=join_path(row[0], row[1]),
        size=row[2],
        mtime_ns=row[3],
        ino=row[4],
        blake3=row[5],
        sha1=row[6],
        status=row[7],
        remote_id=row[8],
        album=row[9],
        album_done=bool(row[10]),
        error=row[11],
        attempts=row[12],
        next_attempt_at=row[13],
        updated_at=row[14],
    )


def migration_scripts(current: int) -> list[str]:
    """The scripts that bring a database at schema ``current`` to SCHEMA_VERSION.

    Each runs in its own transaction with the version bump, so a crash mid-migration
    leaves the previous version intact. A database from a newer release is refused.
    """
    if current > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"state database schema {current} is newer than this release ({SCHEMA_VERSION})"
        )
    return [
        f"BEGIN;{MIGRATIONS[v]}PRAGMA user_version={v + 1};COMMIT;"
        for v in range(current, SCHEMA_VERSION)
    ]


PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=10000")


def migrate(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)
    for script in migration_scripts(conn.execute("PRAGMA user_version").fetchone()[0]):
        conn.executescript(script)


class StateStore:
    """Async access for the pipeline (aiosqlite: one connection, one thread)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._per_statement = _rows_per_statement()
        self._names_per_statement = _names_per_statement()
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
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / DB_NAME
        conn = await aiosqlite.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        await conn.execute("PRAGMA cache_size=-16384")
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        for script in migration_scripts(row[0] if row else 0):
            await conn.executescript(script)
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
            f"SELECT {_FILE_COLS} FROM {_FILES} WHERE d.path=? AND f.name=?", (dir_key, name)
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
                     r.remote_id, r.album, r.album_done, r.error, r.attempts, r.next_attempt_at)
            for r, (dir_key, name) in zip(records, split_paths(r.path for r in records),
                                          strict=True)])

    async def put_rows(self, records: Sequence[tuple[Any, ...]]) -> None:
        """:meth:`put_many` for records made by :func:`file_row` (folder and name as
        bytes, see :func:`split_path`): the pipeline records a batch of outcomes without
        building a FileRecord for each."""
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
                    f"INSERT OR REPLACE INTO files({_INSERT_COLS}) VALUES "
                    + ",".join([_FILE_ROW] * len(part)),
                    [value for row in part for value in row],
                )

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
            f"SELECT {_FILE_COLS} FROM {_FILES} WHERE f.status IN (?, ?) AND f.album_done=0 "
            "AND f.album IS NOT NULL AND f.remote_id IS NOT NULL",
            ON_SERVER,
        ) as cur:
            rows = await cur.fetchall()
        return [row_to_record(r) for r in rows]

    async def _each_folder(self, db: aiosqlite.Connection, head: str,
                           keys: list[tuple[bytes, bytes]]) -> None:
        """``head`` (an UPDATE or DELETE of ``files``) for the records ``keys`` name, one
        statement per folder and chunk of names (see _by_folder)."""
        for dir_key, names in _by_folder(keys, self._names_per_statement):
            await db.execute(f"{head} WHERE dir={_DIR_ID} AND name IN "
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

    async def mark_album_done(self, paths: Iterable[Path]) -> None:
        keys = split_paths(paths)
        if not keys:
            return
        async with self._transaction() as db:
            await self._each_folder(db, "UPDATE files SET album_done=1", keys)

    # -- passes --------------------------------------------------------------------
    async def start_pass(self) -> int:
        async with self._transaction() as db:
            cur = await db.execute(
                "INSERT INTO passes(started_at, outcome) VALUES(?, 'running')", (time.time(),)
            )
        return int(cur.lastrowid or 0)

    async def finish_pass(self, pass_id: int, stats: PassStats, outcome: str) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                "UPDATE passes SET finished_at=?, outcome=?, seen=?, hashed=?, uploaded=?, "
                "duplicates=?, failed=?, bytes=?, duration=? WHERE id=?",
                (now, outcome, stats.seen, stats.hashed, stats.uploaded, stats.duplicates,
                 stats.failed, stats.bytes, now - stats.started_at, pass_id),
            )
        if outcome in ("complete", "partial"):
            await self.set_meta("last_backup_at", str(now))


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class WorkerReads:
    """Read-only connections for the pipeline's worker threads, one per thread.

    The scanner and the hash workers ask the state in the thread where they already
    run, instead of a hop to the writer's thread and back for every folder or group:
    adopting or rescanning a large library is bound by those hops, not by SQLite. WAL
    lets them read committed data while the writer (:class:`StateStore`) goes on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (after the workers are done)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    def dir_known(self, directory: str) -> tuple[dict[str, tuple[int, int, int]], int]:
        """For the scan of one folder: (size, mtime_ns, ino) by name of the files that
        need nothing as long as their stat stays exactly that (they are on the server),
        and how many records the folder has in all. Only what a rescan compares is
        read: full rows (:meth:`dir_rows`) are needed only for a folder where something
        changed."""
        known: dict[str, tuple[int, int, int]] = {}
        count = 0
        for name, size, mtime_ns, ino, on_server in self._conn().execute(
            f"SELECT name, size, mtime_ns, ino, status IN (?, ?) FROM files WHERE dir={_DIR_ID}",
            (*ON_SERVER, os.fsencode(directory)),
        ):
            count += 1
            if on_server:
                known[os.fsdecode(name)] = (size, mtime_ns, ino)
        return known, count

    def has_records_below(self, folder: str) -> bool:
        """Return True if the state has a record of a file in ``folder`` or below it."""
        key = os.fsencode(folder.rstrip("/"))
        row = self._conn().execute(
            "SELECT 1 FROM files f JOIN dirs d ON d.id = f.dir "
            "WHERE d.path = ? OR (d.path >= ? AND d.path < ?) LIMIT 1",
            (key, key + b"/", key + b"0"),  # "0" follows "/": every path below
        ).fetchone()
        return row is not None

    def dir_rows(self, directory: str) -> dict[str, tuple[Any, ...]]:
        """The raw rows (``_FILE_COLS``) of one folder, keyed by file name (str)."""
        rows = self._conn().execute(
            f"SELECT {_FILE_COLS} FROM {_FILES} WHERE d.path=?", (os.fsencode(directory),)
        ).fetchall()
        return {os.fsdecode(row[1]): row for row in rows}

    def find_by_inodes(
        self, keys: Sequence[tuple[int, int, int]]
    ) -> dict[tuple[int, int, int], FileRecord]:
        """Hashed records with the same (ino, size, mtime_ns) as the keys: files moved on
        the same disk. A query per 500 keys."""
        out: dict[tuple[int, int, int], FileRecord] = {}
        conn = self._conn()
        for part in _chunks(list(keys), 500):
            want = set(part)
            marks = ",".join("?" * len(part))
            rows = conn.execute(
                f"SELECT {_FILE_COLS} FROM files f INDEXED BY files_ino "
                f"JOIN dirs d ON d.id = f.dir WHERE f.ino IN ({marks}) "
                "AND f.blake3 IS NOT NULL", [k[0] for k in part]
            ).fetchall()
            for row in rows:
                key = (row[4], row[2], row[3])
                if key in want:
                    out.setdefault(key, row_to_record(row))
        return out

    def remotes_for_contents(self, blake3s: Sequence[bytes]) -> dict[bytes, str]:
        """BLAKE3 → remote id, for the contents some path already has on the server.

        The index holds the first 8 bytes of each BLAKE3; the rows it finds are kept
        only when the whole value matches. INDEXED BY: with the status filter, SQLite
        would otherwise pick the status index and scan every backed-up row.
        """
        out: dict[bytes, str] = {}
        conn = self._conn()
        wanted = set(blake3s)
        for part in _chunks(list({b[:8]: None for b in wanted}), 500):
            marks = ",".join("?" * len(part))
            for b, remote_id in conn.execute(
                f"SELECT blake3, remote_id FROM files INDEXED BY files_content "
                f"WHERE substr(blake3, 1, 8) IN ({marks}) AND status IN (?, ?) "
                "AND remote_id IS NOT NULL",
                (*part, *ON_SERVER),
            ):
                if b in wanted:
                    out.setdefault(b, remote_id)
        return out


class StateReader:
    """Synchronous, read-mostly access for ``status``, ``failed`` and ``retry``.

    Opened next to a running pass: WAL lets it read a consistent snapshot while the
    pass writes. ``retry`` writes too, in short transactions, under busy_timeout.
    """

    #: How long a reader waits for a running immich-backupd that is creating or
    #: upgrading the database (milliseconds of work) before it concludes that an older
    #: release holds it.
    MIGRATION_WAIT = 3.0

    def __init__(self, state_dir: Path, *, migration_wait: float = MIGRATION_WAIT) -> None:
        self.path = state_dir / DB_NAME
        self.exists = self.path.exists()
        if not self.exists:
            self._conn: sqlite3.Connection | None = None
            return
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=10000")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            if is_locked(state_dir, LOCK_NAME) or is_locked(state_dir, DAEMON_LOCK_NAME):
                # A `once` or daemon that has just started may be creating the file
                # right now: wait for it before calling it an older release.
                deadline = time.monotonic() + migration_wait
                while version < SCHEMA_VERSION and time.monotonic() < deadline:
                    time.sleep(0.05)
                    version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION and (
                    is_locked(state_dir, LOCK_NAME) or is_locked(state_dir, DAEMON_LOCK_NAME)):
                # An older immich-backupd has it open: changing the schema under it
                # would make it write rows that this release cannot read.
                self._conn.close()
                self._conn = None
                raise StateError(
                    f"the state database {self.path} is from an older release and an "
                    "immich-backupd that is still running uses it; restart that one (the "
                    "service) to upgrade the database, then run this again")
            if version < SCHEMA_VERSION:
                migrate(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        if self._conn is None:
            return []
        return self._conn.execute(sql, args).fetchall()

    def counts(self) -> dict[str, int]:
        return {status: n for status, n in self._rows(
            "SELECT status, count(*) FROM files GROUP BY status"
        )}

    def meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def last_pass(self) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT id, started_at, finished_at, outcome, seen, hashed, uploaded, duplicates, "
            "failed, bytes, duration FROM passes ORDER BY id DESC LIMIT 1"
        )
        if not rows:
            return None
        keys = ("id", "started_at", "finished_at", "outcome", "seen", "hashed", "uploaded",
                "duplicates", "failed", "bytes", "duration")
        return dict(zip(keys, rows[0], strict=True))

    def counts_by_folder(self) -> list[tuple[Path, str, int]]:
        """(folder, status, number of files) for every folder the state knows."""
        return [(Path(os.fsdecode(d)), status, n) for d, status, n in self._rows(
            "SELECT d.path, f.status, count(*) FROM files f JOIN dirs d ON d.id = f.dir "
            "GROUP BY f.dir, f.status"
        )]

    def summary(self) -> dict[str, int]:
        """The counts every screen shows: backed up, total, failed, trashed."""
        counts = self.counts()
        return {
            "backed_up": sum(counts.get(s, 0) for s in ON_SERVER),
            "total": sum(counts.values()),
            "failed": counts.get(FAILED, 0) + counts.get(UNSUPPORTED, 0),
            "trashed": counts.get(TRASHED, 0),
            "deleted_on_server": counts.get(DELETED, 0),
            "pending": counts.get(PENDING, 0),
        }

    def paths_with_status(self, status: str, limit: int) -> list[Path]:
        """The first ``limit`` paths (in key order) whose record has ``status``."""
        return [join_path(d, n) for d, n in self._rows(
            "SELECT d.path, f.name FROM files f JOIN dirs d ON d.id = f.dir "
            "WHERE f.status=? ORDER BY f.dir, f.name LIMIT ?", (status, limit))]

    def retry_deleted(self) -> int:
        """Make the files deleted in Immich due for upload again (``retry --deleted``):
        the next pass uploads them. Return how many."""
        if self._conn is None:
            return 0
        cur = self._conn.execute(
            "UPDATE files SET status=?, remote_id=NULL, album_done=0, attempts=0, "
            "next_attempt_at=NULL, error=NULL WHERE status=?", (PENDING, DELETED))
        return cur.rowcount

    def album_counts(self) -> dict[str, int]:
        return {album: n for album, n in self._rows(
            "SELECT album, count(*) FROM files WHERE status IN (?, ?) AND album IS NOT NULL "
            "GROUP BY album ORDER BY album",
            ON_SERVER,
        )}

    def failed(self) -> list[FileRecord]:
        return [row_to_record(r) for r in self._rows(
            f"SELECT {_FILE_COLS} FROM {_FILES} WHERE f.status IN (?, ?) "
            "ORDER BY d.path, f.name",
            (FAILED, UNSUPPORTED),
        )]

    def retry(self, paths: Sequence[Path] | None) -> list[Path]:
        """Make failed files eligible now (all when ``paths`` is None). Return those changed.

        A path that is a folder retries every failed file below it.
        """
        if self._conn is None:
            return []
        changed: list[Path] = []
        for record in self.failed():
            if paths is not None and not any(
                record.path == p or p in record.path.parents for p in paths
            ):
                continue
            dir_key, name = split_path(record.path)
            # An unsupported file is retried too when asked: the server may have learned
            # the type since. Both become "failed, due now", which the next pass takes.
            self._conn.execute(
                "UPDATE files SET status=?, next_attempt_at=NULL, attempts=0 "
                f"WHERE dir={_DIR_ID} AND name=?",
                (FAILED, dir_key, name),
            )
            changed.append(record.path)
        return changed
