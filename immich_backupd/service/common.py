"""What the service files share: the names and paths, the quoting of a unit file's
words, the command line that runs the daemon, and what ``install`` returns."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..config import CREDENTIAL_NAME
from ..errors import BackupdError, ExitCode

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
# inside one of them changes the sandbox (see systemd._system_paths).
PRIVATE_TMP_ROOTS: Final = (Path("/tmp"), Path("/var/tmp"))
HIDDEN_ROOTS: Final = (Path("/dev"), Path("/proc"), Path("/sys"))
HOME_ROOTS: Final = (Path("/home"), Path("/root"), Path("/run/user"))
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
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


def command_words(executable: Command) -> list[str]:
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


def daemon_argv(executable: Command, settings_path: Path | None) -> list[str]:
    words = command_words(executable)
    if settings_path is not None:
        if not settings_path.is_absolute():
            raise ValueError(f"the config path must be absolute, got {settings_path}")
        words += ["--config", os.fspath(settings_path)]
    return [*words, "run"]


def within(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or lies below it."""
    return path == root or root in path.parents
