"""The storage quota as the pass sees it: its own running estimate, and the server's
figures when they matter.

The pass starts from ``GET /users/me`` and adds what it uploads, so that it does not
send a large file the server would refuse only after receiving all of it. That estimate
goes stale (other devices upload, the user empties the trash, the admin changes the
quota): before stopping for the quota, and in the message that says so, the pass asks
the server for its current figures.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..immich.client import Quota
from ..immich.errors import ApiError, TransportError
from .server import PassServer

log = logging.getLogger("immich_backupd.pipeline")


async def current_quota(client: PassServer, known: Quota) -> Quota:
    """The server's figures now; ``known`` when it cannot tell (a failed ``/users/me``)."""
    try:
        return await client.quota()
    except (ApiError, TransportError) as exc:
        log.debug("cannot read the quota now (%s); using the pass's estimate", exc)
        return known


def quota_message(quota: Quota, path: Path | str, size: int) -> str:
    """The one line that ends a pass at the quota, with the server's figures."""
    total = f"{quota.size:,}" if quota.size is not None else "unlimited"
    return (f"quota exceeded on the server: {quota.usage:,} of {total} bytes used, "
            f"{path} needs {size:,}; free space in Immich or ask the admin for a larger "
            "quota")
