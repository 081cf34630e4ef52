"""``check``: one screen saying, for each part of the set-up, ok or what to do.

Each item is printed as soon as it is known (a large library takes a moment to count):
config, server and version, API key and permissions, quota, each folder (readable, how
many photos and videos), the state folder, inotify watches, charging and network, the
daemon. The exit code is that of the first item that blocks backups (README.md, *Exit
codes*: 78 config, 69 server, 77 key, 73 quota, 74 state folder); warnings leave it at 0.
Conditions not met right now (on battery, a metered network) are warnings: backups wait
for them, they are not broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

import aiohttp

from .. import folder_problems
from ..backup import make_client
from ..bilingual import localized_lines
from ..conditions import Requirements, default_network_source, default_power_source
from ..conditions.power import LinuxSysfsPower
from ..conditions.states import NetworkState, PowerState
from ..config import Settings, load_settings
from ..errors import ConfigError, ExitCode
from ..folder_problems import os_error_reason
from ..i18n import _, ngettext
from ..immich.client import ImmichClient
from ..immich.errors import ApiError, ErrorKind, TransportError
from ..immich.versions import SUPPORTED_MAJORS, ServerVersion
from ..lock import DAEMON_LOCK_NAME, is_locked, read_holder
from ..media import DEFAULT_MEDIA_TYPES, MediaTypes
from ..pipeline.connect import (
    LINK_PERMISSION,
    QUEUE_PERMISSIONS,
    missing_optional,
    missing_permissions,
)
from ..report.statusline import waiting_text, watch_problem
from ..report.text import count, human_bytes
from ..rules import AlbumRules
from ..scan import walk
from ..watch.backend import BackendFactory
from ..watch.limits import count_dirs, inotify_limit, watch_limit_advice
from .common import IOERR, local_error, show_path

Status = Literal["ok", "warn", "fail", "info"]
MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "info": "·"}
POWER_ROOT_ENV = "IMMICH_BACKUPD_POWER_SUPPLY_ROOT"  # as the daemon: a test's fake sysfs
LOW_SPACE = 200_000_000  # bytes free on the state folder's disk worth a warning
CONDITION_TIMEOUT = 5.0


@dataclass
class Item:
    status: Status
    label: str
    text: str
    code: ExitCode = ExitCode.OK  # for "fail": the exit code it stands for
    more: list[str] = field(default_factory=list)  # further lines: details, what to do


class Screen:
    """Prints items as they come, labels aligned; remembers the worst for the exit code."""

    def __init__(self, out: TextIO, labels: list[str]) -> None:
        self.out = out
        self.width = max(len(label) for label in labels)
        self.items: list[Item] = []

    def add(self, item: Item) -> Item:
        self.items.append(item)
        pad = " " * (self.width + 4)
        print(f"{MARKS[item.status]} {item.label:<{self.width}}  {item.text}", file=self.out)
        for line in item.more:
            print(f"{pad}{line}", file=self.out)
        self.out.flush()
        return item

    def exit_code(self) -> ExitCode:
        return next((i.code for i in self.items if i.status == "fail"), ExitCode.OK)


def labels() -> dict[str, str]:
    return {
        "config": _("Config"),
        "server": _("Server"),
        "key": _("API key"),
        "quota": _("Quota"),
        "folder": _("Folder"),
        "state": _("State folder"),
        "watch": _("Watching"),
        "power": _("Charging"),
        "network": _("Network"),
        "daemon": _("Daemon"),
    }


def cmd_check(args: argparse.Namespace) -> int:
    return asyncio.run(run_check(args.config_path, sys.stdout))


async def run_check(config_path: Path, out: TextIO) -> int:
    names = labels()
    screen = Screen(out, list(names.values()))
    settings = _config(screen, names["config"], config_path)
    if settings is None:
        print("\n" + _("✗ Fix the config, then run `immich-backupd check` again."), file=out)
        return int(screen.exit_code())
    media = await _server(screen, names, settings)
    _folders(screen, names["folder"], settings, media)
    _state_dir(screen, names["state"], settings.state_dir)
    _watching(screen, names["watch"], settings)
    await _conditions(screen, names, settings)
    _daemon(screen, names["daemon"], settings)
    failures = [i for i in screen.items if i.status == "fail"]
    warnings = [i for i in screen.items if i.status == "warn"]
    print(file=out)
    if failures:
        print(ngettext("✗ {n} problem blocks backups: fix it and run `immich-backupd check` "
                       "again.",
                       "✗ {n} problems block backups: fix them and run `immich-backupd "
                       "check` again.", len(failures)).format(n=count(len(failures))),
              file=out)
    elif warnings:
        print(ngettext("! Backups work; {n} warning above is worth a look.",
                       "! Backups work; {n} warnings above are worth a look.",
                       len(warnings)).format(n=count(len(warnings))), file=out)
    else:
        print(_("✓ All good. Next: `immich-backupd once` for the first backup."), file=out)
    return int(screen.exit_code())


# -- items ---------------------------------------------------------------------------
def _config(screen: Screen, label: str, path: Path) -> Settings | None:
    if not path.exists():
        screen.add(Item("fail", label, _("no config at {path}").format(path=show_path(path)),
                        ExitCode.CONFIG,
                        [_("Write one with `immich-backupd init`, or pass --config PATH.")]))
        return None
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        screen.add(Item("fail", label, ngettext(
            "{path} has {n} problem:", "{path} has {n} problems:", len(exc.problems)).format(
            path=show_path(path), n=count(len(exc.problems))), ExitCode.CONFIG,
            [*exc.translated(), _("Every key is described in docs/configuration.md.")]))
        return None
    screen.add(Item("ok", label, _("{path} is valid").format(path=show_path(path))))
    for warning in settings.warnings:
        first, *more = localized_lines(warning)
        screen.add(Item("warn", label, first, more=more))
    return settings


def _key_source(settings: Settings) -> str:
    server = settings.server
    if server.key_source == "api_key_file":
        return _("from {file}").format(file=show_path(server.api_key_file or ""))
    if server.key_source == "credential":
        return _("from the systemd credential {file}").format(file=server.api_key_file)
    if server.key_source == "env":
        return _("from $IMMICH_API_KEY")
    return _("inline in the config")


async def _server(screen: Screen, names: dict[str, str], settings: Settings) -> MediaTypes:
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
                   "permissions asset.upload, user.read, album.read, album.create, "
                   "albumAsset.create, and put it in the config.")]))
            return False
        screen.add(Item("warn", label, _("accepted ({source}); this server does not list "
                                         "its permissions").format(source=source),
                        more=[_("A missing permission will show when a backup needs it.")]))
        return True
    missing = missing_permissions(granted, settings.backup.album_sync)
    if missing:
        screen.add(Item("fail", label, ngettext(
            "valid ({source}), but it lacks the permission {missing}",
            "valid ({source}), but it lacks the permissions {missing}",
            len(missing)).format(source=source, missing=", ".join(missing)), ExitCode.NOPERM,
            [_("Edit the key in Immich (Account Settings → API Keys) and grant it, or create "
               "a new one.")]))
        return False
    shown = _("all permissions") if "all" in granted else ", ".join(granted)
    optional = missing_optional(granted, settings.server.pause_jobs_during_import)
    if optional:
        more = []
        if LINK_PERMISSION in optional:
            more.append(_("Without asset.update a live photo's video that arrives after "
                          "its photo cannot be linked to it (the video is listed as failed)."))
        if any(p in optional for p in QUEUE_PERMISSIONS):
            more.append(_("Without queue.read and queue.update (and an admin's key) "
                          "bulk-import mode cannot pause the server's job queues; backups "
                          "go on without it."))
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


def _folders(screen: Screen, label: str, settings: Settings, media: MediaTypes) -> None:
    rules = AlbumRules.from_settings(settings.albums)
    for root in settings.albums.include:
        shown = show_path(root)
        if rules.is_excluded(root, is_dir=True):
            screen.add(Item("warn", label, _("{folder}: excluded by albums.exclude").format(
                folder=shown)))
            continue
        if not root.exists():
            screen.add(Item("warn", label, folder_problems.line(
                folder_problems.FolderProblem(str(root), folder_problems.ProblemKind.MISSING,
                                              folder_problems.ABSENT), shown, symbol=False),
                more=[_("The daemon backs it up as soon as it is there (a disk or share "
                        "mounted later); until then backups are not complete.")]))
            continue
        if not os.access(root, os.R_OK | os.X_OK):
            screen.add(Item("fail", label, _("{folder}: cannot be read").format(folder=shown),
                            ExitCode.CONFIG,
                            [_("Give this user read access (chmod/ACL), or remove it from "
                               "albums.include.")]))
            continue
        errors: list[tuple[Path, OSError]] = []
        photos = videos = 0
        for listing in walk(AlbumRules.from_settings(settings.albums, roots=[root]), media,
                            follow_symlinks=settings.backup.follow_symlinks,
                            on_error=_collect(errors)):
            for kind in listing.kinds.values():
                if kind == "video":
                    videos += 1
                else:
                    photos += 1
        figures = _("{photos} and {videos}").format(
            photos=ngettext("{n} photo", "{n} photos", photos).format(n=count(photos)),
            videos=ngettext("{n} video", "{n} videos", videos).format(n=count(videos)))
        if errors:
            first_path, first = errors[0]
            screen.add(Item("warn", label, _("{folder}: {figures}; {n} unreadable").format(
                folder=shown, figures=figures, n=count(len(errors))),
                more=[f"{show_path(first_path)}: {os_error_reason(first).render(True)}",
                      _("Files there are not backed up until this user can read them.")]))
        elif photos + videos == 0:
            screen.add(Item("warn", label, _("{folder}: readable, but no photos or videos "
                                             "in it").format(folder=shown)))
        else:
            screen.add(Item("ok", label, _("{folder}: {figures}").format(folder=shown,
                                                                        figures=figures)))


def _collect(errors: list[tuple[Path, OSError]]) -> Callable[[Path, OSError], None]:
    def add(path: Path, exc: OSError) -> None:
        errors.append((path, exc))

    return add


def _state_dir(screen: Screen, label: str, state_dir: Path) -> None:
    shown = show_path(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".check-"):
            pass
        free = shutil.disk_usage(state_dir).free
    except OSError as exc:
        message, code = local_error(exc, state_dir)
        screen.add(Item("fail", label, _("{dir} cannot be written").format(dir=shown),
                        code or IOERR, [message]))
        return
    if free < LOW_SPACE:
        screen.add(Item("warn", label, _("{dir} is writable, but only {free} free").format(
            dir=shown, free=human_bytes(free)),
            more=[_("The state needs about 300 bytes per file; free some space.")]))
        return
    screen.add(Item("ok", label, _("{dir} is writable ({free} free)").format(
        dir=shown, free=human_bytes(free))))


def watch_probe(state_dir: Path, backend: BackendFactory | None = None) -> tuple[bool, float]:
    """Prove file watching the daemon's way (:meth:`FolderWatcher.probe`), in a private
    folder of its own: inside ``state_dir`` when that exists, else in the temp folder.
    Return (events arrive, the poll interval the daemon falls back to)."""
    from ..watch.observer import FolderWatcher  # watchdog only for the commands that watch

    base = state_dir if state_dir.is_dir() else Path(tempfile.gettempdir())
    try:
        folder = Path(tempfile.mkdtemp(prefix="check-watch-", dir=base))
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="immich-backupd-check-watch-"))
    watcher = FolderWatcher(AlbumRules([], []), lambda path, kind: None,
                            observer_factory=backend, watch_mounts=False)
    try:
        watcher.start()
        ok = watcher.probe(folder)
    finally:
        watcher.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return ok, watcher.poll_interval


def _watching(screen: Screen, label: str, settings: Settings,
              backend: BackendFactory | None = None) -> None:
    works, interval = watch_probe(settings.state_dir, backend)
    if not works:
        screen.add(Item("warn", label, watch_problem(interval), more=[
            _("New photos still go up, but later: within the poll interval instead of "
              "seconds.")]))
        return
    limit = inotify_limit()
    if limit is None:
        screen.add(Item("info", label, _("no inotify here; the daemon watches with the "
                                         "system's own file events, or polls")))
        return
    rules = AlbumRules.from_settings(settings.albums)
    needed = count_dirs(settings.albums.include, rules)
    folders = ngettext("{n} folder to watch", "{n} folders to watch", needed).format(
        n=count(needed))
    if needed > limit:
        screen.add(Item("warn", label, _("{folders}, but the inotify limit is {limit}").format(
            folders=folders, limit=count(limit)),
            more=[_("The daemon would poll instead of watching (slower to notice changes)."),
                  watch_limit_advice(limit, needed)]))
        return
    screen.add(Item("ok", label, _("{folders}; the inotify limit is {limit}").format(
        folders=folders, limit=count(limit))))


async def _read(read: Callable[[], object], fallback: object) -> object:
    try:
        async with asyncio.timeout(CONDITION_TIMEOUT):
            return await read()  # type: ignore[misc]
    except Exception:
        return fallback


async def _conditions(screen: Screen, names: dict[str, str], settings: Settings) -> None:
    req = Requirements.from_settings(settings.backup)
    if req.require_charging:
        root = os.environ.get(POWER_ROOT_ENV)
        source = LinuxSysfsPower(Path(root)) if root else default_power_source()
        power = await _read(source.read, PowerState(None, None, "none", "timed out"))
        assert isinstance(power, PowerState)
        if power.on_battery:
            screen.add(Item("warn", names["power"], _("required; on battery now: backups wait "
                                                      "until it is plugged in")))
        elif power.on_battery is None:
            # The source's detail is its own (English) text: a line of its own.
            screen.add(Item("info", names["power"], _("required; the power state is unknown, "
                                                      "which counts as plugged in"),
                            more=[power.detail] if power.detail else []))
        else:
            screen.add(Item("ok", names["power"], _("required; plugged in now")))
    else:
        screen.add(Item("info", names["power"], _("not required (backup.require_charging)")))
    if not req.needs_network:
        screen.add(Item("info", names["network"], _("any network (backup.metered allows "
                                                    "photos and videos)")))
        return
    if req.require_unmetered:
        rule = _("unmetered networks only (backup.require_unmetered)")
    else:
        rule = {
            (True, False): _("videos wait for an unmetered network (backup.metered)"),
            (False, True): _("photos wait for an unmetered network (backup.metered)"),
        }.get((req.metered_photos, req.metered_videos),
              _("photos and videos wait for an unmetered network (backup.metered)"))
    source = default_network_source()
    network = await _read(source.read, NetworkState(None, "none", "timed out"))
    close = getattr(source, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # only a read for this screen
            await close()
    assert isinstance(network, NetworkState)
    if network.metered:
        decision = req.evaluate(PowerState(False, None, "none"), network)
        screen.add(Item("warn", names["network"], _("{rule}; metered now").format(rule=rule),
                        more=[waiting_text(decision.waiting_for)]
                        if decision.waiting_for else []))
    elif network.metered is None:
        screen.add(Item("info", names["network"], _("{rule}; metering unknown here, which "
                                                    "counts as unmetered").format(rule=rule),
                        more=[network.detail] if network.detail else []))
    else:
        screen.add(Item("ok", names["network"], _("{rule}; unmetered now").format(rule=rule)))


def _daemon(screen: Screen, label: str, settings: Settings) -> None:
    if is_locked(settings.state_dir, DAEMON_LOCK_NAME):
        pid = read_holder(settings.state_dir, DAEMON_LOCK_NAME)
        screen.add(Item("ok", label, _("running (pid {pid})").format(pid=pid)))
        return
    screen.add(Item("info", label, _("not running"), more=[
        _("After the first `immich-backupd once`: `immich-backupd install-service --user`, "
          "then `systemctl --user enable --now immich-backupd`.")]))
