"""``check``'s server items: the server and its version, the API key and its
permissions, the quota; and the media types the server takes."""

from __future__ import annotations

import errno
import socket

import aiohttp

from ..backup import make_client
from ..config import Settings
from ..errors import ExitCode
from ..i18n import _, ngettext
from ..immich.client import ImmichClient
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..immich.versions import SUPPORTED_MAJORS, ServerVersion
from ..media.kinds import DEFAULT_MEDIA_TYPES, MediaTypes
from ..pipeline.connect import (
    ALBUM_REMOVE_PERMISSION,
    LINK_PERMISSION,
    QUEUE_PERMISSIONS,
    REQUIRED_PERMISSIONS,
    STACK_PERMISSION,
    STACK_READ_PERMISSION,
    TAG_PERMISSIONS,
    missing_optional,
    missing_permissions,
)
from ..report.text import human_bytes
from .check_screen import Item, Screen
from .common import show_path


def _key_source(settings: Settings) -> str:
    server = settings.server
    if server.key_source == "api_key_file":
        return _("from {file}").format(file=show_path(server.api_key_file or ""))
    if server.key_source == "credential":
        return _("from the systemd credential {file}").format(file=server.api_key_file)
    if server.key_source == "env":
        return _("from $IMMICH_API_KEY")
    return _("inline in the config")


async def check_server(screen: Screen, names: dict[str, str], settings: Settings) -> MediaTypes:
    """Server, version, key, permissions, quota; the media types for counting files."""
    url = settings.server.url
    client = make_client(settings, "immich-backupd-check")
    async with client:
        try:
            version = await client.server_version()
        except TransportError as exc:
            screen.add(Item("fail", names["server"],
                            _("cannot reach the Immich server at {url}").format(url=url),
                            ExitCode.UNAVAILABLE,
                            [transport_reason(exc), _("Is server.url right (the address you "
                                                      "open Immich at), and is the server "
                                                      "up?")]))
            _not_checked(screen, names, "key", "quota")
            return DEFAULT_MEDIA_TYPES
        except ApiError as exc:
            screen.add(Item("fail", names["server"],
                            _("{url} does not answer like an Immich server").format(url=url),
                            ExitCode.UNAVAILABLE, [exc.describe(), *_proxy_hint(exc)]))
            _not_checked(screen, names, "key", "quota")
            return DEFAULT_MEDIA_TYPES
        if not version.supported:
            screen.add(Item("fail", names["server"], f"{url}: Immich {version}",
                            ExitCode.UNAVAILABLE, [unsupported_line(version)]))
            _not_checked(screen, names, "key", "quota")
            return DEFAULT_MEDIA_TYPES
        screen.add(Item("ok", names["server"], f"{url}: Immich {version}"))
        if not await _key(screen, names["key"], client, settings):
            _not_checked(screen, names, "quota")
            return await _media(client)
        await _quota(screen, names["quota"], client)
        return await _media(client)


def unsupported_line(version: ServerVersion) -> str:
    """Why this server's version is refused and what to upgrade, in the user's language
    (``immich.versions.unsupported_message`` is the English one, for the log)."""
    majors = ", ".join(f"v{m}.x" for m in SUPPORTED_MAJORS)
    if version.major < min(SUPPORTED_MAJORS):
        text = _("Immich {version} is not supported (supported: {majors}): upgrade the "
                 "Immich server")
    else:
        text = _("Immich {version} is not supported yet (supported: {majors}): upgrade "
                 "immich-backupd")
    return text.format(version=version, majors=majors)


def _proxy_hint(exc: ApiError) -> list[str]:
    if exc.status in (404, 502, 503, 504):
        return [_("A reverse proxy may be in front of it: check that {path} reaches "
                  "Immich.").format(path="/api")]
    return []


def transport_reason(exc: TransportError) -> str:
    """Why the server gave no usable answer, in the user's language (the client's own
    text, from aiohttp and the OS, is English: it is for the log)."""
    cause = exc.__cause__
    if isinstance(cause, TimeoutError):
        return _("no answer in time")
    if isinstance(cause, aiohttp.ClientConnectorCertificateError):
        return _("its TLS certificate is not trusted (a private CA goes in server.ca_file)")
    if isinstance(cause, aiohttp.ClientConnectorError):
        error = cause.os_error
        if isinstance(error, socket.gaierror):
            return _("the host name is not known")
        if error.errno == errno.ECONNREFUSED:
            return _("connection refused")
        if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return _("no route to the host")
        return _("cannot connect ({code})").format(
            code=errno.errorcode.get(error.errno or 0, type(error).__name__))
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return _("the server closed the connection")
    return _("no usable answer")


