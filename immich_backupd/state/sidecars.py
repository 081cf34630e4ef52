"""What the state keeps of sidecars (table ``sidecars``, schema 3): the ``.xmp`` that
went up with each photo this release uploaded, and whether one was added or changed
on this disk since (``late``). Immich takes a sidecar only with the upload of its photo
(``sidecarData``), so a late one cannot be sent: the pass notices it
(pipeline/sidecars.py) and ``status`` and ``failed`` say so.

A row is keyed like its photo's record, (folder id, name); ``size``/``mtime_ns`` NULL:
the photo went up without a sidecar. A photo with no row (backed up by an earlier
release, or found on the server by checksum) is never reported: what went up with it
is not known. The SQL here is shared by the store, the worker reads and the reader.
"""

from __future__ import annotations

from ..model import ON_SERVER
from .records import DIR_ID

SENT = ("INSERT OR REPLACE INTO sidecars(dir, name, size, mtime_ns, late) "
        f"VALUES ({DIR_ID}, ?, ?, ?, 0)")
"""Record what went up with an upload: (folder, name, size, mtime_ns); not late."""

SET_LATE = f"UPDATE sidecars SET late=? WHERE dir={DIR_ID} AND name=?"
"""(late, folder, name): the pass's verdict on a photo's sidecar."""

LATE_DIRS = ("SELECT DISTINCT d.path FROM sidecars s JOIN dirs d ON d.id = s.dir "
             "WHERE s.late")
"""The folders with a photo whose sidecar is late: compared by the scan even when no
sidecar is left in them (deleted since: nothing to send, nothing to report)."""

IN_FOLDER = f"SELECT name, size, mtime_ns, late FROM sidecars WHERE dir={DIR_ID}"
"""The rows of one folder (folder), for the scan's comparison."""

_LATE = ("FROM sidecars s JOIN files f ON f.dir = s.dir AND f.name = s.name "
         f"WHERE s.late AND f.status IN ({', '.join('?' * len(ON_SERVER))})")
LATE_COUNT = f"SELECT count(*) {_LATE}"
"""How many backed-up photos have a late sidecar (args: ON_SERVER)."""
LATE_PATHS = ("SELECT d.path, s.name FROM sidecars s JOIN dirs d ON d.id = s.dir "
              "JOIN files f ON f.dir = s.dir AND f.name = s.name WHERE s.late AND "
              f"f.status IN ({', '.join('?' * len(ON_SERVER))}) "
              "ORDER BY d.path, s.name LIMIT ?")
"""Their paths, in folder order (args: ON_SERVER, limit)."""
