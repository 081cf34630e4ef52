"""``check``'s items of this machine: each folder (readable, how many photos and
videos), the state folder, file watching, charging and network, the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..conditions import Requirements, default_network_source
from ..conditions.states import NetworkState, PowerState
from ..config import Settings
from ..daemon.waiting import power_source
from ..errors import ExitCode
from ..i18n import _, ngettext
from ..media.kinds import MediaTypes
from ..report.status import exposure_warning
from ..report.statusline import waiting_text, watch_problem
from ..report.text import count, human_bytes
from ..scan import folder_problems
from ..scan.folder_problems import os_error_reason
from ..scan.rules import AlbumNaming, AlbumRules, FolderNaming
from ..scan.walk import walk
from ..state.lock import DAEMON_LOCK_NAME, is_locked, read_holder
from ..state.password import has_password
from ..watch.backend import BackendFactory
from ..watch.limits import count_dirs, inotify_limit, watch_limit_advice
from .check_screen import Item, Screen
from .common import IOERR, local_error, show_path

LOW_SPACE = 200_000_000  # bytes free on the state folder's disk worth a warning
CONDITION_TIMEOUT = 5.0


def folder_settings_lines(naming: FolderNaming | None, album_sync: bool) -> list[str]:
    """What an include folder's entry does with its files, for ``check`` (None: a plain
    path, which needs no words). Shown so that a value is seen as it is read: a typo in
    ``album: paht`` is the name of one album, not an error."""
    if naming is None:
        return []
    lines = []
    if album_sync:
        if naming.album is AlbumNaming.FIXED:
            lines.append(_("Album: every file below it goes into '{name}'").format(
                name=naming.name))
        elif naming.album is AlbumNaming.PATH:
            lines.append(_("Albums: named by the folder path below it (e.g. 2019/Rome)"))
        elif naming.album is AlbumNaming.NONE:
            lines.append(_("Albums: none (album: none)"))
    elif naming.album in (AlbumNaming.FIXED, AlbumNaming.PATH):
        lines.append(_("Albums: none, as backup.album_sync is false (its album: is unused)"))
    tags = ", ".join(naming.tags)
    if tags and naming.folder_as_tags:
        lines.append(_("Tags: {tags}, and the folder path below it").format(tags=tags))
    elif tags:
        lines.append(_("Tags: {tags}").format(tags=tags))
    elif naming.folder_as_tags:
        lines.append(_("Tags: the folder path below it"))
    return lines


def check_folders(screen: Screen, label: str, settings: Settings, media: MediaTypes) -> None:
    rules = AlbumRules.from_settings(settings.albums)
    namings = {n.root: n for n in settings.albums.naming}
    for root in settings.albums.include:
        shown = show_path(root)
        said = folder_settings_lines(namings.get(root), settings.backup.album_sync)
        if rules.is_excluded(root, is_dir=True):
            screen.add(Item("warn", label, _("{folder}: excluded by albums.exclude").format(
                folder=shown)))
            continue
        if not root.exists():
            screen.add(Item("warn", label, folder_problems.line(
                folder_problems.FolderProblem(str(root), folder_problems.ProblemKind.MISSING,
                                              folder_problems.ABSENT), shown, symbol=False),
                more=[_("The daemon backs it up as soon as it is there (a disk or share "
                        "mounted later); until then backups are not complete."), *said]))
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
                      _("Files there are not backed up until this user can read them."),
                      *said]))
        elif photos + videos == 0:
            screen.add(Item("warn", label, _("{folder}: readable, but no photos or videos "
                                             "in it").format(folder=shown), more=said))
        else:
            screen.add(Item("ok", label, _("{folder}: {figures}").format(folder=shown,
                                                                        figures=figures),
                            more=said))


def _collect(errors: list[tuple[Path, OSError]]) -> Callable[[Path, OSError], None]:
    def add(path: Path, exc: OSError) -> None:
        errors.append((path, exc))

    return add


def check_state_dir(screen: Screen, label: str, state_dir: Path) -> None:
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


def check_watching(screen: Screen, label: str, settings: Settings,
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


async def check_conditions(screen: Screen, names: dict[str, str], settings: Settings) -> None:
    req = Requirements.from_settings(settings.backup)
    if req.require_charging:
        source = power_source()
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


def check_daemon(screen: Screen, label: str, settings: Settings) -> None:
    exposed = exposure_warning(settings.dashboard, has_password(settings.state_dir))
    if exposed is not None:  # where the dashboard listens is unsafe, or not served
        screen.add(Item("warn", label, exposed))
    if is_locked(settings.state_dir, DAEMON_LOCK_NAME):
        pid = read_holder(settings.state_dir, DAEMON_LOCK_NAME)
        screen.add(Item("ok", label, _("running (pid {pid})").format(pid=pid)))
        return
    screen.add(Item("info", label, _("not running"), more=[
        _("After the first `immich-backupd once`: `immich-backupd install-service --user`, "
          "then `systemctl --user enable --now immich-backupd`.")]))
