"""Album removals: a live photo's video this client put in an album, which must leave it.

A video backed up before its still is an ordinary file and goes into its folder's album.
When the still arrives, its upload links the video as the live photo's motion part, and
the server hides it; the still shows the pair, so the video leaves the album ("a live
photo's video stays out of albums"). The still's record and the video's new album
membership (none) are written in one transaction; the removal the server still needs is
kept in ``album_removals`` (schema 8) until it is sent (pipeline/albums.py), so a pass
that ends before then sends it later.

Only a video the state had confirmed in its album (``album_done``) is taken out: an
album this client did not add it to is the user's.
"""

from __future__ import annotations

from .records import DIR_ID

QUEUE = (
    "INSERT OR IGNORE INTO album_removals(remote_id, album) SELECT remote_id, album "
    f"FROM files WHERE dir={DIR_ID} AND name=? AND album IS NOT NULL AND album_done "
    "AND remote_id IS NOT NULL"
)
"""(folder, name) of a video that leaves its album: its removal, when this client put
it there."""

LEAVE = f"UPDATE files SET album=NULL, album_done=0 WHERE dir={DIR_ID} AND name=?"
"""(folder, name) of a video that leaves its album: in none now."""
