"""Service manager files: the systemd units and the launchd agent that run the daemon.

``install-service`` writes one of them for the current config. Rendering is pure (text
or bytes out, nothing touched) and tested directly; ``install`` is the edge that finds the
executable, writes the file and says which commands turn the service on.

The units shipped in ``systemd/`` and ``launchd/`` of the repository are exactly what the
render functions produce for the default paths (a test keeps them equal), so there is one
source of truth for the hardening, explained in ``docs/service.md``.
"""

from __future__ import annotations

import os
import plistlib
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .config import CREDENTIAL_NAME
from .errors import BackupdError, ExitCode

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "API_KEY_CREDENTIAL",
    "LAUNCHD_LABEL",
    "SERVICE_NAME",
    "SERVICE_USER",
    "SYSTEM_CONFIG",
    "SYSTEM_STATE_DIR",
    "UNIT_NAME",
    "InstallResult",
    "ServiceInstallError",
    "default_command",
    "default_target_dir",
    "install",
    "render_launchd",
    "render_systemd",
    "systemd_quote",
]

SERVICE_NAME: Final = "immich-backupd"
UNIT_NAME: Final = f"{SERVICE_NAME}.service"
# The dedicated system user of the system unit (``useradd --system``).
SERVICE_USER: Final = SERVICE_NAME
SYSTEM_CONFIG: Final = Path("/etc/immich-backupd/config.yaml")
# StateDirectory=immich-backupd: created by systemd, owned by the service user, 0700.
SYSTEM_STATE_DIR: Final = Path("/var/lib/immich-backupd")
# The name of the systemd credential (LoadCredential=) the API key may come from:
# the daemon reads it as $CREDENTIALS_DIRECTORY/immich-api-key.
API_KEY_CREDENTIAL: Final = CREDENTIAL_NAME
LAUNCHD_LABEL: Final = "org.immich-backupd"

# The paths a command line of the shipped units assumes (install-service fills in real ones).
SHIPPED_EXECUTABLE: Final = Path("/usr/bin/immich-backupd")
SHIPPED_USER_EXEC_START: Final = "%h/.local/bin/immich-backupd run"
SHIPPED_LAUNCHD_HOME: Final = Path("/Users/USERNAME")

# Seconds. The daemon finishes in-flight uploads for up to 30 s after SIGTERM; the service
# manager must wait longer than that before it sends SIGKILL.
STOP_TIMEOUT: Final = 45
# The daemon sends WATCHDOG=1 every half of this.
WATCHDOG_SEC: Final = 120
RESTART_SEC: Final = 30

# ProtectSystem=strict leaves these writable or replaces them, so a folder the daemon needs
# inside one of them changes the sandbox (see _system_paths).
_PRIVATE_TMP_ROOTS: Final = (Path("/tmp"), Path("/var/tmp"))
_HIDDEN_ROOTS: Final = (Path("/dev"), Path("/proc"), Path("/sys"))
_HOME_ROOTS: Final = (Path("/home"), Path("/root"), Path("/run/user"))
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:@+=,-]+")

Command = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


