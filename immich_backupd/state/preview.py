"""An upgraded copy of an older state, for ``once --dry-run``: the real file is only read.

A dry run writes nothing, yet a state of an earlier release must be migrated before this
release can read it. :func:`upgraded_copy` copies it (SQLite's backup API from a
read-only connection: the database and its WAL as one consistent snapshot, while a
running daemon goes on writing it) into a private temporary folder (0700), migrates
the copy with :func:`.schema.migrate` (the steps a pass runs), and removes the folder
when the ``with`` block ends, also on an exception (a signal the caller turns into one).
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .schema import DB_NAME, migrate, migration_scripts, user_version


@dataclass(frozen=True, slots=True)
class UpgradedCopy:
    """The copy a dry run reads: its path, the schema it came from, its size in bytes
    and the seconds the copy and the migration took."""

    path: Path
    from_schema: int
    size: int
    seconds: float


def schema_of(path: Path) -> int:
    """The schema version of the state at ``path``, read without writing it. Raises
    :class:`sqlite3.DatabaseError` (as a pass's migration does) for a state of a newer
    release."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = user_version(conn)
    finally:
        conn.close()
    migration_scripts(version)
    return version


@contextlib.contextmanager
def upgraded_copy(path: Path) -> Iterator[UpgradedCopy]:
    """A migrated copy of the state at ``path`` for the ``with`` block; ``path`` is only
    read (no lock, no write, its mtime unchanged). Raises :class:`sqlite3.Error` when
    the copy cannot be made (no room in the temporary folder: ``TMPDIR``) or the
    state is of a newer release."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="immich-backupd-dry-run-") as folder:
        copy = Path(folder) / DB_NAME
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = user_version(source)
            migration_scripts(version)  # a newer release's state: refused before a copy
            target = sqlite3.connect(copy, isolation_level=None)
            try:
                source.backup(target)
                migrate(target)
            finally:
                target.close()
        finally:
            source.close()
        yield UpgradedCopy(copy, version, copy.stat().st_size, time.monotonic() - started)
