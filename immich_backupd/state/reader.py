"""Synchronous access to the state for the CLI: ``status``, ``failed``, ``retry``."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..model import ON_SERVER
from .lock import DAEMON_LOCK_NAME, LOCK_NAME, is_locked
from .paths import join_path, split_path
from .records import (
    DELETED,
    DIR_ID,
    FAILED,
    FILE_COLS,
    FILES,
    PENDING,
    TRASHED,
    UNSUPPORTED,
    FileRecord,
    row_to_record,
)
from .schema import DB_NAME, SCHEMA_VERSION, migrate, user_version
from .sidecars import LATE_COUNT, LATE_PATHS


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
        version = user_version(self._conn)
        if version < SCHEMA_VERSION:
            if is_locked(state_dir, LOCK_NAME) or is_locked(state_dir, DAEMON_LOCK_NAME):
                # A `once` or daemon that has just started may be creating the file
                # right now: wait for it before calling it an older release.
                deadline = time.monotonic() + migration_wait
                while version < SCHEMA_VERSION and time.monotonic() < deadline:
                    time.sleep(0.05)
                    version = user_version(self._conn)
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
            "sidecars_changed_after_upload": self.late_sidecar_count(),
        }

    def late_sidecar_count(self) -> int:
        """How many backed-up photos have a sidecar added or changed after their upload
        (see state/sidecars.py): an indexed count, not a scan of the files."""
        return self._rows(LATE_COUNT, ON_SERVER)[0][0] if self._conn is not None else 0

    def late_sidecars(self, limit: int) -> list[Path]:
        """The first ``limit`` backed-up photos whose sidecar was added or changed after
        their upload, which Immich did not get (see state/sidecars.py)."""
        return [join_path(d, n) for d, n in self._rows(LATE_PATHS, (*ON_SERVER, limit))]

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
            f"SELECT {FILE_COLS} FROM {FILES} WHERE f.status IN (?, ?) "
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
                f"WHERE dir={DIR_ID} AND name=?",
                (FAILED, dir_key, name),
            )
            changed.append(record.path)
        return changed
