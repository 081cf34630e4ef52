"""A fake of the server the pass talks to (``pipeline.server.PassServer``), shared by the
stage tests and the pass's own: it answers as the stand-in does
(immich_standin/api_assets.py), in process, with no server and no socket.

- the bulk check: accept, or reject as a duplicate with the asset id and whether it is
  in the trash; an empty request (or one over the stand-in's limit) is a 500;
- uploads: 201 with a new id, 200 "duplicate" for a checksum it has, 400 "Unsupported
  file type ..." for a refused ending, 400 "Quota has been exceeded!" past the quota,
  a live photo's still naming its video;
- the file changed while sent: ``FileChangedDuringUploadError``, as the real client's
  multipart body raises it (immich/multipart.py) before the last byte leaves;
- gone: with ``online`` False every call fails as a refused connection does
  (``TransportError``) and ``ping`` answers False.

``on_upload(req)`` is called as each upload request begins (before it is answered):
a test stops the pass there, takes the server away, or changes the file being sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Sequence

from immich_backupd.immich.client import (
    AlbumAddResult,
    CheckResult,
    Quota,
    UploadRequest,
    UploadResult,
)
from immich_backupd.immich.errors import ApiError, TransportError
from immich_backupd.immich.multipart import FileChangedDuringUploadError

NO_QUOTA = Quota(size=None, usage=0)


class FakeServer:
    """A PassServer keeping assets by checksum, as the stand-in does.

    ``assets``: sha1 -> asset id of what the server has; ``trashed``: those of them in
    its trash. ``refuse``: file name endings refused as unsupported. ``check_error``:
    raised by every bulk check. ``upload_q``: a queue whose size each bulk check notes
    in ``seen_queue`` (what the pass had queued before asking)."""

    api_url = "http://127.0.0.1:9/api"
    MAX_ITEMS = 5000  # the stand-in's limit (BULK_CHECK_MAX_ITEMS)

    def __init__(self, assets: dict[bytes, str] | None = None, *,
                 trashed: set[str] | None = None, quota: Quota = NO_QUOTA,
                 refuse: tuple[str, ...] = (), check_error: ApiError | None = None,
                 upload_q: asyncio.Queue[object] | None = None,
                 on_upload: Callable[[UploadRequest], None] | None = None) -> None:
        self.assets: dict[bytes, str] = dict(assets or {})
        self.trashed: set[str] = set(trashed or ())
        self.live: dict[str, str | None] = {}  # asset id -> its live video's id
        self.hidden: set[str] = set()
        self._quota = quota
        self.refuse = refuse
        self.check_error = check_error
        self.upload_q = upload_q
        self.on_upload = on_upload
        self.online = True
        self.requests: list[list[str]] = []  # the ids of each bulk check
        self.seen_queue: list[int] = []
        self.uploads: list[str] = []  # the file name of each upload request
        self.albums_made: dict[str, list[str]] = {}  # album name -> asset ids
        self.stacks: list[list[str]] = []
        self.queue_calls: list[tuple[str, bool]] = []

    def _reach(self) -> None:
        if not self.online:
            raise TransportError(f"Cannot connect to host {self.api_url}")

    async def ping(self) -> bool:
        return self.online

    async def quota(self) -> Quota:
        self._reach()
        return self._quota

    async def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]) -> list[CheckResult]:
        self._reach()
        self.requests.append([i for i, _ in items])
        if self.upload_q is not None:
            self.seen_queue.append(self.upload_q.qsize())
        if self.check_error is not None:
            raise self.check_error
        if not items or len(items) > self.MAX_ITEMS:
            raise ApiError(500, "Internal server error")
        out = []
        for i, sha1 in items:
            found = self.assets.get(sha1)
            out.append(CheckResult(i, True) if found is None else
                       CheckResult(i, False, "duplicate", found, found in self.trashed))
        return out

    async def upload(self, req: UploadRequest) -> UploadResult:
        if req.on_try is not None:
            req.on_try()
        if self.on_upload is not None:
            self.on_upload(req)
        self._reach()
        self.uploads.append(req.filename)
        _as_the_client_sends(req)
        if req.filename.endswith(self.refuse):
            raise ApiError(400, f"Unsupported file type {req.path.suffix}")
        if req.sha1 in self.assets:
            return UploadResult(self.assets[req.sha1], duplicate=True)
        q = self._quota
        if q.size is not None and q.usage + req.size > q.size:
            raise ApiError(400, "Quota has been exceeded!")
        asset_id = f"asset-{len(self.assets) + 1}"
        self.assets[req.sha1] = asset_id
        self.live[asset_id] = req.live_photo_video_id
        if req.visibility == "hidden":
            self.hidden.add(asset_id)
        self._quota = Quota(q.size, q.usage + req.size)
        return UploadResult(asset_id, duplicate=False, bytes_sent=req.size)

    async def link_live_photo(self, still_id: str, video_id: str) -> None:
        self._reach()
        self.live[still_id] = video_id

    async def albums(self) -> dict[str, str]:
        self._reach()
        return {name: f"album-{name}" for name in self.albums_made}

    async def create_album(self, name: str, asset_ids: Sequence[str] = ()) -> str:
        self._reach()
        self.albums_made[name] = list(asset_ids)
        return f"album-{name}"

    async def add_to_album(self, album_id: str, asset_ids: Sequence[str]
                           ) -> list[AlbumAddResult]:
        self._reach()
        self.albums_made.setdefault(album_id.removeprefix("album-"), []).extend(asset_ids)
        return [AlbumAddResult(a, True) for a in asset_ids]

    async def remove_from_album(self, album_id: str, asset_ids: Sequence[str]
                                ) -> list[AlbumAddResult]:
        """As the server answers: per id, ``not_found`` when it was not in the album."""
        self._reach()
        members = self.albums_made.setdefault(album_id.removeprefix("album-"), [])
        out = []
        for a in asset_ids:
            if a in members:
                members.remove(a)
                out.append(AlbumAddResult(a, True))
            else:
                out.append(AlbumAddResult(a, False, "not_found"))
        return out

    async def create_stack(self, asset_ids: Sequence[str]) -> tuple[str, str]:
        self._reach()
        self.stacks.append(list(asset_ids))
        return f"stack-{len(self.stacks)}", asset_ids[0]

    async def asset_stack(self, asset_id: str) -> tuple[str, str] | None:
        self._reach()
        for i, members in enumerate(self.stacks, 1):
            if asset_id in members:
                return f"stack-{i}", members[0]
        return None

    async def upsert_tags(self, values: Sequence[str]) -> dict[str, str]:
        self._reach()
        return {v: f"tag-{v}" for v in values}

    async def add_tag(self, tag_id: str, asset_ids: Sequence[str]) -> list[AlbumAddResult]:
        self._reach()
        return [AlbumAddResult(a, True) for a in asset_ids]

    async def remove_tag(self, tag_id: str, asset_ids: Sequence[str]
                         ) -> list[AlbumAddResult]:
        self._reach()
        return [AlbumAddResult(a, True) for a in asset_ids]

    async def queues(self) -> dict[str, bool]:
        self._reach()
        return {}

    async def set_queue_paused(self, name: str, paused: bool) -> bool:
        self._reach()
        self.queue_calls.append((name, paused))
        return True


def _as_the_client_sends(req: UploadRequest) -> None:
    """What the real client's body checks before its last byte (immich/multipart.py):
    kept bytes go only while the file's stat is still the one they were read under, a
    file read again only while its bytes still have the checksum."""
    if req.data is not None:
        assert hashlib.sha1(req.data).digest() == req.sha1  # the bytes that were hashed
        st = os.stat(req.path)
        if st.st_size != req.size or (req.mtime_ns is not None
                                      and st.st_mtime_ns != req.mtime_ns):
            raise FileChangedDuringUploadError(
                f"{req.path}: file changed while uploading (size or mtime moved)")
    else:
        body = req.path.read_bytes()
        if len(body) != req.size or hashlib.sha1(body).digest() != req.sha1:
            raise FileChangedDuringUploadError(
                f"{req.path}: file changed while uploading (checksum differs)")


class FakeClock:
    """Time that moves only when the code under test sleeps (``sleep``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
