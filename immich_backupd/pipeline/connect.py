"""The start of every pass: reach the server, check its version, our key and its user.

Fails early, with its exit code (:class:`~immich_backupd.errors.ExitCode`), before a
single file is read: unreachable or unsupported server → 69, bad key or missing
permission → 77.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AuthError, ServerUnavailableError, UnsupportedServerError
from ..immich.client import ImmichClient, Quota
from ..immich.errors import ApiError, ErrorKind, TransportError, missing_permission
from ..immich.versions import ServerVersion, unsupported_message
from ..media.kinds import MediaTypes

REQUIRED_PERMISSIONS = ("asset.upload", "user.read", "album.read", "album.create",
                        "albumAsset.create")


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: ServerVersion
    media: MediaTypes
    quota: Quota
    permissions: tuple[str, ...]
    # The key's user (``GET /users/me``): whose memory the state is (see verify.py).
    user_id: str = ""
    user_email: str = ""


#: Permissions a backup goes on without, losing one thing each (see ``check``).
LINK_PERMISSION = "asset.update"  # linking a live photo's late video (livelink.py)
QUEUE_PERMISSIONS = ("queue.read", "queue.update")  # bulk-import mode (jobpause.py)
STACK_PERMISSION = "stack.create"  # backup.stacks (stacking.py)
# backup.stacks: whether files the server had before are stacked already (stacking.py)
STACK_READ_PERMISSION = "asset.read"
TAG_PERMISSIONS = ("tag.create", "tag.asset")  # include tags (tagging.py)
# Albums: a live photo's video put in an album before its photo came is taken out again
# (albums.py); without it, the video stays in the album.
ALBUM_REMOVE_PERMISSION = "albumAsset.delete"


def missing_optional(granted: tuple[str, ...], pause_jobs: bool, *, stacks: bool = False,
                     tags: bool = False, albums: bool = False) -> list[str]:
    """The optional permissions the key lacks: ``asset.update`` always,
    ``albumAsset.delete`` when albums are made, the queue ones when bulk-import mode is
    on, ``stack.create`` and ``asset.read`` when stacks are on, the tag ones when an
    include folder has tags."""
    if "all" in granted:
        return []
    wanted = [LINK_PERMISSION, *((ALBUM_REMOVE_PERMISSION,) if albums else ()),
              *(QUEUE_PERMISSIONS if pause_jobs else ()),
              *((STACK_PERMISSION, STACK_READ_PERMISSION) if stacks else ()),
              *(TAG_PERMISSIONS if tags else ())]
    return [p for p in dict.fromkeys(wanted) if p not in granted]


def missing_permissions(granted: tuple[str, ...], album_sync: bool) -> list[str]:
    """The permissions a backup needs that the key lacks (``all`` grants everything)."""
    if "all" in granted:
        return []
    needed = REQUIRED_PERMISSIONS if album_sync else REQUIRED_PERMISSIONS[:2]
    return [p for p in needed if p not in granted]


def fatal_from_api(exc: ApiError) -> Exception | None:
    """The pass-ending error (with its exit code) for an API failure, or None."""
    if exc.kind is ErrorKind.AUTH:
        return AuthError(f"the server rejected the API key ({exc.message}): "
                         "create a new key in Immich (Account Settings → API Keys)")
    if exc.kind is ErrorKind.PERMISSION:
        perm = missing_permission(exc.message) or "?"
        return AuthError(f"the API key lacks the permission {perm}: edit the key in Immich "
                         "(Account Settings → API Keys) and grant it")
    return None


def raise_if_fatal(exc: ApiError | TransportError) -> None:
    """Re-raise an API failure that ends the pass (bad key, missing permission)."""
    if isinstance(exc, ApiError):
        fatal = fatal_from_api(exc)
        if fatal is not None:
            raise fatal from exc


def raise_if_refused_or_fatal(exc: ApiError | TransportError) -> None:
    """Re-raise a missing permission as it is (an optional step's caller catches it and
    says what is lost, as tagging does), and what ends the pass (:func:`raise_if_fatal`);
    return for a passing fault."""
    if isinstance(exc, ApiError) and exc.kind is ErrorKind.PERMISSION:
        raise exc
    raise_if_fatal(exc)


async def connect(client: ImmichClient, *, album_sync: bool) -> ServerInfo:
    """Read version, media types, quota and key permissions. Raise with an exit code."""
    try:
        version = await client.server_version()
        if not version.supported:
            raise UnsupportedServerError(unsupported_message(version))
        media = MediaTypes.from_server(await client.media_types())
        try:
            permissions = tuple(await client.key_permissions())
        except ApiError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise
            permissions = ()  # an older server or a proxy without it: rely on the 403s
        if permissions:
            missing = missing_permissions(permissions, album_sync)
            if missing:
                raise AuthError(
                    "the API key lacks the permission"
                    f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}: edit the key "
                    "in Immich (Account Settings → API Keys) and grant "
                    f"{'them' if len(missing) > 1 else 'it'}"
                )
        me = await client.me()
    except TransportError as exc:
        raise ServerUnavailableError(f"cannot reach the Immich server at {client.api_url}: "
                                     f"{exc}") from exc
    except ApiError as exc:
        fatal = fatal_from_api(exc)
        if fatal is not None:
            raise fatal from exc
        raise ServerUnavailableError(f"the Immich server at {client.api_url} answered "
                                     f"{exc.describe()}") from exc
    return ServerInfo(version=version, media=media, quota=me.quota, permissions=permissions,
                      user_id=me.id, user_email=me.email)
