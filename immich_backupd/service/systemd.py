"""The systemd units (system and user), rendered from plain data: text out, nothing
touched. The hardening is explained in ``docs/service.md``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .common import (
    API_KEY_CREDENTIAL,
    HIDDEN_ROOTS,
    PRIVATE_TMP_ROOTS,
    RESTART_SEC,
    SERVICE_USER,
    STOP_TIMEOUT,
    SYSTEM_STATE_DIR,
    USER_NAME,
    WATCHDOG_SEC,
    Command,
    command_words,
    daemon_argv,
    systemd_quote,
    within,
)

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

# The sandbox both units share: no new privileges, the usual address families, and a
# seccomp filter (a system unit adds namespaces and capabilities around it).
_SECCOMP = """\
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
# setpriority alone: the hashing threads make themselves nicer than the rest (going
# the other way needs CAP_SYS_NICE, which the service does not have).
SystemCallFilter=setpriority
# A denied call fails with EPERM (the daemon reports it) instead of killing the process.
SystemCallErrorNumber=EPERM
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
CapabilityBoundingSet=
AmbientCapabilities=
""" + _SECCOMP

_USER_BODY = """\

# Sandbox: what a user manager can enforce without namespaces (seccomp, no new privileges).
# ProtectSystem=, PrivateTmp= and friends need user namespaces in a user manager
# (PrivateUsers=yes); where those are available they can be added with a drop-in, see
# docs/service.md.
""" + _SECCOMP

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
    program, *args = daemon_argv(executable, settings_path)
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
        hosted=[Path(w) for w in command_words(executable)[:1]]
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
    elif USER_NAME.fullmatch(run_as):
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
        hidden = next((root for root in HIDDEN_ROOTS if within(path, root)), None)
        if hidden is not None:
            raise ValueError(f"{path} lies in {hidden}, which the service's sandbox replaces")
    lines: list[str] = []
    writable = [SYSTEM_STATE_DIR]
    if state is not None and not within(state, SYSTEM_STATE_DIR):
        writable.append(state)
        lines.append("# The state folder of the config (it must exist, owned by the service user).")
        lines.append("ReadWritePaths=" + systemd_quote(state, exec_line=False))
    inside = [p for p in photos if any(within(p, w) for w in writable)]
    if inside:
        lines.append("# Photo folders inside a writable folder: read-only all the same.")
        lines += ["ReadOnlyPaths=" + systemd_quote(p, exec_line=False) for p in inside]
    if any(within(p, root) for p in everything for root in PRIVATE_TMP_ROOTS):
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
