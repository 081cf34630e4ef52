"""The schema of the state database and the one way to bring a file up to it.

Every opener (the pass's :class:`~.store.StateStore`, the CLI's
:class:`~.reader.StateReader`) migrates through :func:`migrate`, which is safe when two
processes open an old file at once: each step reads ``user_version`` inside its own write
transaction and is skipped when another process has already done it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

DB_NAME = "state.sqlite3"

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
    # 3: the sidecar (.xmp) that went up with each photo this release uploaded (size
    # and mtime_ns; NULL: none), and whether one was added or changed since (``late``).
    # Immich takes a sidecar only with the upload, so a late one is reported, not sent
    # (see pipeline/sidecars.py). A photo's row goes with its record; a record replaced
    # by a new outcome keeps it (REPLACE fires no delete trigger) until its next upload.
    """
    CREATE TABLE sidecars (
        dir INTEGER NOT NULL,
        name BLOB NOT NULL,
        size INTEGER,
        mtime_ns INTEGER,
        late INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (dir, name)
    ) WITHOUT ROWID;
    CREATE INDEX sidecars_late ON sidecars (late) WHERE late;
    CREATE TRIGGER files_forgotten AFTER DELETE ON files BEGIN
        DELETE FROM sidecars WHERE dir = old.dir AND name = old.name;
    END;
    """,
    # 4: the stacks this client made (stacks.KnownStack), by folder and group key, so a
    # stack is never sent twice (the server would replace it with a new one).
    """
    CREATE TABLE stacks (
        dir INTEGER NOT NULL REFERENCES dirs(id),
        key TEXT NOT NULL,
        stack_id TEXT NOT NULL,
        primary_id TEXT NOT NULL,
        asset_ids TEXT NOT NULL,
        PRIMARY KEY (dir, key)
    ) WITHOUT ROWID;
    """,
    # 5: the tags this client puts on assets (pipeline/tagging.py): when it last set
    # each (NULL: not yet) and whether a later read-back saw it hold (real servers can
    # lose a tag set right after an upload).
    """
    CREATE TABLE asset_tags (
        remote_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        set_at REAL,
        confirmed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (remote_id, tag)
    ) WITHOUT ROWID;
    CREATE INDEX asset_tags_open ON asset_tags (confirmed) WHERE NOT confirmed;
    """,
    # 6: taking off the tags the config no longer asks for (pipeline/untagging.py). The
    # pairs this client set and now takes off: when it had set them (kept should the
    # tag be wanted again) and when it last sent the removal (NULL: not yet), until a
    # later removal finds them gone. And the server's id of each tag it made,
    # so that a removal never makes a tag again that the user deleted.
    """
    CREATE TABLE tag_removals (
        remote_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        set_at REAL,
        removed_at REAL,
        PRIMARY KEY (remote_id, tag)
    ) WITHOUT ROWID;
    CREATE TABLE tag_ids (tag TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
    """,
    # 7: the Apple burst id of a photo (appleburst.py), read with its hash when
    # backup.stacks.bursts is on: NULL not read (bursts off, an earlier release, not a
    # JPEG/HEIC), '' read and none, else the id. Stacks group by it (stacks.py).
    """
    ALTER TABLE files ADD COLUMN burst TEXT;
    """,
    # 8: the live-photo videos this client put in an album and takes out again, their
    # still having arrived later and hidden them (state/leaving.py): asset, album name.
    """
    CREATE TABLE album_removals (
        remote_id TEXT NOT NULL,
        album TEXT NOT NULL,
        PRIMARY KEY (remote_id, album)
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=10000")
"""Set on every connection that writes (WAL persists in the file; the others do not)."""


def migration_scripts(current: int) -> list[str]:
    """The steps (SQL scripts) that bring a database at schema ``current`` to
    SCHEMA_VERSION, in order. A database from a newer release is refused."""
    if current > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"state database schema {current} is newer than this release ({SCHEMA_VERSION})"
        )
    return list(MIGRATIONS[current:])


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time (``execute`` takes one; the
    ``executescript`` that takes many commits any open transaction first)."""
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\n;"):
                yield buf.strip()
            buf = ""
    if buf.strip(" \t\n;"):
        raise sqlite3.DatabaseError(f"incomplete statement in a migration: {buf!r}")


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version of ``conn``'s database (0: a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Set :data:`PRAGMAS` on ``conn`` (opened with ``isolation_level=None``) and bring
    its database to SCHEMA_VERSION.

    Each step runs in its own write transaction (BEGIN IMMEDIATE) with its version bump,
    so a crash mid-migration leaves the previous version intact; the version is read
    inside that transaction, so a step another process did meanwhile is skipped, not
    run twice. Raises :class:`sqlite3.DatabaseError` for a database of a newer release.
    """
    for pragma in PRAGMAS:
        conn.execute(pragma)
    # Read outside a transaction, the version may be stale but never too high (it only
    # grows): steps below it are done; a newer schema is refused before any write.
    start = user_version(conn)
    migration_scripts(start)
    for step in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(conn)
            migration_scripts(current)
            if current == step:
                for statement in statements(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={step + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
