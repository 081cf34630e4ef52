"""The HTTP calls to an Immich server, one method per endpoint we use.

Every answer is checked for shape before use: a proxy's HTML error page or a JSON body
of the wrong form becomes an ``ApiError`` of kind BAD_RESPONSE, never a KeyError deep
in the pipeline. Every failure carries the server's ``X-Correlation-ID``. The API key
is sent in a header and appears nowhere else: not in URLs, errors or logs.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

from .errors import ApiError, ErrorKind, TransportError, as_data, parse_retry_after
from .multipart import FilePart, MultipartBody, Pace
from .outgoing import UploadBody
from .versions import ServerVersion, format_duration_v2

USER_AGENT = "immich-backupd"


@dataclass(frozen=True, slots=True)
class Quota:
    size: int | None  # None: unlimited
    usage: int

    def room_for(self, nbytes: int) -> bool:
        return self.size is None or self.usage + nbytes <= self.size


@dataclass(frozen=True, slots=True)
class Me:
    """The user the API key belongs to: who the backup goes to, and their quota."""

    id: str
    email: str
    quota: Quota


class CheckResult(NamedTuple):
    """One answer of bulk-upload-check: accept (upload it) or reject (duplicate...).
    A tuple: one is made per file checked, 100,000 when a library is adopted."""

    id: str
    accept: bool
    reason: str | None = None
    asset_id: str | None = None
    is_trashed: bool = False


@dataclass(frozen=True, slots=True)
class UploadRequest:
    path: Path
    size: int
    sha1: bytes
    created_at: str  # ISO-8601 with offset
    modified_at: str
    filename: str
    sidecar: Path | None = None
    sidecar_size: int = 0
    live_photo_video_id: str | None = None
    visibility: str | None = None
    duration_ms: int | None = None
    device_asset_id: str | None = None  # v2 only
    # Bytes of the file (and sidecar) that left the machine so far: see outgoing.py.
    on_progress: Callable[[int], None] | None = None
    on_try: Callable[[], None] | None = None  # called as each try of the upload begins
    # The file's bytes as hashed (sent instead of reading it again), and the mtime they
    # were read under (see multipart.py).
    data: bytes | None = field(default=None, repr=False)
    mtime_ns: int | None = None
    ino: int | None = None  # the inode it was hashed under, checked before the last byte
    local_disk: bool = False  # the file's closing stat may run on the event loop
    # The bandwidth cap shared by all uploads (awaited per chunk), or None: no cap.
    pace: Pace | None = None


@dataclass(frozen=True, slots=True)
class UploadResult:
    asset_id: str
    duplicate: bool
    bytes_sent: int = 0


@dataclass(frozen=True, slots=True)
class AlbumAddResult:
    """One id of a ``BulkIdResponseDto`` list: adding to an album, taking a tag off."""

    asset_id: str
    success: bool
    error: str | None = None


def _bulk_ids(data: Any, method: str) -> list[AlbumAddResult]:
    """The per-id answers (``BulkIdResponseDto``) of ``/tags/{id}/assets``."""
    _shape(isinstance(data, list), method, "/tags/{id}/assets", "not a list")
    return [AlbumAddResult(asset_id=str(r.get("id")), success=bool(r.get("success")),
                           error=None if r.get("error") is None else as_data(str(r["error"])))
            for r in data if isinstance(r, dict)]


def _shape(cond: bool, method: str, path: str, what: str) -> None:
    if not cond:
        raise ApiError(0, f"unexpected answer: {what}", method=method, path=path,
                       kind=ErrorKind.BAD_RESPONSE)


def make_ssl_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext | bool:
    if not verify:
        return False
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return True


class ImmichClient:
    """A thin async client. ``api_url`` ends with ``/api``."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        ssl_context: ssl.SSLContext | bool = True,
        device_id: str = "immich-backupd",
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._key = api_key
        self._timeout = timeout
        self._ssl = ssl_context
        self.device_id = device_id
        self.version: ServerVersion | None = None
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the key
        return f"ImmichClient({self.api_url!r}, version={self.version})"

    async def __aenter__(self) -> ImmichClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"x-api-key": self._key, "User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self._timeout, sock_read=self._timeout
                ),
                # The server closes idle keep-alive connections after 5 s; drop ours first.
                connector=aiohttp.TCPConnector(ssl=self._ssl, keepalive_timeout=4, limit=32),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- plumbing ------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> tuple[int, Any]:
        url = self.api_url + path
        try:
            async with self.session.request(
                method, url, json=json_body, data=data, headers=headers,
                **({} if timeout is None else {"timeout": timeout}),
            ) as resp:
                body = await resp.read()
                status = resp.status
                correlation = resp.headers.get("X-Correlation-ID")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise TransportError(f"{method} {path}: {_describe_transport(exc)}") from exc
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
            if status < 400:
                raise ApiError(status, "answer is not JSON", method=method, path=path,
                               correlation_id=correlation, kind=ErrorKind.BAD_RESPONSE) from None
        if status >= 400:
            raise ApiError(status, _message(payload, body), method=method, path=path,
                           correlation_id=correlation, retry_after=retry_after)
        return status, payload

    async def _get(self, path: str) -> Any:
        return (await self._request("GET", path))[1]

    # -- server --------------------------------------------------------------------
    async def server_version(self) -> ServerVersion:
        data = await self._get("/server/version")
        _shape(isinstance(data, dict) and all(isinstance(data.get(k), int)
               for k in ("major", "minor", "patch")), "GET", "/server/version", "no version")
        self.version = ServerVersion(data["major"], data["minor"], data["patch"])
        return self.version

    async def ping(self) -> bool:
        """True when the server answers ``/server/ping`` (no key needed): it is online."""
        try:
            _, data = await self._request("GET", "/server/ping")
        except (ApiError, TransportError):
            return False
        return isinstance(data, dict) and data.get("res") == "pong"

    async def media_types(self) -> dict[str, list[str]]:
        data = await self._get("/server/media-types")
        _shape(isinstance(data, dict) and isinstance(data.get("image"), list)
               and isinstance(data.get("video"), list), "GET", "/server/media-types",
               "no image/video lists")
        return {k: [str(e).lower() for e in data.get(k) or []] for k in ("image", "video",
                                                                          "sidecar")}

    async def quota(self) -> Quota:
        data = await self._get("/users/me")
        _shape(isinstance(data, dict), "GET", "/users/me", "not an object")
        return _quota(data)

    async def me(self) -> Me:
        """The key's user (``GET /users/me``): its id (a UUID the server made, so one
        server's user is never another's), e-mail and quota."""
        data = await self._get("/users/me")
        _shape(isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"],
               "GET", "/users/me", "no user id")
        return Me(id=data["id"], email=str(data.get("email") or ""), quota=_quota(data))

    async def key_permissions(self) -> list[str]:
        data = await self._get("/api-keys/me")
        _shape(isinstance(data, dict) and isinstance(data.get("permissions"), list),
               "GET", "/api-keys/me", "no permissions")
        return [str(p) for p in data["permissions"]]

    # -- assets --------------------------------------------------------------------
    async def bulk_upload_check(self, items: Sequence[tuple[str, bytes]]) -> list[CheckResult]:
        """Ask which of (client id, sha1) the server already has. ``items`` must not be empty."""
        body = {"assets": [{"id": i, "checksum": base64.b64encode(s).decode()} for i, s in items]}
        _, data = await self._request("POST", "/assets/bulk-upload-check", json_body=body)
        _shape(isinstance(data, dict) and isinstance(data.get("results"), list),
               "POST", "/assets/bulk-upload-check", "no results")
        out = []
        for r in data["results"]:
            if not (isinstance(r, dict) and "id" in r
                    and (action := r.get("action")) in ("accept", "reject")):
                _shape(False, "POST", "/assets/bulk-upload-check", "bad result")
            out.append(CheckResult(str(r["id"]), action == "accept", r.get("reason"),
                                   r.get("assetId"), bool(r.get("isTrashed"))))
        return out

    def _upload_fields(self, req: UploadRequest) -> list[tuple[str, str]]:
        assert self.version is not None, "server_version() first"
        fields: list[tuple[str, str]] = []
        if self.version.needs_device_fields:
            fields.append(("deviceAssetId", req.device_asset_id or f"{req.filename}-{req.size}"))
            fields.append(("deviceId", self.device_id))
        fields.append(("fileCreatedAt", req.created_at))
        fields.append(("fileModifiedAt", req.modified_at))
        if req.duration_ms is not None:
            fields.append(("duration", str(req.duration_ms) if self.version.duration_as_ms
                           else format_duration_v2(req.duration_ms)))
        if req.live_photo_video_id:
            fields.append(("livePhotoVideoId", req.live_photo_video_id))
        if req.visibility:
            fields.append(("visibility", req.visibility))
        fields.append(("filename", req.filename))  # last: see multipart.py
        return fields

    async def upload(self, req: UploadRequest) -> UploadResult:
        """Stream one file up. A duplicate answer (even an early one) is a result."""
        if req.on_try is not None:
            req.on_try()
        files = [FilePart("assetData", req.path, req.size, req.filename, req.sha1,
                          data=req.data, mtime_ns=req.mtime_ns, ino=req.ino,
                          stat_on_loop=req.local_disk)]
        if req.sidecar is not None:
            files.append(FilePart("sidecarData", req.sidecar, req.sidecar_size,
                                  req.sidecar.name))
        body = MultipartBody(files, self._upload_fields(req), req.pace)
        headers = {
            "Content-Type": body.content_type,
            "Content-Length": str(len(body)),
            "x-immich-checksum": req.sha1.hex(),
        }
        # The read timeout is the body's: the answer's time starts once the body has
        # left (not when it was handed over), and a body that stops leaving for as long
        # fails the same way (see outgoing.py).
        payload = UploadBody(body, req.on_progress, self._timeout)
        try:
            status, data = await payload.guard(self._request(
                "POST", "/assets", data=payload, headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout)),
                "POST /assets")
        except TransportError:
            if body.error is not None:
                # Reading the file failed (changed since hashed, deleted, unreadable): the
                # HTTP library calls that a failure to send; it is the file's, not the
                # network's, and retrying would not help.
                raise body.error from None
            # The server may have answered "duplicate" from the checksum header and
            # closed the connection while we were still sending: ask it.
            early = await self._duplicate_of(req.sha1)
            if early is None:
                raise
            return UploadResult(asset_id=early, duplicate=True, bytes_sent=body.bytes_sent)
        _shape(isinstance(data, dict) and isinstance(data.get("id"), str), "POST", "/assets",
               "no asset id")
        payload.report(len(body))  # the server has it all: it answered
        return UploadResult(asset_id=data["id"], duplicate=status == 200
                            or data.get("status") == "duplicate", bytes_sent=body.bytes_sent)

    async def _duplicate_of(self, sha1: bytes) -> str | None:
        try:
            results = await self.bulk_upload_check([("early", sha1)])
        except (ApiError, TransportError):
            return None
        for r in results:
            if not r.accept and r.reason == "duplicate" and r.asset_id:
                return r.asset_id
        return None

    async def link_live_photo(self, still_id: str, video_id: str) -> None:
        """Link the still ``still_id`` to its motion video ``video_id`` after both are
        on the server (``PUT /assets/{id}`` with ``livePhotoVideoId``, v2 and v3); the
        server then hides the video. Needs the permission ``asset.update``."""
        path = f"/assets/{still_id}"
        _, data = await self._request("PUT", path, json_body={"livePhotoVideoId": video_id})
        _shape(isinstance(data, dict) and data.get("livePhotoVideoId") == video_id,
               "PUT", "/assets/{id}", "the still is not linked to the video")

    # -- albums --------------------------------------------------------------------
    async def albums(self) -> dict[str, str]:
        """Album name → id of the user's albums. Names are not unique: of albums with the
        same name the oldest (``createdAt``, then id) wins, whatever order the server
        lists them in, so that every client picks the same one."""
        data = await self._get("/albums")
        _shape(isinstance(data, list), "GET", "/albums", "not a list")
        found: list[tuple[str, str, str]] = []
        for a in data:
            _shape(isinstance(a, dict) and "id" in a and "albumName" in a, "GET", "/albums",
                   "album without id or name")
            found.append((str(a.get("createdAt") or ""), str(a["id"]), str(a["albumName"])))
        out: dict[str, str] = {}
        for _, album_id, name in sorted(found):
            out.setdefault(name, album_id)
        return out

    async def create_album(self, name: str, asset_ids: Sequence[str] = ()) -> str:
        body: dict[str, Any] = {"albumName": name}
        if asset_ids:
            body["assetIds"] = list(asset_ids)
        _, data = await self._request("POST", "/albums", json_body=body)
        _shape(isinstance(data, dict) and isinstance(data.get("id"), str), "POST", "/albums",
               "no album id")
        return data["id"]

    async def add_to_album(self, album_id: str, asset_ids: Sequence[str]) -> list[AlbumAddResult]:
        path = f"/albums/{album_id}/assets"
        _, data = await self._request("PUT", path, json_body={"ids": list(asset_ids)})
        _shape(isinstance(data, list), "PUT", "/albums/{id}/assets", "not a list")
        return [AlbumAddResult(asset_id=str(r.get("id")), success=bool(r.get("success")),
                               error=None if r.get("error") is None else as_data(str(r["error"])))
                for r in data if isinstance(r, dict)]

    async def remove_from_album(self, album_id: str, asset_ids: Sequence[str]
                                ) -> list[AlbumAddResult]:
        """Take ``asset_ids`` out of the album: ``DELETE /albums/{id}/assets``
        (``albumAsset.delete``); per id, ``not_found`` when it was not in it."""
        path = f"/albums/{album_id}/assets"
        _, data = await self._request("DELETE", path, json_body={"ids": list(asset_ids)})
        _shape(isinstance(data, list), "DELETE", "/albums/{id}/assets", "not a list")
        return [AlbumAddResult(asset_id=str(r.get("id")), success=bool(r.get("success")),
                               error=None if r.get("error") is None else as_data(str(r["error"])))
                for r in data if isinstance(r, dict)]

    async def create_stack(self, asset_ids: Sequence[str]) -> tuple[str, str]:
        """Stack ``asset_ids`` (two or more, the first on top): ``POST /stacks`` (v1.120 and
        later; ``stack.create``). Returns the new stack's id and its primary asset's id.

        The server deletes any stack whose primary is among the ids and moves the other
        ids out of their stacks: the caller decides when to send (``stacks.stack_requests``).
        """
        _, data = await self._request("POST", "/stacks", json_body={"assetIds": list(asset_ids)})
        _shape(isinstance(data, dict) and isinstance(data.get("id"), str)
               and isinstance(data.get("primaryAssetId"), str), "POST", "/stacks",
               "no stack id")
        return data["id"], data["primaryAssetId"]

    async def asset_stack(self, asset_id: str) -> tuple[str, str] | None:
        """The stack asset ``asset_id`` is in, as (stack id, primary asset id), or None
        when it is in none: ``GET /assets/{id}`` (``asset.read``), whose
        ``AssetResponseDto.stack`` says it (null or absent: none)."""
        data = await self._get(f"/assets/{asset_id}")
        _shape(isinstance(data, dict), "GET", "/assets/{id}", "not an object")
        stack = data.get("stack")
        if stack is None:
            return None
        _shape(isinstance(stack, dict) and isinstance(stack.get("id"), str)
               and isinstance(stack.get("primaryAssetId"), str), "GET", "/assets/{id}",
               "a stack without its id")
        return stack["id"], stack["primaryAssetId"]

    async def upsert_tags(self, values: Sequence[str]) -> dict[str, str]:
        """Tag path (``Trips/2024/Rome``) → id, each made with its parents where missing:
        ``PUT /tags`` (``tag.create``)."""
        _, data = await self._request("PUT", "/tags", json_body={"tags": list(values)})
        _shape(isinstance(data, list) and all(
            isinstance(t, dict) and isinstance(t.get("id"), str)
            and isinstance(t.get("value"), str) for t in data), "PUT", "/tags", "not tags")
        return {t["value"]: t["id"] for t in data}

    async def add_tag(self, tag_id: str, asset_ids: Sequence[str]) -> list[AlbumAddResult]:
        """Put the tag ``tag_id`` on ``asset_ids`` (``PUT /tags/{id}/assets``,
        ``tag.asset``). Each id answers on its own: ``duplicate`` when the asset had the
        tag already (so a tag the user set is told apart from one this client set).
        Success does not mean it stays: a tag set right after an upload can still be
        lost on the server (see pipeline/tagging.py): read it back later."""
        _, data = await self._request("PUT", f"/tags/{tag_id}/assets",
                                      json_body={"ids": list(asset_ids)})
        return _bulk_ids(data, "PUT")

    async def remove_tag(self, tag_id: str, asset_ids: Sequence[str]
                           ) -> list[AlbumAddResult]:
        """Take the tag ``tag_id`` off ``asset_ids`` (``DELETE /tags/{id}/assets``,
        ``tag.asset``); the tag itself stays. An asset without the tag answers
        ``not_found``. Like setting one, a removal can be undone by the server's jobs."""
        _, data = await self._request("DELETE", f"/tags/{tag_id}/assets",
                                      json_body={"ids": list(asset_ids)})
        return _bulk_ids(data, "DELETE")

    # -- background job queues (admin only) ----------------------------------------
    async def queues(self) -> dict[str, bool]:
        """Queue name → paused, for the server's background job queues (``GET /queues``,
        v2.4 and later; an admin's key with ``queue.read``; others get a 403)."""
        data = await self._get("/queues")
        _shape(isinstance(data, list) and all(
            isinstance(q, dict) and isinstance(q.get("name"), str) for q in data),
            "GET", "/queues", "not a list of queues")
        return {q["name"]: bool(q.get("isPaused")) for q in data}

    async def set_queue_paused(self, name: str, paused: bool) -> bool:
        """Pause or resume the queue ``name`` (``PUT /queues/{name}``, ``queue.update``);
        return whether it is paused now. The server refuses to pause ``backgroundTask``."""
        _, data = await self._request("PUT", f"/queues/{name}", json_body={"isPaused": paused})
        _shape(isinstance(data, dict) and isinstance(data.get("isPaused"), bool),
               "PUT", "/queues/{name}", "no isPaused")
        return bool(data["isPaused"])


def _quota(data: dict[str, Any]) -> Quota:
    size = data.get("quotaSizeInBytes")
    usage = data.get("quotaUsageInBytes") or 0
    return Quota(size=int(size) if size is not None else None, usage=int(usage))


def _message(payload: Any, body: bytes) -> str:
    if isinstance(payload, dict):
        msg = payload.get("message")
        if isinstance(msg, list):
            return "; ".join(str(m) for m in msg)
        if msg:
            return str(msg)
    text = body[:200].decode("utf-8", "replace").strip()
    return " ".join(text.split()) or "(empty answer)"


def _describe_transport(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate not trusted: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection"
    return str(exc) or type(exc).__name__
