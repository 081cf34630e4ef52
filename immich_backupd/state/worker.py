"""Read-only access to the state from the pipeline's worker threads."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from ..model import ON_SERVER
from .bursts import CATCHUP_KEY, DONE, cursor_of, unread_count_query
from .paths import join_path
from .records import (
    ALBUMS_OF_FILES,
    DIR_ID,
    FILE_COLS,
    FILES,
    ON_SERVER_UNDER,
    OPEN_TAGS,
    TAGS_SET,
    FileRecord,
    chunks,
    names_per_statement,
    row_to_record,
    under_params,
)
from .sidecars import IN_FOLDER, LATE_DIRS


class DirKnown(NamedTuple):
    """The records of one folder as the scan reads them before listing it: the few
    columns a rescan compares. ``on_server``: (size, mtime_ns, ino) by name of the files
    that need nothing as long as their stat stays exactly that; ``others``: the names
    of the folder's other records (failed, pending, trashed, ...): they need their full
    record once listed, and a name no longer listed is a file gone."""

    on_server: dict[str, tuple[int, int, int]]
    others: list[str]


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

    # -- for a dry run: what the pass would do after the per-folder settings changed --
    def meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def albums_of_files(self) -> list[tuple[int, bytes, Path, str | None, int, bool]]:
        """As ``StateStore.albums_of_files``."""
        return [(i, n, join_path(d, n), a, size, bool(up)) for i, n, d, a, size, up
                in self._conn().execute(ALBUMS_OF_FILES, ON_SERVER)]

    def tags_of_files(self) -> list[tuple[str, str, Path]]:
        """As ``StateStore.tags_of_files``."""
        return [(r, t, join_path(d, n))
                for r, t, d, n in self._conn().execute(TAGS_SET, ON_SERVER)]

    def tag_removals(self) -> list[tuple[str, str, float | None]]:
        """As ``StateStore.tag_removals``."""
        return list(self._conn().execute("SELECT remote_id, tag, removed_at FROM tag_removals"))

    def on_server_under(self, root: Path) -> list[tuple[Path, str]]:
        """As ``StateStore.on_server_under``."""
        return [(join_path(d, n), r) for d, n, r
                in self._conn().execute(ON_SERVER_UNDER, under_params(root))]

    def open_tags(self) -> list[tuple[str, str, float | None]]:
        """As ``StateStore.open_tags``."""
        return list(self._conn().execute(OPEN_TAGS, ON_SERVER))

    def tag_pairs(self) -> set[tuple[str, str]]:
        """(remote id, tag) of every pair this client wants (``asset_tags``)."""
        return set(self._conn().execute("SELECT remote_id, tag FROM asset_tags"))

    def unread_burst_count(self, extensions: Iterable[str]) -> int:
        """How many photos the catch-up of burst ids has left to look at (0 once done;
        see state/bursts.py)."""
        mark = self.meta(CATCHUP_KEY)
        if mark == DONE:
            return 0
        after = cursor_of(mark) or (-1, b"")
        return int(self._conn().execute(unread_count_query(extensions),
                                        (*after, *ON_SERVER)).fetchone()[0])

    def dir_known(self, directory: str) -> DirKnown:
        """For the scan of one folder, before it is listed: what a rescan compares, for
        every record of the folder, and no more (see :class:`DirKnown`). The full rows
        of the few files that then turn out new or changed are read by
        :meth:`dir_records`."""
        on_server: dict[str, tuple[int, int, int]] = {}
        others: list[str] = []
        for name, size, mtime_ns, ino, up in self._conn().execute(
            f"SELECT name, size, mtime_ns, ino, status IN (?, ?) FROM files WHERE dir={DIR_ID}",
            (*ON_SERVER, os.fsencode(directory)),
        ):
            if up:
                on_server[os.fsdecode(name)] = (size, mtime_ns, ino)
            else:
                others.append(os.fsdecode(name))
        return DirKnown(on_server, others)

    def dir_records(self, directory: str, names: Sequence[str]) -> dict[str, FileRecord]:
        """The records of ``names`` in one folder (those that have one), by name: the
        files the scan found new or changed, not the whole folder again. A statement
        per ``names_per_statement()`` names."""
        out: dict[str, FileRecord] = {}
        conn = self._conn()
        key = os.fsencode(directory)
        for part in chunks([os.fsencode(n) for n in names], names_per_statement()):
            marks = ",".join("?" * len(part))
            for row in conn.execute(
                    f"SELECT {FILE_COLS} FROM {FILES} WHERE d.path=? AND f.name IN ({marks})",
                    (key, *part)):
                out[os.fsdecode(row[1])] = row_to_record(row)
        return out

    def dir_sidecars(self, directory: str) -> dict[str, tuple[int | None, int | None, int]]:
        """(size, mtime_ns, late) of the sidecar that went up with each photo of one
        folder this release uploaded, by the photo's name (see state/sidecars.py)."""
        return {os.fsdecode(name): (size, mtime_ns, late) for name, size, mtime_ns, late
                in self._conn().execute(IN_FOLDER, (os.fsencode(directory),))}

    def late_dirs(self) -> set[str]:
        """The folders with a photo whose sidecar is late (see state/sidecars.py)."""
        return {os.fsdecode(path) for (path,) in self._conn().execute(LATE_DIRS)}

    def has_records_below(self, folder: str) -> bool:
        """Return True if the state has a record of a file in ``folder`` or below it."""
        key = os.fsencode(folder.rstrip("/"))
        row = self._conn().execute(
            "SELECT 1 FROM files f JOIN dirs d ON d.id = f.dir "
            "WHERE d.path = ? OR (d.path >= ? AND d.path < ?) LIMIT 1",
            (key, key + b"/", key + b"0"),  # "0" follows "/": every path below
        ).fetchone()
        return row is not None

    def record_dirs_below(self, folder: str) -> list[str]:
        """The folders in or below ``folder`` that have a record of a file (one indexed
        probe per folder the state knows there, not a scan of the files)."""
        key = os.fsencode(folder.rstrip("/"))
        return [os.fsdecode(path) for (path,) in self._conn().execute(
            "SELECT d.path FROM dirs d WHERE (d.path = ? OR (d.path >= ? AND d.path < ?)) "
            "AND EXISTS (SELECT 1 FROM files f WHERE f.dir = d.id)",
            (key, key + b"/", key + b"0"))]

    def find_by_inodes(
        self, keys: Sequence[tuple[int, int, int]]
    ) -> dict[tuple[int, int, int], FileRecord]:
        """Hashed records with the same (ino, size, mtime_ns) as the keys: files moved on
        the same disk. A query per 500 keys."""
        out: dict[tuple[int, int, int], FileRecord] = {}
        conn = self._conn()
        for part in chunks(list(keys), 500):
            want = set(part)
            marks = ",".join("?" * len(part))
            rows = conn.execute(
                f"SELECT {FILE_COLS} FROM files f INDEXED BY files_ino "
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
        for part in chunks(list({b[:8]: None for b in wanted}), 500):
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