class ServiceInstallError(BackupdError):
    """The service file could not be written (it exists and differs, or no permission)."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class InstallResult:
    """What ``install`` did: the file, whether it changed, and what the user runs next."""

    path: Path
    # The shell commands to print, in order, each already quoted for a POSIX shell.
    commands: list[str]
    # False when the file already held exactly this content.
    changed: bool = True
    # Things the user should know or fix (printed before the commands), one line each.
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- quoting


def systemd_quote(arg: str | os.PathLike[str], *, exec_line: bool = True) -> str:
    """Quote one word for a systemd unit file so systemd reads back exactly ``arg``.

    ``%`` becomes ``%%`` (specifiers). On a command line (``exec_line``) ``$`` becomes
    ``$$`` (variable expansion), except in the program's path, which is not expanded:
    quote that with ``exec_line=False``, like the paths of other settings. A word with
    anything but plain path characters is put in double quotes, with ``\\`` and ``"``
    backslash-escaped. Raise ``ValueError`` for control characters (a line break would
    end the setting).
    """
    text = os.fspath(arg)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"control characters cannot be written to a unit file: {text!r}")
    text = text.replace("%", "%%")
    if exec_line:
        text = text.replace("$", "$$")
    if _SAFE_WORD.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _command_words(executable: Command) -> list[str]:
    if isinstance(executable, str | os.PathLike):
        words = [os.fspath(executable)]
    else:
        words = [os.fspath(word) for word in executable]
    if not words or not os.path.isabs(words[0]):
        raise ValueError(f"the executable must be an absolute path, got {words[:1]!r}")
    if any(c in "\"'\\" for c in words[0]):
        # systemd refuses these in an executable's path ("contains special characters").
        raise ValueError(f"systemd cannot run a path with quotes or backslashes: {words[0]}")
    return words


def _argv(executable: Command, settings_path: Path | None) -> list[str]:
    words = _command_words(executable)
    if settings_path is not None:
        if not settings_path.is_absolute():
            raise ValueError(f"the config path must be absolute, got {settings_path}")
        words += ["--config", os.fspath(settings_path)]
    return [*words, "run"]


# --------------------------------------------------------------------------- systemd

_SYSTEM_HEADER = """\
# immich-backupd as a system service, run by a dedicated user.
#
# Written by `immich-backupd install-service`, or copied by hand from systemd/ of the
# source: then adjust ExecStart (`command -v immich-backupd`) and set `state_dir:
# /var/lib/immich-backupd` in the config. docs/service.md explains every line, how to give
# the service user read access to the photos, and how to check the sandbox:
#   systemd-analyze security --offline=yes immich-backupd.service
# Change settings with a drop-in (`systemctl edit immich-backupd`), not by editing here.
"""

_USER_HEADER = """\
# immich-backupd as a user service: `systemctl --user`, reads what its user can read.
#
# Written by `immich-backupd install-service --user`, or copied by hand from systemd/ of
# the source to ~/.config/systemd/user/immich-backupd.service. It runs while the user is
# logged in; `loginctl enable-linger` keeps it running without a session. See
# docs/service.md.
"""

_COMMON_SERVICE = f"""\
[Service]
# The daemon says READY=1, STATUS=..., WATCHDOG=1 (every {WATCHDOG_SEC // 2} s), RELOADING=1,
# STOPPING=1; only the main process may.
Type=notify
NotifyAccess=main
{{exec_start}}
# SIGHUP re-reads the config; SIGUSR1 starts a backup now (systemctl kill -s USR1 ...).
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec={WATCHDOG_SEC}
Restart=on-failure
RestartSec={RESTART_SEC}
# 78 (EX_CONFIG): the config is bad; restarting cannot fix it, so stay stopped.
RestartPreventExitStatus=78
# SIGTERM lets the uploads in flight finish for up to 30 s; SIGKILL only after that.
TimeoutStopSec={STOP_TIMEOUT}
# A background job: yield the CPU and the disk to everything else.
Nice=10
IOSchedulingClass=idle
# The state database and lock: for the service's user only.
UMask=0077
"""

_SYSTEM_BODY = """\
{user_lines}\
StateDirectory=immich-backupd
StateDirectoryMode=0700
ConfigurationDirectory=immich-backupd
{credential}\

# Sandbox. The daemon reads the photo folders, writes only its state folder and talks to
# the Immich server (and D-Bus, and the notify socket); everything else is taken away.
# The whole file system is read-only, so the photos are too, wherever they are;
# /home, /root and /run/user are read-only as well (not hidden: photos often live there).
ProtectSystem=strict
ProtectHome=read-only
{paths}\
{private_tmp}\
PrivateDevices=yes
DevicePolicy=closed
PrivateMounts=yes
PrivateIPC=yes
RemoveIPC=yes
KeyringMode=private
# No PrivateUsers=yes: in a user namespace created by systemd the inotify watches count
# against root's fs.inotify.max_user_watches, not this user's, and hosts without user
# namespaces could not start the service at all.
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
# No ProcSubset=pid: the daemon reads /proc/sys/fs/inotify/max_user_watches to warn when
# the folders need more inotify watches than the kernel allows.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
# setpriority alone: the hashing threads make themselves nicer than the rest (going
# the other way needs CAP_SYS_NICE, which the service does not have).
SystemCallFilter=setpriority
# A denied call fails with EPERM (the daemon reports it) instead of killing the process.
SystemCallErrorNumber=EPERM
"""

_USER_BODY = """\

# Sandbox: what a user manager can enforce without namespaces (seccomp, no new privileges).
# ProtectSystem=, PrivateTmp= and friends need user namespaces in a user manager
# (PrivateUsers=yes); where those are available they can be added with a drop-in, see
# docs/service.md.
NoNewPrivileges=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallFilter=setpriority
SystemCallErrorNumber=EPERM
"""

_CREDENTIAL_OFF = f"""\
# The API key as a systemd credential: the file can stay root-only (0600), systemd hands a
# copy to the service at $CREDENTIALS_DIRECTORY/{API_KEY_CREDENTIAL}. To use it, enable:
#LoadCredential={API_KEY_CREDENTIAL}:/etc/immich-backupd/api-key
"""

_CREDENTIAL_ON = f"""\
# The API key as a systemd credential, read by the service at
# $CREDENTIALS_DIRECTORY/{API_KEY_CREDENTIAL}; the file itself can stay root-only (0600).
LoadCredential={API_KEY_CREDENTIAL}:{{path}}
"""

_SYSTEM_UNIT = """\
[Unit]
Description=Immich backup daemon: backs photo and video folders up to an Immich server
After=network-online.target
Wants=network-online.target

