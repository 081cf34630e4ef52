"""The upload stage: send each unit's files to the server and hand the answers to record.

Units come through the upload queue (from the check stage, ended by one END per
worker); a fixed number of workers run :meth:`UploadStage.run`. A live photo's video
goes first, hidden, then its still with the video's id; a late video already on the
server is only linked to its still (livelink.py). Before a file goes, the quota
estimate is asked (the server when the estimate says it is full). The request is built
from what the earlier stages found (digests, the kept bytes, the sidecar), the capture
date read here (only files being uploaded need one). The server calls go through the
pass's retrying ``PassServer`` (server.py): a failure seen here has been tried again.

What becomes of each file goes to the record stage: uploaded or duplicate (batched,
``Recorder.soon``), unsupported, failed (with whether a retry can help), vanished.
A file that changed while it was sent is held (``held``) for a later pass. A full
quota, a rejected key or the state failing end the pass (raised to ``fail_pass``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..errors import BackupdError, QuotaExceededError
from ..immich.client import Quota, UploadRequest
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..immich.multipart import FileChangedDuringUploadError
from ..media.capture_date import CaptureDate, capture_date
from ..media.videoinfo import duration_ms
from ..scan.mounts import LocalDisks
from ..state import DUPLICATE, UNSUPPORTED, UPLOADED
from .connect import raise_if_fatal
from .livelink import link_late_video
from .pacer import Pacer
from .plan import END, Candidate, Unit, created_ns, iso_time
from .quota import current_quota, quota_message
from .record import Recorder
from .server import PassServer

log = logging.getLogger("immich_backupd.pipeline")


class UploadStage:
    """Uploads units and records their outcomes (shared by the pass's upload workers).

    ``quota``: the server's quota at the start of the pass (kept up to date as files
    go up). ``pace``: the bandwidth cap shared by every upload, or None. ``held``: the
    files that changed while sent, left for a later pass (the pass reads it at its
    end). ``disks``: which files' closing stat may run on the event loop."""

    def __init__(self, api: PassServer, recorder: Recorder, *, quota: Quota,
                 stopping: Callable[[], bool], fail_pass: Callable[[BaseException], None],
                 pace: Pacer | None = None,
                 disks: LocalDisks | None = None) -> None:
        self.api = api
        self.rec = recorder
        self._quota = quota
        self.stopping = stopping
        self.fail_pass = fail_pass
        self.held: list[Path] = []
        self.pace = pace
        self.disks = disks or LocalDisks()

    @property
    def quota(self) -> Quota:
        """The quota as the pass last knew it."""
        return self._quota

    async def run(self, upload_q: asyncio.Queue[object]) -> None:
        """Upload the units of ``upload_q`` until its END. An error that ends the pass
        (quota, key, state) goes to ``fail_pass``; the other workers finish theirs."""
        while (item := await upload_q.get()) is not END:
            assert isinstance(item, Unit)
            if self.stopping():
                continue
            try:
                await self.upload_unit(item)
            except (BackupdError, sqlite3.Error) as exc:  # quota, key: the others finish
                self.fail_pass(exc)

    async def upload_unit(self, item: Unit) -> None:
        """Upload a unit's members (a live photo: video first, then the still)."""
        live_id = item.live_video_id
        for cand in item.members:
            if cand.outcome is None:
                is_pair_video = item.is_live_pair and cand.kind == "video"
                if is_pair_video and item.link_to and cand.remote_id:
                    # Already on the server (the check said so): only the link.
                    if await self._linked(cand, item.link_to):
                        self.rec.soon(cand, DUPLICATE, cand.remote_id)
                    continue
                await self._upload(cand, live_id=None if is_pair_video else live_id,
                                   hidden=is_pair_video,
                                   link_to=item.link_to if is_pair_video else None)
            if item.is_live_pair and cand.kind == "video":
                live_id = cand.remote_id if cand.outcome in (UPLOADED, DUPLICATE) else None

    async def _upload(self, cand: Candidate, *, live_id: str | None, hidden: bool,
                      link_to: str | None = None) -> None:
        """Upload one file and record it; ``link_to``: the still to link this video to
        once it is up (see livelink.py)."""
        assert cand.sha1 is not None
        if not self._quota.room_for(cand.stat.size):  # by the estimate: ask the server
            self._quota = await current_quota(self.api, self._quota)
            if not self._quota.room_for(cand.stat.size):
                raise QuotaExceededError(self._quota_message(cand))
        st = cand.stat
        local = self.disks.is_local(st.dev)
        sidecar, sidecar_size = cand.sidecar, 0
        if sidecar is not None:  # beside the file, so on the same disk
            try:
                side_st = (sidecar.stat() if local
                           else await asyncio.to_thread(sidecar.stat))
                sidecar_size = side_st.st_size
                cand.sidecar_sent = (side_st.st_size, side_st.st_mtime_ns)
            except OSError:
                sidecar = None
        upload = self.rec.progress.start_upload(cand.path_str, st.size)

        def on_progress(sent: int) -> None:
            upload.sent = min(sent, st.size)
            self.rec.notify()

        def on_try() -> None:  # each request counts (``failed`` shows the tries)
            cand.tries += 1

        # Only files being uploaded get a date: a photo whose bytes are kept is read in
        # memory at once; otherwise the headers (and a video's duration) in one trip to a
        # thread.
        if cand.kind != "video" and cand.data is not None:
            duration, created = _headers(cand.path, cand.kind, created_ns(st), cand.data)
        else:
            duration, created = await asyncio.to_thread(
                _headers, cand.path, cand.kind, created_ns(st), cand.data)
        req = UploadRequest(
            path=cand.path,
            size=st.size,
            sha1=cand.sha1,
            created_at=created.iso(),
            modified_at=iso_time(st.mtime_ns),
            filename=cand.path.name,
            sidecar=sidecar,
            sidecar_size=sidecar_size,
            live_photo_video_id=live_id,
            visibility="hidden" if hidden else None,
            duration_ms=duration,
            device_asset_id=f"{cand.path.name}-{st.size}".replace(" ", ""),
            on_progress=on_progress,
            on_try=on_try,
            data=cand.data,
            mtime_ns=st.mtime_ns,
            ino=st.ino,
            local_disk=local,
            pace=self.pace,
        )
        self.rec.progress.phase = "uploading"
        self.rec.notify()
        try:
            result = await self.api.upload(req)
        except FileNotFoundError:
            await self.rec.vanished(cand)
            return
        except PermissionError:
            await self.rec.fail(cand, "permission denied", retry=True)
            return
        except FileChangedDuringUploadError as exc:
            log.info("%s; it will be uploaded when it settles", exc)
            self.held.append(cand.path)
            self.rec.progress.finish(cand.stat.size)
            self.rec.progress.skipped += 1
            return
        except OSError as exc:  # reading the file failed while sending it
            await self.rec.fail(cand, f"cannot read: {exc.strerror or exc}", retry=True)
            return
        except ApiError as exc:
            await self._upload_error(cand, exc)
            return
        except TransportError as exc:
            if self.stopping():
                return  # not a failure of the file: the pass is ending
            await self.rec.fail(cand, f"network: {exc}", retry=True)
            return
        finally:
            self.rec.progress.end_upload(cand.path_str)
            self.rec.drop_data(cand)
        upload.sent = st.size
        cand.remote_id = result.asset_id
        if not result.duplicate:
            self._quota = type(self._quota)(self._quota.size, self._quota.usage + st.size)
            self.rec.progress.bytes_uploaded += st.size
        if link_to is not None and not await self._linked(cand, link_to):
            return
        self.rec.soon(cand, DUPLICATE if result.duplicate else UPLOADED, result.asset_id)

    async def _linked(self, cand: Candidate, still_id: str) -> bool:
        """Link the still ``still_id`` to the video ``cand`` (on the server); a link
        that fails is the video's failure (not visible in Immich without it)."""
        assert cand.remote_id is not None
        reason = await link_late_video(self.api, still_id, cand.remote_id,
                                       cand.path_str)
        if reason is not None:
            await self.rec.fail(cand, reason, retry=True)
        return reason is None

    async def _upload_error(self, cand: Candidate, exc: ApiError) -> None:
        if exc.kind is ErrorKind.QUOTA:
            self._quota = await current_quota(self.api, self._quota)
            raise QuotaExceededError(self._quota_message(cand)) from exc
        raise_if_fatal(exc)
        if exc.kind is ErrorKind.UNSUPPORTED:
            await self.rec.now(cand, UNSUPPORTED, error=exc.message)
        else:
            await self.rec.fail(cand, exc.describe(), retry=exc.retryable)

    def _quota_message(self, cand: Candidate) -> str:
        return quota_message(self._quota, cand.path, cand.stat.size)


def _headers(path: Path, kind: str, file_time_ns: int,
             data: bytes | None) -> tuple[int | None, CaptureDate]:
    """What an upload sends from a file's headers: a video's duration, and the capture
    date (from ``data`` when the file's bytes are kept, else read from ``path``)."""
    duration = duration_ms(path) if kind == "video" else None
    return duration, capture_date(path, file_time_ns, data=data)
