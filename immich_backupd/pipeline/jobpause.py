"""Bulk-import mode: pause the server's heavy job queues during a large pass.

On a small server the thumbnail, metadata and ML jobs that each new asset queues eat the
CPU that receives uploads (measured on a real v3.1.0 server on 2 cores: 300 files in
3.3 s with the queues paused against 9.3 s without). With
``server.pause_jobs_during_import`` a pass that has more than
``server.pause_jobs_threshold`` files to upload pauses them (``PUT /queues/{name}``
``{isPaused: true}``, an admin's key) and resumes them when it ends, the way immich-go's
``--pause-immich-jobs`` does. The server then catches up on its own.

Contracts:

* Only queues that were running are paused, and only those are resumed: a queue an
  administrator paused stays paused.
* The names are written to the state (meta ``paused_queues``) *before* the first pause,
  so a pass killed with ``kill -9`` leaves a record; :func:`resume_leftovers`, called at
  every start, resumes them.
* A key that may not do it (403, 401 on the route, a server without ``/queues``) gives
  one warning and the pass goes on; nothing else fails because of this feature.

The decisions (:func:`should_pause`, :func:`queues_to_pause`) are plain functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from ..immich.errors import ApiError, ErrorKind, TransportError

logger = logging.getLogger(__name__)

META_KEY = "paused_queues"
#: The queues a new asset feeds and that cost CPU; not ``backgroundTask`` (the server
#: refuses), not the sidecar, library or storage-template queues (they keep files right).
HEAVY_QUEUES = ("thumbnailGeneration", "metadataExtraction", "videoConversion",
                "faceDetection", "facialRecognition", "smartSearch", "duplicateDetection",
                "ocr")


class QueueClient(Protocol):
    async def queues(self) -> dict[str, bool]: ...
    async def set_queue_paused(self, name: str, paused: bool) -> bool: ...


class MetaStore(Protocol):
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...


def should_pause(enabled: bool, to_upload: int, threshold: int) -> bool:
    """Pause for a pass with more than ``threshold`` files to upload, when enabled."""
    return enabled and to_upload > threshold


def queues_to_pause(server: dict[str, bool], heavy: Iterable[str] = HEAVY_QUEUES) -> list[str]:
    """Of the heavy queues the server has, those running now (``server``: name →
    paused), in the order of ``heavy``."""
    return [name for name in heavy if name in server and not server[name]]


def _refused(exc: BaseException) -> bool:
    """An answer that says this key or server cannot do it (not a passing fault)."""
    return isinstance(exc, ApiError) and exc.kind in (
        ErrorKind.PERMISSION, ErrorKind.AUTH, ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST)


async def _recorded(store: MetaStore) -> list[str]:
    raw = await store.get_meta(META_KEY)
    if not raw:
        return []
    try:
        names = json.loads(raw)
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


class JobPause:
    """Pauses the heavy queues once per pass and resumes them at the end.

    ``warn`` receives the one warning for a key that may not pause queues (a user-facing,
    translated text is the caller's business; it gets the reason in English).
    """

    def __init__(self, client: QueueClient, store: MetaStore,
                 warn: Callable[[str], Awaitable[None] | None] | None = None) -> None:
        self._client = client
        self._store = store
        self._warn = warn
        self.paused: list[str] = []
        self.refused: str | None = None

    async def pause(self) -> list[str]:
        """Pause the running heavy queues; return their names ([] when refused)."""
        if self.paused or self.refused:
            return self.paused
        try:
            names = queues_to_pause(await self._client.queues())
            # Recorded before the first pause: a kill between the two leaves a record
            # of queues that were running, and resuming a running queue changes nothing.
            await self._store.set_meta(META_KEY, json.dumps(names))
            for name in names:
                await self._client.set_queue_paused(name, True)
                self.paused.append(name)
        except (ApiError, TransportError) as exc:
            if not _refused(exc) and not self.paused:
                raise
            self.refused = str(exc)
            logger.warning("cannot pause the server's job queues (%s); uploading with them "
                           "running", exc)
            if self._warn is not None:
                result = self._warn(str(exc))
                if result is not None:
                    await result
            await self.resume()
            return []
        logger.info("paused the server's job queues for this import: %s", ", ".join(names))
        return self.paused

    async def resume(self) -> None:
        """Resume what this pass (or one killed before) paused; forget the record."""
        await resume_leftovers(self._client, self._store)
        self.paused = []


async def resume_leftovers(client: QueueClient, store: MetaStore) -> list[str]:
    """Resume the queues the state says a pass paused, then clear the record. Return
    their names. A queue that cannot be resumed now (server away) stays recorded for
    the next try; a refusal is logged and forgotten (a key that lost its rights)."""
    names = await _recorded(store)
    if not names:
        return []
    left: list[str] = []
    for name in names:
        try:
            await client.set_queue_paused(name, False)
        except (ApiError, TransportError) as exc:
            if _refused(exc):
                logger.warning("cannot resume the server's %s queue (%s): resume it in "
                               "Immich's administration, Job queues", name, exc)
            else:
                left.append(name)
    await store.set_meta(META_KEY, json.dumps(left) if left else "")
    if left:
        logger.warning("could not resume the server's job queues %s yet; trying again at "
                       "the next pass", ", ".join(left))
    else:
        logger.info("resumed the server's job queues: %s", ", ".join(names))
    return [n for n in names if n not in left]
