"""``install``: the edge that finds the executable, writes the service file and says
which commands turn the service on."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExitCode
from .common import (
    HOME_ROOTS,
    LAUNCHD_LABEL,
    SERVICE_NAME,
    SERVICE_USER,
    SYSTEM_CONFIG,
    SYSTEM_STATE_DIR,
    UNIT_NAME,
    Command,
    InstallResult,
    ServiceInstallError,
    command_words,
    within,
)
from .launchd import render_launchd
from .systemd import render_systemd

if TYPE_CHECKING:
    from ..config import Settings


def default_command(python: str | None = None, which: str | None = None) -> list[str]:
    """The command that starts this installation's ``immich-backupd``, as an argv prefix.

    The ``immich-backupd`` script next to ``python`` (default ``sys.executable``: the bin
    folder of a venv or pipx), else the one on ``$PATH``, else ``python -m immich_backupd``.
    ``which`` overrides the ``$PATH`` lookup (tests). Paths are absolute, not resolved:
    a venv's ``bin/python`` must stay the venv's.
    """
    python = os.path.abspath(python or sys.executable)
    beside = Path(python).parent / SERVICE_NAME
    if beside.is_file() and os.access(beside, os.X_OK):
        return [os.fspath(beside)]
    found = which if which is not None else shutil.which(SERVICE_NAME)
    if found:
        return [os.path.abspath(found)]
    return [python, "-m", "immich_backupd"]


def default_target_dir(
    *, user: bool, platform: str | None = None, env: dict[str, str] | None = None
) -> Path:
    """Where the service file goes: the systemd user or system unit folder, or LaunchAgents."""
    platform = sys.platform if platform is None else platform
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if platform == "darwin":
        return home / "Library" / "LaunchAgents"
    if user:
        config_home = env.get("XDG_CONFIG_HOME")
        base = Path(config_home) if config_home and os.path.isabs(config_home) else home / ".config"
        return base / "systemd" / "user"
    return Path("/etc/systemd/system")


def install(
    settings: Settings,
    *,
    user: bool,
    target_dir: Path | None = None,
    executable: Command | None = None,
    force: bool = False,
    run_as: str | None = None,
    api_key_credential: Path | None = None,
    platform: str | None = None,
) -> InstallResult:
    """Write the systemd unit (Linux) or launchd agent (macOS) for ``settings``.

    The file goes to ``target_dir`` (default: ``default_target_dir``), mode 0644. The
    daemon is started with ``executable`` (default: ``default_command()``) and the config
    file ``settings`` was loaded from. An existing file with the same content is left
    alone; one with other content is replaced only with ``force``. Return the path and
    the commands that enable and start the service.

    On macOS the agent always runs as the current user (``user`` only adds a note); the
    system unit runs as ``run_as`` (default: the dedicated user ``immich-backupd``).

    Raise ``ServiceInstallError`` if the file exists and differs (exit code 2) or cannot
    be written (77), and ``ValueError`` for settings that were not loaded from a file.
    """
    platform = sys.platform if platform is None else platform
    if settings.source is None:
        raise ValueError("the settings were not loaded from a file; the service needs one")
    config = Path(os.path.abspath(settings.source))
    command = default_command() if executable is None else command_words(executable)
    notes: list[str] = []
    if platform == "darwin":
        home = Path.home()
        log_dir = home / "Library" / "Logs" / SERVICE_NAME
        content = render_launchd(config, command, log_dir=log_dir)
        directory = target_dir or default_target_dir(user=True, platform=platform)
        path = directory / f"{LAUNCHD_LABEL}.plist"
        if not user:
            notes.append("on macOS the service is a LaunchAgent: it runs as you, while you "
                         "are logged in")
        # launchd does not create the folder of StandardOutPath.
        log_dir.mkdir(parents=True, exist_ok=True)
        commands = _launchd_commands(path)
    else:
        content = render_systemd(
            config,
            command,
            user=user,
            run_as=None if user else run_as,
            photo_dirs=() if user else settings.albums.include,
            state_dir=None if user else settings.state_dir,
            api_key_credential=None if user else api_key_credential,
        ).encode()
        directory = target_dir or default_target_dir(user=user, platform=platform)
        path = directory / UNIT_NAME
        if user:
            commands = _user_commands()
        else:
            notes += _system_notes(settings, config, command, run_as)
            commands = _system_commands(settings.state_dir, run_as)
    changed = _write(path, content, force=force)
    return InstallResult(path=path, commands=commands, changed=changed, notes=notes)


def _user_commands() -> list[str]:
    return [
        "systemctl --user daemon-reload",
        f"systemctl --user enable --now {UNIT_NAME}",
        f"journalctl --user -u {SERVICE_NAME} -f",
    ]


def _system_commands(state_dir: Path, run_as: str | None) -> list[str]:
    commands = []
    if run_as is None:
        commands.append(
            f"sudo useradd --system --user-group --home-dir {SYSTEM_STATE_DIR} --no-create-home "
            f"--shell /usr/sbin/nologin {SERVICE_USER}"
        )
    if not within(state_dir, SYSTEM_STATE_DIR):
        owner = run_as or SERVICE_USER
        commands.append(f"sudo install -d -o {owner} -m 0700 {shlex.quote(str(state_dir))}")
    return [
        *commands,
        "sudo systemctl daemon-reload",
        f"sudo systemctl enable --now {SERVICE_NAME}",
        f"sudo journalctl -u {SERVICE_NAME} -f",
    ]


def _system_notes(
    settings: Settings, config: Path, command: Sequence[str], run_as: str | None
) -> list[str]:
    who = run_as or SERVICE_USER
    notes = [
        f"the service runs as {who}: it needs read access to the photo folders and the "
        f"config (docs/service.md shows how, with ACLs)",
    ]
    if not within(settings.state_dir, SYSTEM_STATE_DIR):
        notes.append(
            f"state_dir is {settings.state_dir}; for a system service "
            f"`state_dir: {SYSTEM_STATE_DIR}` is simpler (systemd creates it)"
        )
    if any(within(config, root) for root in HOME_ROOTS) and run_as is None:
        notes.append(
            f"the config {config} lies in a home folder; {SYSTEM_CONFIG} is the usual place "
            "for a system service"
        )
    if within(Path(command[0]), Path("/root")) and run_as != "root":
        notes.append(
            f"{command[0]} lies in /root, which {who} cannot read; install immich-backupd "
            "where every user can run it (e.g. a venv in /opt)"
        )
    return notes


def _launchd_commands(path: Path) -> list[str]:
    quoted = shlex.quote(str(path))
    return [
        f"launchctl bootstrap gui/$(id -u) {quoted}",
        f"launchctl kickstart -k gui/$(id -u)/{LAUNCHD_LABEL}",
        f"tail -f ~/Library/Logs/{SERVICE_NAME}/{SERVICE_NAME}.log",
    ]


def _write(path: Path, content: bytes, *, force: bool) -> bool:
    """Write ``content`` to ``path`` (0644) atomically; False if it already held it."""
    try:
        existing: bytes | None = path.read_bytes()
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise ServiceInstallError(
            f"cannot read {path}: {exc.strerror or exc}", ExitCode.NOPERM
        ) from None
    if existing == content:
        return False
    if existing is not None and not force:
        raise ServiceInstallError(
            f"{path} exists and differs from the one this config needs; "
            "replace it with --force (or remove it first)"
        )
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        hint = "; run it with sudo, or use --user" if isinstance(exc, PermissionError) else ""
        raise ServiceInstallError(
            f"cannot write {path}: {exc.strerror or exc}{hint}", ExitCode.NOPERM
        ) from None
    return True