def _not_checked(screen: Screen, names: dict[str, str], *keys: str) -> None:
    for key in keys:
        screen.add(Item("info", names[key], _("not checked (needs the server)")))


async def _key(screen: Screen, label: str, client: ImmichClient, settings: Settings) -> bool:
    source = _key_source(settings)
    try:
        granted = tuple(await client.key_permissions())
    except TransportError as exc:
        screen.add(Item("fail", label, _("could not be checked"), ExitCode.UNAVAILABLE,
                        [transport_reason(exc)]))
        return False
    except ApiError as exc:
        if exc.kind is ErrorKind.AUTH:
            screen.add(Item("fail", label, _("rejected by the server ({source})").format(
                source=source), ExitCode.NOPERM,
                [_("Create a new key in Immich (Account Settings → API Keys) with the "
                   "permissions {permissions}, and put it in the config.").format(
                    permissions=", ".join(REQUIRED_PERMISSIONS))]))
            return False
        screen.add(Item("warn", label, _("accepted ({source}); this server does not list "
                                         "its permissions").format(source=source),
                        more=[_("A missing permission will show when a backup needs it.")]))
        return True
    missing = missing_permissions(granted, settings.makes_albums)
    if missing:
        screen.add(Item("fail", label, ngettext(
            "valid ({source}), but it lacks the permission {missing}",
            "valid ({source}), but it lacks the permissions {missing}",
            len(missing)).format(source=source, missing=", ".join(missing)), ExitCode.NOPERM,
            [_("Edit the key in Immich (Account Settings → API Keys) and grant it, or create "
               "a new one.")]))
        return False
    shown = _("all permissions") if "all" in granted else ", ".join(granted)
    stacks = settings.backup.stacks
    optional = missing_optional(
        granted, settings.server.pause_jobs_during_import,
        stacks=stacks.raw_jpeg or stacks.bursts,
        tags=any(n.tags or n.folder_as_tags for n in settings.albums.naming),
        albums=settings.makes_albums)
    if optional:
        more = []
        if LINK_PERMISSION in optional:
            more.append(_("Without asset.update a live photo's video that arrives after "
                          "its photo cannot be linked to it (the video is listed as failed)."))
        if ALBUM_REMOVE_PERMISSION in optional:
            more.append(_("Without albumAsset.delete a live photo's video that arrived "
                          "before its photo stays in the album beside it."))
        if any(p in optional for p in QUEUE_PERMISSIONS):
            more.append(_("Without queue.read and queue.update (and an admin's key) "
                          "bulk-import mode cannot pause the server's job queues; backups "
                          "go on without it."))
        if STACK_PERMISSION in optional:
            more.append(_("Without stack.create RAW+JPEG pairs and bursts are backed up "
                          "but not stacked."))
        if STACK_READ_PERMISSION in optional:
            more.append(_("Without asset.read the RAW+JPEG pairs and bursts whose files "
                          "were on the server before are not stacked: whether they are "
                          "stacked already cannot be asked."))
        if any(p in optional for p in TAG_PERMISSIONS):
            more.append(_("Without tag.create and tag.asset the tags of albums.include "
                          "are not set."))
        screen.add(Item("warn", label, _("valid ({source}): {permissions}; missing "
                                         "{missing}").format(
            source=source, permissions=shown, missing=", ".join(optional)), more=more))
        return True
    screen.add(Item("ok", label, _("valid ({source}): {permissions}").format(
        source=source, permissions=shown)))
    return True


async def _quota(screen: Screen, label: str, client: ImmichClient) -> None:
    try:
        quota = await client.quota()
    except TransportError as exc:
        screen.add(Item("warn", label, _("could not be read: {error}").format(
            error=transport_reason(exc))))
        return
    except ApiError as exc:
        screen.add(Item("warn", label, _("could not be read: {error}").format(
            error=_("the server answered {status}").format(status=exc.status))))
        return
    if quota.size is None:
        screen.add(Item("ok", label, _("{used} used, no quota").format(
            used=human_bytes(quota.usage))))
    elif quota.usage >= quota.size:
        screen.add(Item("fail", label, _("full: {used} of {size} used").format(
            used=human_bytes(quota.usage), size=human_bytes(quota.size)), ExitCode.QUOTA,
            [_("Free space in Immich (empty the trash), or ask the admin for a larger "
               "quota.")]))
    else:
        screen.add(Item("ok", label, _("{used} of {size} used").format(
            used=human_bytes(quota.usage), size=human_bytes(quota.size))))


async def _media(client: ImmichClient) -> MediaTypes:
    try:
        return MediaTypes.from_server(await client.media_types())
    except (ApiError, TransportError):
        return DEFAULT_MEDIA_TYPES
