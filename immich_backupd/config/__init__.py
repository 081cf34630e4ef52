"""The configuration: YAML text in, typed, validated, immutable ``Settings`` out.

Everything a run depends on is decided here, before any I/O with the server starts, so a
bad config fails fast with exit code 78 and never half-way through a backup. Following
borgmatic, *every* problem is reported at once, one line each, in the form
``<file>:<line>: at 'backup.retry.initial': <message>``: fixing a config should take one
round trip, not one per typo.

The package is pure apart from the file system, which it reaches only through the small
``FileSystem`` protocol (does this folder exist, read the key file, what mode has it), so
tests can run the whole validation against a fake.

The package by job: ``model`` (the dataclasses and their defaults), ``keys`` (the one
description of every key: type, default, one line of doc), ``yamldoc`` (YAML with line
numbers), ``fields`` (typed readers), ``sections`` and ``albums`` (the sections),
``paths`` (file system, expansion), ``render`` (settings back to the file's shape).
Everything other modules use is re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import yaml

from immich_backupd.bilingual import Line, Msg
from immich_backupd.errors import ConfigError
from immich_backupd.i18n import N_
from immich_backupd.scan.folder_problems import os_error_reason

from .fields import _Context, _Problems
from .keys import CONFIG_KEYS, KEYS, SECTIONS, Key

# The model, re-exported: the `X as X` form marks each as public for type checkers.
from .model import API_KEY_ENV as API_KEY_ENV
from .model import APP_NAME as APP_NAME
from .model import CONFIG_ENV as CONFIG_ENV
from .model import CREDENTIAL_NAME as CREDENTIAL_NAME
from .model import LOG_LEVELS as LOG_LEVELS
from .model import AlbumSettings as AlbumSettings
from .model import BackupSettings as BackupSettings
from .model import DashboardSettings as DashboardSettings
from .model import KeySource as KeySource
from .model import LogLevel as LogLevel
from .model import Metered as Metered
from .model import NotificationSettings as NotificationSettings
from .model import RetrySettings as RetrySettings
from .model import Secret as Secret
from .model import ServerSettings as ServerSettings
from .model import Settings as Settings
from .model import StackSettings as StackSettings
from .paths import (
    ConfigValueError,
    FileSystem,
    LocalFileSystem,
    default_config_path,
    default_state_dir,
    expand_path,
    permission_warning,
)
from .render import to_config_dict
from .sections import _validate, parse_listen
from .yamldoc import _compose, _yaml_problem

__all__ = [
    "API_KEY_ENV",
    "APP_NAME",
    "CONFIG_ENV",
    "CONFIG_KEYS",
    "CREDENTIAL_NAME",
    "KEYS",
    "LOG_LEVELS",
    "SECTIONS",
    "AlbumSettings",
    "BackupSettings",
    "ConfigValueError",
    "DashboardSettings",
    "FileSystem",
    "Key",
    "KeySource",
    "LocalFileSystem",
    "LogLevel",
    "Metered",
    "NotificationSettings",
    "RetrySettings",
    "Secret",
    "ServerSettings",
    "Settings",
    "StackSettings",
    "default_config_path",
    "default_state_dir",
    "expand_path",
    "load_settings",
    "parse_listen",
    "parse_settings",
    "permission_warning",
    "to_config_dict",
]


def load_settings(
    path: Path,
    env: Mapping[str, str] | None = None,
    *,
    fs: FileSystem | None = None,
) -> Settings:
    """Read, parse and validate the config file at ``path``.

    ``env`` (default ``os.environ``) supplies ``$VARS``, ``HOME`` and ``IMMICH_API_KEY``.
    Relative key and CA file paths are taken relative to the config file's folder. Raise
    ``ConfigError`` listing every problem if the file can't be read or is invalid. Adds a
    warning if the file holds the API key and others may read it.
    """
    path = Path(path)
    fs = LocalFileSystem() if fs is None else fs
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Line(f"{path}:", Msg(N_("cannot read the config file: {reason}"),
                                                reason=os_error_reason(exc)))]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Line(f"{path}:{line}:",
                                Msg(N_("the config file is not valid UTF-8")))]) from None
    settings = _parse(
        text,
        label=str(path),
        source=path,
        env=os.environ if env is None else env,
        base_dir=path.absolute().parent,
        fs=fs,
    )
    if settings.server.key_source == "api_key":
        warning = permission_warning(path, fs.mode(path),
                                     Msg(N_("config file {path}"), path=path), holds_key=True)
        if warning:
            settings = replace(settings, warnings=(warning, *settings.warnings))
    return settings


def parse_settings(
    text: str,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    *,
    fs: FileSystem | None = None,
) -> Settings:
    """Parse and validate config ``text``; ``source`` names it in error messages.

    ``Settings.source`` is ``Path(source)`` unless ``source`` looks like ``<string>``.
    Relative key and CA file paths resolve against ``base_dir``; without it they are
    errors. Raise ``ConfigError`` listing every problem.
    """
    return _parse(
        text,
        label=source,
        source=None if source.startswith("<") else Path(source),
        env=os.environ if env is None else env,
        base_dir=base_dir,
        fs=LocalFileSystem() if fs is None else fs,
    )


def _parse(
    text: str,
    *,
    label: str,
    source: Path | None,
    env: Mapping[str, str],
    base_dir: Path | None,
    fs: FileSystem,
) -> Settings:
    try:
        doc = _compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(label, exc, text)]) from None
    problems = _Problems(label, doc.lines)
    for path, line, first in doc.duplicates:
        problems.error(path, Msg(N_("key given twice (first at line {first}); keep one"),
                                 first=first), line)
    settings = _validate(doc.data, problems, _Context(env, base_dir, fs), source)
    if problems.errors or settings is None:
        raise ConfigError(list(problems.sorted_errors()))
    return settings
