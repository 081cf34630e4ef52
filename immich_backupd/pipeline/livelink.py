"""A live photo whose video came after its still: link the two on the server.

The still went up alone (its video was not there yet), so the server shows it as a
plain photo. When the video arrives, the pass uploads it hidden, as the phone app does,
and then links the still to it (``PUT /assets/{id}`` with ``livePhotoVideoId``), which
is what makes the server show the pair as one live photo. A video that is up but not
linked is invisible in Immich, so it is not counted as backed up: the link failing is
the video's failure, retried on a later pass like an upload (the video is then found on
the server by the bulk check, and only the link is tried again).

The key needs the permission ``asset.update`` for the link; without it, only these
late videos fail (with a reason that says so), not the pass.
"""

from __future__ import annotations

import logging

from ..immich.errors import ApiError, ErrorKind, TransportError
from .connect import raise_if_fatal
from .server import PassServer

log = logging.getLogger("immich_backupd.pipeline")

LINK_PERMISSION = "asset.update"



async def link_late_video(client: PassServer, still_id: str, video_id: str,
                          what: str) -> str | None:
    """Link the still ``still_id`` to the video ``video_id`` through ``client`` (the
    pass's retrying server). Return None when linked, else why not (the video's failure
    reason). A rejected key still ends the pass (raised); a missing ``asset.update``
    permission does not: it is this file's reason."""
    try:
        await client.link_live_photo(still_id, video_id)
    except ApiError as exc:
        if exc.kind is ErrorKind.PERMISSION:
            return (f"uploaded, but not linked to its photo: the API key lacks the "
                    f"permission {LINK_PERMISSION} (edit the key in Immich and grant it)")
        raise_if_fatal(exc)
        return f"uploaded, but not linked to its photo: {exc.describe()}"
    except TransportError as exc:
        return f"uploaded, but not linked to its photo: network: {exc}"
    log.info("linked %s to its photo (a live photo whose video came later)", what,
             extra={"asset_id": video_id})
    return None