"""

_USER_UNIT = """\
[Unit]
Description=Immich backup daemon: backs photo and video folders up to an Immich server

"""


def render_systemd(
    settings_path: Path | None,
    executable: Command,
    *,
    user: bool,
    run_as: str | None = None,
    photo_dirs: Sequence[Path] = (),
    state_dir: Path | None = None,
    api_key_credential: Path | None = None,
) -> str:
    """Return the text of ``immich-backupd.service`` for this config and executable.

    ``user`` picks the user unit (``systemctl --user``) over the system unit. ``executable``
    is the absolute path of ``immich-backupd``, or an argv prefix such as
    ``[python, "-m", "immich_backupd"]``; ``settings_path`` (absolute) is passed as
    ``--config`` (``None``: the daemon's default). Both are quoted and escaped for systemd.

    System unit only: ``run_as`` is the user it runs as (default: the dedicated user
    ``immich-backupd``, with its group). ``photo_dirs`` and ``state_dir`` shape the sandbox:
    a state folder other than ``/var/lib/immich-backupd`` is made writable, a photo folder
    inside a writable folder stays read-only, and a path in ``/tmp`` or ``/var/tmp``
    turns ``PrivateTmp=`` off (it would be hidden otherwise). ``api_key_credential`` is a
    key file systemd passes as the credential ``immich-api-key``.

    Raise ``ValueError`` for a relative path, a path systemd cannot hold (control
    characters), a folder the sandbox hides (``/dev``, ``/proc``, ``/sys``), an invalid
    ``run_as``, or a system-only argument with ``user``.
    """
    program, *args = _argv(executable, settings_path)
    # The program's path is not subject to $VAR expansion, its arguments are.
    words = [systemd_quote(program, exec_line=False), *(systemd_quote(a) for a in args)]
    exec_start = "ExecStart=" + " ".join(words)
    if user:
        if run_as is not None or api_key_credential is not None:
            raise ValueError("run_as and api_key_credential apply to the system unit only")
        return _render_user_unit(exec_start)
    return _render_system_unit(
        exec_start,
        run_as=run_as,
        photo_dirs=photo_dirs,
        state_dir=state_dir,
        hosted=[Path(w) for w in _command_words(executable)[:1]]
        + ([settings_path] if settings_path else []),
        api_key_credential=api_key_credential,
    )


def _render_user_unit(exec_start: str) -> str:
    service = _COMMON_SERVICE.format(exec_start=exec_start) + _USER_BODY
    return _USER_HEADER + "\n" + _USER_UNIT + service + "\n[Install]\nWantedBy=default.target\n"


def _render_system_unit(
    exec_start: str,
    *,
    run_as: str | None = None,
    photo_dirs: Sequence[Path] = (),
    state_dir: Path | None = None,
    hosted: Sequence[Path] = (),
    api_key_credential: Path | None = None,
) -> str:
    if run_as is None:
        user_lines = f"User={SERVICE_USER}\nGroup={SERVICE_USER}\n"
    elif _USER_NAME.fullmatch(run_as):
        # No Group=: systemd takes the user's primary group.
        user_lines = f"User={run_as}\n"
    else:
        raise ValueError(f"not a valid user name: {run_as!r}")
    if api_key_credential is None:
        credential = _CREDENTIAL_OFF
    else:
        credential = _CREDENTIAL_ON.format(path=_credential_path(api_key_credential))
    paths, private_tmp = _system_paths(photo_dirs, state_dir, [*hosted, *(
        [api_key_credential] if api_key_credential else [])])
    body = _SYSTEM_BODY.format(
        user_lines=user_lines, credential=credential, paths=paths, private_tmp=private_tmp
    )
    service = _COMMON_SERVICE.format(exec_start=exec_start) + body
    return (
        _SYSTEM_HEADER + "\n" + _SYSTEM_UNIT + service + "\n[Install]\nWantedBy=multi-user.target\n"
    )


def _credential_path(path: Path) -> str:
    # LoadCredential= takes the rest of the line as the path: no quoting, specifiers only.
    text = os.fspath(path)
    if not os.path.isabs(text):
        raise ValueError(f"the API key file must be an absolute path, got {text}")
    if any(ord(c) < 32 or ord(c) == 127 or c in "\\\"'" for c in text) or text != text.strip():
        raise ValueError(f"cannot pass this path to LoadCredential=: {text!r}")
    return text.replace("%", "%%")


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _system_paths(
    photo_dirs: Sequence[Path], state_dir: Path | None, hosted: Sequence[Path]
) -> tuple[str, str]:
    """The path settings the sandbox needs for these folders, and the PrivateTmp= line.

    ProtectSystem=strict and ProtectHome=read-only make every photo folder read-only
    already, so none is listed (listing one would make the unit fail, or hang on a NAS
    that is down, if it is missing at start). Exceptions: a photo folder inside a folder
    the service may write stays read-only explicitly; anything in /tmp or /var/tmp needs the
    host's /tmp; a folder in /dev, /proc or /sys cannot work at all.
    """
    photos = [_absolute(p, "photo folder") for p in photo_dirs]
    state = _absolute(state_dir, "state folder") if state_dir is not None else None
    hosted = [_absolute(p, "path") for p in hosted]
    everything = [*photos, *([state] if state else []), *hosted]
    for path in everything:
        hidden = next((root for root in _HIDDEN_ROOTS if _within(path, root)), None)
        if hidden is not None:
            raise ValueError(f"{path} lies in {hidden}, which the service's sandbox replaces")
    lines: list[str] = []
    writable = [SYSTEM_STATE_DIR]
    if state is not None and not _within(state, SYSTEM_STATE_DIR):
        writable.append(state)
        lines.append("# The state folder of the config (it must exist, owned by the service user).")
        lines.append("ReadWritePaths=" + systemd_quote(state, exec_line=False))
    inside = [p for p in photos if any(_within(p, w) for w in writable)]
    if inside:
        lines.append("# Photo folders inside a writable folder: read-only all the same.")
        lines += ["ReadOnlyPaths=" + systemd_quote(p, exec_line=False) for p in inside]
    if any(_within(p, root) for p in everything for root in _PRIVATE_TMP_ROOTS):
        private_tmp = (
            "# Off: a folder the daemon needs lies in /tmp or /var/tmp, which would be hidden.\n"
            "PrivateTmp=no\n"
        )
    else:
        private_tmp = "PrivateTmp=yes\n"
    return "".join(f"{line}\n" for line in lines), private_tmp


def _absolute(path: Path, what: str) -> Path:
    if not path.is_absolute():
        raise ValueError(f"the {what} must be an absolute path, got {path}")
    return Path(os.path.normpath(path))


# --------------------------------------------------------------------------- launchd


def render_launchd(
    settings_path: Path | None,
    executable: Command,
    *,
    log_dir: Path,
    label: str = LAUNCHD_LABEL,
) -> bytes:
    """Return the launchd agent plist (XML) that runs the daemon for one user.

    It starts at login (``RunAtLoad``) and is restarted when it exits with a failure
    (``KeepAlive: {SuccessfulExit: false}``), at most every 30 s (``ThrottleInterval``).
    launchd cannot exempt one exit status, so a bad config (78) is retried every 30 s
    too, each attempt logging the problem. ``ExitTimeOut`` gives in-flight uploads time to
    finish after SIGTERM. Output goes to ``<log_dir>/immich-backupd.log``.
    """
    if not log_dir.is_absolute():
        raise ValueError(f"the log folder must be an absolute path, got {log_dir}")
    log_file = os.fspath(log_dir / f"{SERVICE_NAME}.log")
    plist = {
        "Label": label,
        "ProgramArguments": _argv(executable, settings_path),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SEC,
        "ExitTimeOut": STOP_TIMEOUT,
        "ProcessType": "Background",
        "LowPriorityIO": True,
        "LowPriorityBackgroundIO": True,
        "Nice": 10,
        "Umask": 0o077,
        "StandardOutPath": log_file,
        "StandardErrorPath": log_file,
        "EnvironmentVariables": {
            "PATH": "/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "PYTHONUNBUFFERED": "1",
        },
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=True)


# --------------------------------------------------------------------------- install


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
    command = default_command() if executable is None else _command_words(executable)
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
    if not _within(state_dir, SYSTEM_STATE_DIR):
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
    if not _within(settings.state_dir, SYSTEM_STATE_DIR):
        notes.append(
            f"state_dir is {settings.state_dir}; for a system service "
            f"`state_dir: {SYSTEM_STATE_DIR}` is simpler (systemd creates it)"
        )
    if any(_within(config, root) for root in _HOME_ROOTS) and run_as is None:
        notes.append(
            f"the config {config} lies in a home folder; {SYSTEM_CONFIG} is the usual place "
            "for a system service"
        )
    if _within(Path(command[0]), Path("/root")) and run_as != "root":
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

