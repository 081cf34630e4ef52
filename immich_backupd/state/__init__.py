"""The local state database: what was seen, hashed, uploaded, failed; and each pass.

One SQLite file in ``state_dir``. Losing it loses no data: a fresh state re-learns from
the server by checksum (``bulk-upload-check``) without uploading again.

By job:

- :mod:`.schema`: the tables, their migrations and :func:`migrate`, used by every opener;
- :mod:`.paths`: a path's key, (folder, name) as bytes;
- :mod:`.records`: :class:`FileRecord`, :class:`PassStats` and the SQL pieces they share;
- :mod:`.bursts`: the one-time read of Apple burst ids (its cursor, its SQL);
- :mod:`.leaving`: a live photo's video that must leave its album (its SQL);
- :mod:`.sidecars`: the sidecars uploaded with their photos, and the late ones;
- :mod:`.store`: :class:`StateStore`, the pass's async writer;
- :mod:`.worker`: :class:`WorkerReads`, the worker threads' read-only connections;
- :mod:`.reader`: :class:`StateReader`, the CLI's synchronous access;
- :mod:`.preview`: the upgraded copy of an older state that ``once --dry-run`` reads;
- :mod:`.room`, :mod:`.paused`, :mod:`.password`: the state folder beside the database:
  whether it can be written now; the dashboard's pause and its password, in files there.

Only the store needs asyncio and aiosqlite: it is imported on first use of
``StateStore``, so a pure module can import records and statuses from here (see
tests/test_purity.py).
"""

from typing import TYPE_CHECKING

from ..model import ON_SERVER, SEEN_ON_SERVER
from .paths import join_path, split_path, split_paths
from .reader import StateReader
from .records import (
    DELETED,
    DUPLICATE,
    FAILED,
    PENDING,
    TRASHED,
    UNSUPPORTED,
    UPLOADED,
    FileRecord,
    PassStats,
    file_row,
    row_to_record,
)
from .schema import (
    DB_NAME,
    MIGRATIONS,
    PRAGMAS,
    SCHEMA_VERSION,
    migrate,
    migration_scripts,
    user_version,
)
from .worker import DirKnown, WorkerReads

if TYPE_CHECKING:
    from .store import StateStore

__all__ = [
    "DB_NAME", "DELETED", "DUPLICATE", "FAILED", "MIGRATIONS", "ON_SERVER", "PENDING",
    "PRAGMAS", "SCHEMA_VERSION", "SEEN_ON_SERVER", "TRASHED", "UNSUPPORTED", "UPLOADED",
    "DirKnown", "FileRecord", "PassStats", "StateReader", "StateStore", "WorkerReads", "file_row",
    "join_path", "migrate", "migration_scripts", "row_to_record", "split_path",
    "split_paths", "user_version",
]


def __getattr__(name: str) -> object:
    """``StateStore``, imported when first asked for (PEP 562)."""
    if name == "StateStore":
        from .store import StateStore

        return StateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
