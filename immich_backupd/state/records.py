"""The records of the state and the SQL pieces that read and write them.

Shared by the writer (:mod:`.store`), the worker threads' reads (:mod:`.worker`) and
the CLI's reader (:mod:`.reader`).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import ON_SERVER, FileStatus
from .paths import join_path

# Outcomes of a file, as stored in files.status (see model.FileStatus).
UPLOADED = FileStatus.UPLOADED
DUPLICATE = FileStatus.DUPLICATE
FAILED = FileStatus.FAILED
TRASHED = FileStatus.TRASHED
UNSUPPORTED = FileStatus.UNSUPPORTED
DELETED = FileStatus.DELETED
PENDING = FileStatus.PENDING


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
    # The Apple burst id read from the file (appleburst.py): None not read, "" none.
    burst: str | None = None


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


FILE_COLS = (
    "d.path, f.name, f.size, f.mtime_ns, f.ino, f.blake3, f.sha1, f.status, f.remote_id, "
    "f.album, f.album_done, f.error, f.attempts, f.next_attempt_at, f.updated_at, f.burst"
)
"""The columns of a record, as :func:`row_to_record` takes them, from ``FILES``."""
FILES = "files f JOIN dirs d ON d.id = f.dir"
INSERT_COLS = (
    "dir, name, size, mtime_ns, ino, blake3, sha1, status, remote_id, album, album_done, "
    "error, attempts, next_attempt_at, burst, updated_at"
)
DIR_ID = "(SELECT id FROM dirs WHERE path=?)"
"""A folder's id from its path, in a WHERE clause (NULL, matching nothing, if unknown)."""
# What the pass (store) and a dry run (worker) read when the per-folder settings changed.
ALBUMS_OF_FILES = (
    f"SELECT f.dir, f.name, d.path, f.album, f.size, f.status IN (?, ?) AND f.remote_id "
    f"IS NOT NULL FROM {FILES}")
"""(folder id, name, folder, album, size, on the server) of every record; ON_SERVER."""
TAGS_SET = (
    f"SELECT t.remote_id, t.tag, d.path, f.name FROM {FILES} JOIN asset_tags t ON "
    "t.remote_id = f.remote_id WHERE t.set_at IS NOT NULL AND f.status IN (?, ?)")
"""(remote id, tag, folder, name) of the tags this client set, per file; ON_SERVER."""
OPEN_TAGS = (
    "SELECT remote_id, tag, set_at FROM asset_tags WHERE NOT confirmed AND remote_id "
    "IN (SELECT remote_id FROM files WHERE status IN (?, ?) AND remote_id IS NOT NULL)")
"""(remote id, tag, set at) of the tags not yet seen to hold, for assets on the server;
ON_SERVER."""
ON_SERVER_UNDER = (
    "SELECT d.path, f.name, f.remote_id FROM files f JOIN dirs d ON d.id = f.dir "
    "WHERE (d.path = ? OR (d.path >= ? AND d.path < ?)) AND f.status IN (?, ?) "
    "AND f.remote_id IS NOT NULL")
"""(folder, name, remote id) of the files in or below a folder on the server: the
folder, itself followed by "/" and by "0" (which follows "/"), then ON_SERVER; see
:func:`under_params`."""


def under_params(root: Path) -> list[Any]:
    """The parameters of ON_SERVER_UNDER for ``root``."""
    prefix = os.fsencode(root).rstrip(b"/")
    return [prefix or b"/", prefix + b"/", prefix + b"0", *ON_SERVER]


FILE_PARAMS = len(INSERT_COLS.split(","))
FILE_ROW = f"({DIR_ID}{',?' * (FILE_PARAMS - 1)})"


def file_row(dir_key: bytes, name: bytes, size: int, mtime_ns: int, ino: int,
             blake3: bytes | None, sha1: bytes | None, status: str, remote_id: str | None,
             album: str | None, album_done: bool, error: str | None, attempts: int = 0,
             next_attempt_at: float | None = None, burst: str | None = None
             ) -> tuple[Any, ...]:
    """One record for :meth:`StateStore.put_rows`, in the order of ``INSERT_COLS``
    (without ``updated_at``, which the write adds)."""
    return (dir_key, name, size, mtime_ns, ino, blake3, sha1, status, remote_id, album,
            album_done, error, attempts, next_attempt_at, burst)


@functools.cache
def param_limit() -> int:
    """SQLite's limit on the parameters of one statement (999 before 3.32, 32,766 since)."""
    conn = sqlite3.connect(":memory:")
    try:
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    finally:
        conn.close()


def rows_per_statement() -> int:
    """How many records one INSERT carries: as many as SQLite's limit on parameters
    allows, up to 1,000. executemany steps each row with the GIL released and must get
    it back after every row; while other threads run Python, that wait made writing a
    batch 3.5 times slower than one multi-row statement, which gives it up once."""
    return max(1, min(1000, param_limit() // FILE_PARAMS))


def names_per_statement() -> int:
    """How many names of one folder an ``IN (...)`` list carries (see by_folder)."""
    return max(1, min(1000, param_limit() - 1))


def by_folder(keys: Iterable[tuple[bytes, bytes]], per: int
               ) -> Iterator[tuple[bytes, list[bytes]]]:
    """(folder, names) in groups of at most ``per`` names of one folder: a statement a
    group, not a row each, for the updates and deletes of many files (a library's
    albums, a deleted folder); see rows_per_statement for why."""
    folders: dict[bytes, list[bytes]] = {}
    for dir_key, name in keys:
        folders.setdefault(dir_key, []).append(name)
    for dir_key, names in folders.items():
        for i in range(0, len(names), per):
            yield dir_key, names[i:i + per]


def row_to_record(row: Sequence[Any]) -> FileRecord:
    """A :class:`FileRecord` from a raw row of ``FILE_COLS``."""
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
        burst=row[15],
    )



def chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``n``."""
    for i in range(0, len(items), n):
        yield items[i:i + n]
