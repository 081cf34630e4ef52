"""Sidecars added or changed after their photo was uploaded: noticed and reported.

Immich takes a sidecar (``.xmp``) only with the upload of its photo (``sidecarData``
of ``POST /api/assets``); no route of the v2.7 or v3.1 API attaches one to an asset
that exists (``PUT /api/assets/{id}/original`` of v2 takes no sidecar and is gone in
v3), and sending the photo again is answered "duplicate" without reading it. So a
sidecar that appears or changes later cannot follow: the pass notices it and the state
marks the photo (``status``, ``failed``), never sending anything.

The state remembers what went up with each upload (state/sidecars.py), but for the
hidden video of a live photo: its still is the photo shown, and stands for the pair
(a shared ``IMG.xmp`` is not counted twice). During the scan,
for a folder that has sidecars, the photos that did not change (and so are not uploaded
again) are compared: one read of the folder's rows and one ``stat`` per sidecar beside
such a photo; nothing for a folder without sidecars, but one with a photo reported
late (its sidecar may have been deleted since: then it is late no more). A photo
that changed is uploaded again with its sidecar of now, which replaces its row.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..state import WorkerReads

Sent = tuple[int | None, int | None, int]
"""A photo's row: (size, mtime_ns) of the sidecar that went up (None: none), late flag."""


def is_late(now: tuple[int, int] | None, sent_size: int | None,
            sent_mtime_ns: int | None) -> bool:
    """Whether the sidecar beside a photo now (``now``: its size and mtime_ns, None when
    there is none) is one Immich did not get: added since the upload, or changed (size
    or mtime). A sidecar removed since is not late: there is nothing to send."""
    if now is None:
        return False
    return sent_size is None or now != (sent_size, sent_mtime_ns)


def verdicts(now: Mapping[str, tuple[int, int] | None], sent: Mapping[str, Sent]
             ) -> list[tuple[str, bool]]:
    """(photo name, late) for each photo of ``now`` whose late flag in ``sent`` is
    wrong; photos without a row are not known and left out."""
    out = []
    for name, current in now.items():
        row = sent.get(name)
        if row is None:
            continue
        late = is_late(current, row[0], row[1])
        if late != bool(row[2]):
            out.append((name, late))
    return out


def sidecar_stats(folder: Path, names: Iterable[str], sidecars: Mapping[str, str],
                  follow_symlinks: bool) -> dict[str, tuple[int, int] | None]:
    """(size, mtime_ns) of the sidecar beside each photo of ``names`` (None: none, or
    it went away); the scanning thread's I/O, one ``stat`` a sidecar."""
    out: dict[str, tuple[int, int] | None] = {}
    for name in names:
        side = sidecars.get(name)
        if side is None:
            out[name] = None
            continue
        try:
            st = os.stat(os.path.join(folder, side), follow_symlinks=follow_symlinks)
        except OSError:
            out[name] = None
            continue
        out[name] = (st.st_size, st.st_mtime_ns)
    return out


class LateSidecar(NamedTuple):
    """A photo whose late flag the pass changes (late: its sidecar is not on the server)."""

    late: bool
    dir_key: bytes
    name: bytes
    path: Path


def check_folder(reads: WorkerReads, folder: Path, unchanged: Iterable[str],
                 sidecars: Mapping[str, str], follow_symlinks: bool) -> list[LateSidecar]:
    """The scanning thread's check of one folder that has sidecars: of its ``unchanged``
    photos (on the server, not uploaded again), those whose late flag must change."""
    sent = reads.dir_sidecars(str(folder))
    if not sent:
        return []
    names = [n for n in unchanged if n in sent]
    now = sidecar_stats(folder, names, sidecars, follow_symlinks)
    dir_key = os.fsencode(folder)
    return [LateSidecar(late, dir_key, os.fsencode(name), folder / name)
            for name, late in verdicts(now, sent)]
