"""The file system as validation sees it, default locations, ``~``/``$VAR`` expansion,
and the permission warning for files holding the API key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol

import platformdirs

from immich_backupd.bilingual import Line, Msg
from immich_backupd.i18n import N_

from .model import APP_NAME, CONFIG_ENV


class FileSystem(Protocol):
    """The file system as validation sees it: three questions, no writes."""

    def kind(self, path: Path) -> Literal["dir", "file", "other", "missing"]:
        """Return what ``path`` is, following symlinks. Raise ``OSError`` if it can't tell."""
        ...

    def read_text(self, path: Path) -> str:
        """Return the file's text. Raise ``OSError`` if it can't be read."""
        ...

    def mode(self, path: Path) -> int | None:
        """Return the permission bits of ``path``, or ``None`` if unknown."""
        ...


class LocalFileSystem:
    """The real file system."""

    def kind(self, path: Path) -> Literal["dir", "file", "other", "missing"]:
        try:
            if path.is_dir():
                return "dir"
            if path.is_file():
                return "file"
            return "other" if path.exists() else "missing"
        except (FileNotFoundError, NotADirectoryError):
            return "missing"

    def read_text(self, path: Path) -> str:
        return path.read_text(encoding="utf-8")

    def mode(self, path: Path) -> int | None:
        try:
            return path.stat().st_mode & 0o777
        except OSError:
            return None


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """Return ``$IMMICH_BACKUPD_CONFIG`` if set, else ``<user config dir>/config.yaml``."""
    env = os.environ if env is None else env
    if value := env.get(CONFIG_ENV):
        return Path(_expand_home(value, env))
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"


def default_state_dir() -> Path:
    """Return the platform's user state folder (``~/.local/state/immich-backupd``)."""
    return Path(platformdirs.user_state_dir(APP_NAME))


def permission_warning(
    path: Path, mode: int | None, what: str | Msg, *, holds_key: bool = False
) -> Line | None:
    """Return a warning if ``mode`` lets group or others at a file holding the API key.

    The warning is an English line that also knows its translation (``bilingual.Line``);
    ``what`` names the file (a ``Msg`` to have it translated too)."""
    if mode is None or not mode & 0o077:
        return None
    if holds_key:
        template = N_("{what} is readable by group/others; it holds an API key: chmod 600 {path}")
    else:
        template = N_("{what} is readable by group/others: chmod 600 {path}")
    return Line("", Msg(template, what=what, path=path))


class ConfigValueError(ValueError):
    """A value the config cannot take: ``str()`` in English, ``message`` the same as a
    ``bilingual.Msg`` (for a translated line)."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.english())
        self.message = message


def expand_path(text: str, env: Mapping[str, str]) -> str:
    """Expand a leading ``~`` and every ``$VAR``/``${VAR}`` in ``text`` using ``env``.

    ``~`` is ``env['HOME']`` when set (so tests and services can point it elsewhere).
    Raise ``ConfigValueError`` naming every variable that is not set: a silently empty
    ``$PHOTOS`` would turn ``$PHOTOS/phone`` into ``/phone``.
    """
    text = _expand_home(text, env)
    missing = [m.group(1) or m.group(2) for m in _VAR.finditer(text)]
    missing = [name for name in dict.fromkeys(missing) if name not in env]
    if missing:
        names = ", ".join(f"${name}" for name in missing)
        template = (N_("environment variable {names} is not set (in {text})")
                    if len(missing) == 1 else
                    N_("environment variable {names} are not set (in {text})"))
        raise ConfigValueError(Msg(template, names=names, text=repr(text)))
    return _VAR.sub(lambda m: env[m.group(1) or m.group(2)], text)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _expand_home(text: str, env: Mapping[str, str]) -> str:
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        return home + text[1:]
    if text.startswith("~"):
        return os.path.expanduser(text)  # ~user
    return text
