"""The configuration: YAML text in, typed, validated, immutable ``Settings`` out.

Everything a run depends on is decided here, before any I/O with the server starts, so a
bad config fails fast with exit code 78 and never half-way through a backup. Following
borgmatic, *every* problem is reported at once, one line each, in the form
``<file>:<line>: at 'backup.retry.initial': <message>``: fixing a config should take one
round trip, not one per typo.

The module is pure apart from the file system, which it reaches only through the small
``FileSystem`` protocol (does this folder exist, read the key file, what mode has it), so
tests can run the whole validation against a fake.

Defaults live in one place: the dataclass definitions below, each with its reason.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import platformdirs
import yaml

from immich_backupd.bandwidth import BandwidthError, Timetable, parse_timetable
from immich_backupd.bilingual import Alt, Line, Msg
from immich_backupd.durations import DurationError, format_duration, parse_duration
from immich_backupd.errors import ConfigError
from immich_backupd.folder_problems import os_error_reason
from immich_backupd.i18n import N_
from immich_backupd.quiet_hours import QuietHours, QuietHoursError, parse_quiet_hours
from immich_backupd.rules import AlbumRules

__all__ = [
    "API_KEY_ENV",
    "CONFIG_ENV",
    "CONFIG_KEYS",
    "LOG_LEVELS",
    "AlbumSettings",
    "BackupSettings",
    "ConfigValueError",
    "DashboardSettings",
    "FileSystem",
    "KeySource",
    "LocalFileSystem",
    "LogLevel",
    "Metered",
    "NotificationSettings",
    "RetrySettings",
    "Secret",
    "ServerSettings",
    "Settings",
    "default_config_path",
    "default_state_dir",
    "expand_path",
    "load_settings",
    "parse_listen",
    "parse_settings",
    "permission_warning",
    "to_config_dict",
]

APP_NAME: Final = "immich-backupd"
CONFIG_ENV: Final = "IMMICH_BACKUPD_CONFIG"
API_KEY_ENV: Final = "IMMICH_API_KEY"
CREDENTIAL_NAME: Final = "immich-api-key"  # systemd credential (LoadCredential=)
LOG_LEVELS: Final = ("debug", "info", "warning", "error")

LogLevel = Literal["debug", "info", "warning", "error"]
KeySource = Literal["api_key", "api_key_file", "credential", "env"]


# --------------------------------------------------------------------------- settings


class Secret:
    """A string that never shows itself.

    ``repr``, ``str`` and f-strings print asterisks, so a settings object can be logged or
    put in an error message without leaking the API key. ``get_secret_value()`` returns the
    real value (the same name as pydantic's ``SecretStr``, so callers need not care which).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ServerSettings:
    """Where the Immich server is and how to authenticate to it."""

    # As given, without trailing slashes and without a trailing ``/api``, so users may paste
    # either the web address or the API address.
    url: str
    # Never printed; use ``key()`` for the plain string.
    api_key: Secret
    # Where the key came from, so ``check`` can say so (the value itself is never shown).
    key_source: KeySource = "api_key"
    api_key_file: Path | None = None
    # A private CA bundle, for servers behind a self-signed or in-house certificate.
    ca_file: Path | None = None
    # Off only for testing: without verification anyone on the path can read the key.
    verify_tls: bool = True
    # Per request, connect and read. Generous, because a slow NAS hashing a large video
    # upload can take a while to answer; a dead server is still noticed within a minute.
    timeout: float = 60.0
    # Bulk-import mode (an admin's key): a pass with more than pause_jobs_threshold files
    # to upload pauses the server's thumbnail, metadata and ML queues and resumes them
    # after. Off: pausing another admin's server is not a backup tool's call to make.
    pause_jobs_during_import: bool = False
    pause_jobs_threshold: int = 1000

    @property
    def api_url(self) -> str:
        """The base of every API request: ``url`` + ``/api``."""
        return f"{self.url}/api"

    def key(self) -> str:
        """Return the API key as a plain string, for the ``x-api-key`` header only."""
        return self.api_key.get_secret_value()


@dataclass(frozen=True)
class AlbumSettings:
    """Which folders are backed up."""

    # Absolute, normalized, existing folders, backed up recursively.
    include: tuple[Path, ...]
    # In the dialect of ``rules.AlbumRules``: absolute paths (expanded, normalized), globs
    # (as given, a leading ``~`` expanded), bare names and relative paths (as given).
    # An exclusion always wins over an inclusion.
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metered:
    """What may be uploaded over a metered network (a phone hotspot, a capped plan)."""

    # Photos are small and the point of a backup is having them soon.
    photos: bool = True
    # Videos are large; they wait for an unmetered network unless the user says otherwise.
    videos: bool = False


@dataclass(frozen=True)
class RetrySettings:
    """Exponential backoff for transient failures of one upload."""

    # 8 attempts from 2s doubling to a 10 minute cap span about 15 minutes: long enough to
    # ride out a server restart, short enough that a broken file is reported the same day.
    max_attempts: int = 8
    initial: float = 2.0
    max: float = 600.0


@dataclass(frozen=True)
class BackupSettings:
    """How and when files are uploaded."""

    # Mirrors the folder layout on the server, which is what people expect from a backup.
    album_sync: bool = True
    # Two uploads in flight keep a home uplink busy without starving the server's thumbnail
    # and ML jobs; 16 is a ceiling past which servers start to time out.
    concurrency: int = 2
    # Cameras and sync tools write a burst of files; waiting 5s of quiet catches the whole
    # burst in one pass and avoids uploading half-written files.
    trigger_delay: float = 5.0
    # ...but a folder that never stops changing still gets backed up within 50s (10 delays).
    max_delay: float = 50.0
    # A full rescan catches changes the file watcher missed (network shares, suspend).
    rescan_interval: float = 3600.0
    # A new or changed file goes up only once its modification time is this old: a copy
    # over SMB/NFS or a camera import that pauses (a network stall, a busy card reader)
    # must not be taken for finished. Half a minute rides out such stalls and is still
    # short beside a person's wait; an old photo is never held (its mtime is old).
    settle_time: float = 30.0
    require_charging: bool = False
    require_unmetered: bool = False
    metered: Metered = field(default_factory=Metered)
    # Files of OneDrive/iCloud/Dropbox that are not on this disk would be downloaded just to
    # be uploaded again; skip them.
    ignore_cloud_placeholders: bool = True
    # Off, because symlinks easily form loops or pull in folders the user did not include.
    follow_symlinks: bool = False
    # Immich's bulk-upload-check takes many checksums per request; 1000 keeps a request well
    # under typical proxy body limits (5000 is the ceiling we allow for the same reason).
    check_batch_size: int = 1000
    # Deletions and trash in Immich are seen only when the server is asked again about
    # what it has: once a day costs a few seconds for 100,000 files (200 requests for
    # 1M) and keeps status true within a day. 0: only `immich-backupd verify`.
    verify_interval: float = 86400.0
    # A cap on the upload stream, all uploads together, or an rclone-style timetable
    # (bandwidth.py); "off": as fast as the link goes, which is what a backup wants.
    bandwidth: str = "off"
    # Times of day without uploads ("08:00-18:00"); empty: none.
    quiet_hours: str = ""
    retry: RetrySettings = field(default_factory=RetrySettings)

    @property
    def bandwidth_table(self) -> Timetable:
        """``bandwidth`` parsed (it was checked when the config was loaded)."""
        return parse_timetable(self.bandwidth)

    @property
    def quiet(self) -> QuietHours:
        """``quiet_hours`` parsed (checked when the config was loaded)."""
        return parse_quiet_hours(self.quiet_hours or None)


@dataclass(frozen=True)
class NotificationSettings:
    """Best-effort desktop notifications (failures, quota); never fail a backup."""

    # Ignored where no desktop session exists, so on is a safe default.
    desktop: bool = True


@dataclass(frozen=True)
class DashboardSettings:
    """The local dashboard and JSON API the daemon serves (see docs/dashboard.md)."""

    # On: it listens on loopback only and every page and call needs a token, so it shows
    # nothing to anyone but this machine's user (the Syncthing GUI model).
    enabled: bool = True
    # Loopback only in this version: another address would need a password and TLS.
    host: str = "127.0.0.1"
    port: int = 8484  # 0: any free port (the daemon writes the one it got to state_dir)

    @property
    def listen(self) -> str:
        """``host:port`` as in the config file (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration. Immutable: derive variants with ``replace``."""

    source: Path | None
    server: ServerSettings
    state_dir: Path
    albums: AlbumSettings
    backup: BackupSettings = field(default_factory=BackupSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    log_level: LogLevel = "info"
    # Non-fatal findings (loose file permissions, settings that cancel out), one line each,
    # for the CLI to print at start-up. Never contains the API key.
    warnings: tuple[str, ...] = ()


# The keys the file may hold, per section ("" is the top level). Unknown keys are errors,
# and the example config is tested to document every one of them.
_SECTIONS: Final[dict[str, tuple[str, ...]]] = {
    "": ("server", "state_dir", "albums", "backup", "notifications", "dashboard",
         "log_level"),
    "server": ("url", "api_key", "api_key_file", "ca_file", "verify_tls", "timeout",
               "pause_jobs_during_import", "pause_jobs_threshold"),
    "albums": ("include", "exclude"),
    "backup": (
        "album_sync",
        "concurrency",
        "trigger_delay",
        "max_delay",
        "rescan_interval",
        "settle_time",
        "require_charging",
        "require_unmetered",
        "metered",
        "ignore_cloud_placeholders",
        "follow_symlinks",
        "check_batch_size",
        "verify_interval",
        "bandwidth",
        "quiet_hours",
        "retry",
    ),
    "backup.metered": ("photos", "videos"),
    "backup.retry": ("max_attempts", "initial", "max"),
    "notifications": ("desktop",),
    "dashboard": ("enabled", "listen"),
}

#: Every key of the config file as a dotted path (``backup.retry.initial``), sections too.
CONFIG_KEYS: Final[tuple[str, ...]] = tuple(
    f"{section}.{key}" if section else key for section, keys in _SECTIONS.items() for key in keys
)


# --------------------------------------------------------------------------- file system


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


# --------------------------------------------------------------------------- public API


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """Return ``$IMMICH_BACKUPD_CONFIG`` if set, else ``<user config dir>/config.yaml``."""
    env = os.environ if env is None else env
    if value := env.get(CONFIG_ENV):
        return Path(_expand_home(value, env))
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"


def default_state_dir() -> Path:
    """Return the platform's user state folder (``~/.local/state/immich-backupd``)."""
    return Path(platformdirs.user_state_dir(APP_NAME))


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


def to_config_dict(settings: Settings, *, reveal_key: bool = False) -> dict[str, Any]:
    """Return ``settings`` in the shape of the config file (durations as ``5s``).

    For ``check`` and debugging; ``load`` of the YAML dump of it gives equal settings. The
    API key is included only with ``reveal_key`` and an inline key; a key file is named.
    """
    server: dict[str, Any] = {"url": settings.server.url}
    if settings.server.key_source == "api_key_file":
        server["api_key_file"] = str(settings.server.api_key_file)
    elif settings.server.key_source == "api_key" and reveal_key:
        server["api_key"] = settings.server.key()
    if settings.server.ca_file is not None:
        server["ca_file"] = str(settings.server.ca_file)
    server["verify_tls"] = settings.server.verify_tls
    server["timeout"] = format_duration(settings.server.timeout)
    server["pause_jobs_during_import"] = settings.server.pause_jobs_during_import
    server["pause_jobs_threshold"] = settings.server.pause_jobs_threshold
    b = settings.backup
    return {
        "server": server,
        "state_dir": str(settings.state_dir),
        "albums": {
            "include": [str(p) for p in settings.albums.include],
            "exclude": list(settings.albums.exclude),
        },
        "backup": {
            "album_sync": b.album_sync,
            "concurrency": b.concurrency,
            "trigger_delay": format_duration(b.trigger_delay),
            "max_delay": format_duration(b.max_delay),
            "rescan_interval": format_duration(b.rescan_interval),
            "settle_time": format_duration(b.settle_time),
            "require_charging": b.require_charging,
            "require_unmetered": b.require_unmetered,
            "metered": {"photos": b.metered.photos, "videos": b.metered.videos},
            "ignore_cloud_placeholders": b.ignore_cloud_placeholders,
            "follow_symlinks": b.follow_symlinks,
            "check_batch_size": b.check_batch_size,
            "verify_interval": format_duration(b.verify_interval),
            "bandwidth": b.bandwidth,
            "quiet_hours": b.quiet_hours,
            "retry": {
                "max_attempts": b.retry.max_attempts,
                "initial": format_duration(b.retry.initial),
                "max": format_duration(b.retry.max),
            },
        },
        "notifications": {"desktop": settings.notifications.desktop},
        "dashboard": {"enabled": settings.dashboard.enabled,
                      "listen": settings.dashboard.listen},
        "log_level": settings.log_level,
    }


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no timestamps.

    YAML 1.1 reads ``yes``/``no``/``on``/``off`` as booleans and ``2024-01-01`` as a date,
    which would turn a folder named ``no`` or ``2024-01-01`` in ``exclude`` into a type
    error. Here only ``true``/``false`` are booleans; ``yes`` stays a string (and is then
    rejected for a boolean key, with a message saying so).
    """


_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

KeyPath = tuple[str | int, ...]
_MISSING: Final = object()


@dataclass
class _Document:
    """A parsed YAML document: its value plus where each key sits in the text."""

    data: Any = None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int, int]] = field(default_factory=list)


def _compose(text: str) -> _Document:
    """Parse ``text`` into a ``_Document``. Raise ``yaml.YAMLError`` on bad syntax."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = _Document()
        if node is None:
            return doc
        # Index before constructing: construction flattens merge keys in place.
        _index(node, (), doc.lines, doc.duplicates, set())
        doc.lines[()] = node.start_mark.line + 1
        doc.data = loader.construct_document(node)
        return doc
    finally:
        loader.dispose()


def _index(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    duplicates: list[tuple[KeyPath, int, int]],
    seen: set[int],
) -> None:
    """Record in ``lines`` the 1-based line of every key and list item below ``node``.

    Collects keys given twice in one mapping in ``duplicates`` as (path, line, first line).
    Each node is walked once, so aliases (and "billion laughs" documents) stay linear; paths
    reached only through an alias fall back to the alias' line.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            name = _node_key(key_node)
            line = key_node.start_mark.line + 1
            if name in first_line:
                duplicates.append(((*path, name), line, first_line[name]))
            else:
                first_line[name] = line
            lines[(*path, name)] = line  # the last one wins, as in the constructed value
            _index(value_node, (*path, name), lines, duplicates, seen)
        for merge in merges:  # explicit keys win over merged ones; earlier merges win
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    continue
                for key_node, value_node in source.value:
                    key_path = (*path, _node_key(key_node))
                    if key_path not in lines:
                        lines[key_path] = key_node.start_mark.line + 1
                        _index(value_node, key_path, lines, duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _index(item, (*path, index), lines, duplicates, seen)


def _node_key(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else "<complex key>"


def _yaml_problem(label: str, exc: yaml.YAMLError, text: str) -> Line:
    """One line for a YAML syntax error: ``file:line:column: invalid YAML: problem``.

    PyYAML's problem text is English: the translated form says "invalid YAML" in the
    user's language and gives PyYAML's text on a line of its own."""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character; marks only an offset
        line = text[: exc.position].count("\n") + 1
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return Line(f"{label}:{line}:", Msg(
            N_("invalid YAML: control character {char} is not allowed"), char=shown))
    where, problem = _yaml_where_and_problem(label, exc)
    if "'\\t'" in problem:
        return Line(where, Msg(N_("invalid YAML: a tab character where YAML wants spaces; "
                                  "indent with spaces")), inline=f"invalid YAML: {problem}")
    return Line(where, Msg(N_("invalid YAML; the YAML parser says:")), details=[problem],
                inline=f"invalid YAML: {problem}")


def _yaml_where_and_problem(label: str, exc: yaml.YAMLError) -> tuple[str, str]:
    """(``file:line:column:``, PyYAML's problem in English) for a syntax error."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem and exc.problem.startswith("but "):
            problem = f"{exc.context}, {exc.problem}"  # "expected a single document, but..."
        elif exc.context and exc.problem and exc.context_mark is not None:
            problem += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        if "'\\t'" in problem:
            problem += "; indent with spaces, YAML does not allow tabs"
        if mark is not None:
            return f"{label}:{mark.line + 1}:{mark.column + 1}:", problem
        return f"{label}:1:", problem
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{label}:1:", first_line


# --------------------------------------------------------------------------- validation


class _Problems:
    """Collects problems and warnings, each rendered as ``file:line: at 'a.b[0]': msg``:
    a ``bilingual.Line``, English as a ``str``, translated on request (the location
    stays as it is: key names are the config's own words)."""

    def __init__(self, label: str, lines: Mapping[KeyPath, int]) -> None:
        self.label = label
        self.lines = lines
        self.errors: list[tuple[int, Line]] = []
        self.warnings: list[Line] = []

    def line(self, path: KeyPath) -> int:
        """The line of ``path``, else of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def render(self, path: KeyPath, message: Msg, line: int | None = None) -> Line:
        line = self.line(path) if line is None else line
        where = f" at '{_dotted(path)}':" if path else ""
        return Line(f"{self.label}:{line}:{where}", message)

    def error(self, path: KeyPath, message: Msg, line: int | None = None) -> None:
        line = self.line(path) if line is None else line
        self.errors.append((line, self.render(path, message, line)))

    def warn(self, path: KeyPath, message: Msg) -> None:
        self.warnings.append(self.render(path, message))

    def sorted_errors(self) -> list[Line]:
        return [text for _, text in sorted(self.errors, key=lambda item: item[0])]


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class _Context:
    """What validation needs beyond the YAML: the environment and the file system."""

    env: Mapping[str, str]
    base_dir: Path | None
    fs: FileSystem


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


def _validate(data: Any, p: _Problems, ctx: _Context, source: Path | None) -> Settings | None:
    """Check the whole document; return ``Settings`` if there were no problems."""
    if data is None:
        p.error((), Msg(N_("the config file is empty; it needs at least 'server' and "
                           "'albums'")))
        return None
    if not isinstance(data, dict):
        p.error((), Msg(N_("the top level must be a mapping of keys, got {value}"),
                        value=_describe(data)))
        return None
    top = _section(p, data, (), "")
    server = _server(p, ctx, _required(p, top, (), "server"))
    albums = _albums(p, ctx, _required(p, top, (), "albums"))
    backup = _backup(p, top.get("backup", _MISSING))
    notifications = _notifications(p, top.get("notifications", _MISSING))
    dashboard = _dashboard(p, top.get("dashboard", _MISSING))
    log_level = _choice(p, ("log_level",), top.get("log_level", _MISSING), LOG_LEVELS, "info")
    state_dir = _state_dir(p, ctx, top.get("state_dir", _MISSING))
    if None in (server, albums, backup, notifications, dashboard, log_level,
                state_dir):
        return None
    return Settings(
        source=source,
        server=server,
        state_dir=state_dir,
        albums=albums,
        backup=backup,
        notifications=notifications,
        dashboard=dashboard,
        log_level=log_level,
        warnings=tuple(p.warnings),
    )


def _section(p: _Problems, value: Any, path: KeyPath, name: str) -> dict[str, Any]:
    """Return the mapping at ``path`` (``{}`` if absent or empty), reporting unknown keys."""
    known = _SECTIONS[name]
    if value is _MISSING or value is None:
        return {}
    if not isinstance(value, dict):
        p.error(path, Msg(N_("expected a mapping with keys {keys}; got {value}"),
                          keys=", ".join(known), value=_describe(value)))
        return {}
    for key in value:
        if str(key) not in known:
            p.error((*path, str(key)), _unknown_key(str(key), name))
    return {str(k): v for k, v in value.items()}


def _unknown_key(key: str, section: str) -> Msg:
    """Name the unknown key and the likeliest fix: a near miss, or the key's real section."""
    known = _SECTIONS[section]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return Msg(N_("unknown key '{key}' (did you mean '{other}'?)"), key=key, other=close[0])
    elsewhere = [full for full in CONFIG_KEYS if full.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return Msg(N_("unknown key '{key}' here (did you mean '{other}'?)"), key=key,
                   other=elsewhere[0])
    return Msg(N_("unknown key '{key}' (known keys: {keys})"), key=key, keys=", ".join(known))


def _required(p: _Problems, section: dict[str, Any], path: KeyPath, key: str) -> Any:
    value = section.get(key, _MISSING)
    if value is _MISSING:
        p.error((*path, key), Msg(N_("missing required key")))
    return value


# type -> (its name, its name with a value), for messages.
_KINDS: Final[dict[type, tuple[str, str]]] = {
    bool: (N_("boolean"), N_("boolean {value}")),
    int: (N_("integer"), N_("integer {value}")),
    float: (N_("number"), N_("number {value}")),
    str: (N_("string"), N_("string {value}")),
    list: (N_("a list"), N_("a list")),
    dict: (N_("a mapping"), N_("a mapping")),
}


def _describe(value: Any, *, secret: bool = False) -> Msg:
    """Name the type (and, unless ``secret``, a short form of the value) for a message."""
    if value is None:
        return Msg(N_("nothing (null)"))
    kind, with_value = _KINDS.get(type(value), ("{name}", "{name} {value}"))
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if secret or isinstance(value, list | dict):
        return Msg(kind, name=type(value).__name__)
    return Msg(with_value, name=type(value).__name__, value=shown)


# --- typed readers: each returns the value, its default when absent, or None when invalid.


def _bool(p: _Problems, path: KeyPath, value: Any, default: bool) -> bool | None:
    if value is _MISSING:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        p.error(path, Msg(N_("expected true or false, got {value} (YAML booleans are true and "
                             "false)"), value=_describe(value)))
    else:
        p.error(path, Msg(N_("expected true or false, got {value}"), value=_describe(value)))
    return None


def _int(
    p: _Problems, path: KeyPath, value: Any, default: int, low: int, high: int | None = None
) -> int | None:
    if value is _MISSING:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        p.error(path, Msg(N_("expected a whole number, got {value}"), value=_describe(value)))
        return None
    if value < low or (high is not None and value > high):
        if high is not None:
            p.error(path, Msg(N_("must be between {low} and {high}, got {value}"), low=low,
                              high=high, value=value))
        else:
            p.error(path, Msg(N_("must be at least {low}, got {value}"), low=low, value=value))
        return None
    return value


def _duration(p: _Problems, path: KeyPath, value: Any, default: float) -> float | None:
    """A positive duration: ``5s``-style string or number of seconds."""
    if value is _MISSING:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        p.error(path, Msg(N_("expected a duration such as 5s, 10m or 1h, got {value}"),
                          value=_describe(value)))
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        p.error(path, _duration_problem(exc))
        return None
    if seconds <= 0:
        p.error(path, Msg(N_("must be longer than 0s, got {value}"), value=repr(value)))
        return None
    return seconds


_DURATION_EXAMPLES: Final = N_("e.g. 500ms, 5s, 10m, 1h, 1d, 1m30s, or a number of seconds")
_DURATION_PROBLEMS: Final = {
    "type": N_("expected a duration ({examples}), got {value}"),
    "negative": N_("duration must not be negative, got {value}"),
    "not_finite": N_("duration must be a finite number of seconds, got {value}"),
    "malformed": N_("not a duration: {value} ({examples})"),
    "order": N_("not a duration: {value} (units must go from largest to smallest, each at "
                "most once, e.g. 1h30m)"),
}


def _duration_problem(exc: DurationError) -> Msg:
    """``exc`` as a message for both languages; its own English text when unknown."""
    template = _DURATION_PROBLEMS.get(exc.reason)
    if template is None:
        return Msg("{text}", text=str(exc))
    message = Msg(template, value=exc.shown, examples=Msg(_DURATION_EXAMPLES))
    return message if message.english() == str(exc) else Msg("{text}", text=str(exc))


def _choice(p: _Problems, path: KeyPath, value: Any, choices: Sequence[str], default: str) -> Any:
    if value is _MISSING:
        return default
    if isinstance(value, str) and value in choices:
        return value
    close = (difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
             if isinstance(value, str) else [])
    if close:
        message = Msg(N_("expected one of {choices}; got {value} (did you mean '{other}'?)"),
                      choices=", ".join(choices), value=_describe(value), other=close[0])
    else:
        message = Msg(N_("expected one of {choices}; got {value}"), choices=", ".join(choices),
                      value=_describe(value))
    p.error(path, message)
    return None


def _string(p: _Problems, path: KeyPath, value: Any, *, secret: bool = False) -> str | None:
    if not isinstance(value, str):
        p.error(path, Msg(N_("expected a string, got {value}"),
                          value=_describe(value, secret=secret)))
        return None
    if not value.strip():
        p.error(path, Msg(N_("must not be empty")))
        return None
    return value


def _path(
    p: _Problems,
    ctx: _Context,
    path: KeyPath,
    value: Any,
    *,
    relative_to_config: bool = False,
) -> Path | None:
    """An expanded, normalized, absolute path (not checked for existence)."""
    text = _string(p, path, value)
    if text is None:
        return None
    try:
        expanded = expand_path(text, ctx.env)
    except ConfigValueError as exc:
        p.error(path, exc.message)
        return None
    if not os.path.isabs(expanded):
        if relative_to_config and ctx.base_dir is not None:
            expanded = os.path.join(ctx.base_dir, expanded)
        else:
            p.error(path, Msg(N_("must be an absolute path (or relative to the config file), "
                                 "got {value}") if relative_to_config else
                              N_("must be an absolute path, got {value}"), value=repr(text)))
            return None
    return Path(os.path.normpath(expanded))


def _kind(p: _Problems, ctx: _Context, path: KeyPath, target: Path) -> str | None:
    try:
        return ctx.fs.kind(target)
    except OSError as exc:
        p.error(path, Msg(N_("cannot access {path}: {reason}"), path=target,
                          reason=os_error_reason(exc)))
        return None


# --- sections


def _server(p: _Problems, ctx: _Context, value: Any) -> ServerSettings | None:
    base: KeyPath = ("server",)
    if value is _MISSING:
        return None
    sec = _section(p, value, base, "server")  # an empty section is read as {}
    if value is not None and not isinstance(value, dict):
        return None
    url = _url(p, ("server", "url"), _required(p, sec, base, "url"))
    key = _api_key(p, ctx, sec)
    ca_file: Path | None = None
    ca_value = sec.get("ca_file")
    if ca_value is not None:
        ca_file = _path(p, ctx, ("server", "ca_file"), ca_value, relative_to_config=True)
        if ca_file is not None:
            kind = _kind(p, ctx, ("server", "ca_file"), ca_file)
            if kind == "missing":
                p.error(("server", "ca_file"), Msg(N_("CA file does not exist: {path}"),
                                                   path=ca_file))
            elif kind is not None and kind != "file":
                p.error(("server", "ca_file"), Msg(N_("not a file: {path}"), path=ca_file))
    verify_tls = _bool(p, ("server", "verify_tls"), sec.get("verify_tls", _MISSING), True)
    timeout = _duration(
        p, ("server", "timeout"), sec.get("timeout", _MISSING), ServerSettings.timeout
    )
    if verify_tls is False and ca_value is not None:
        p.warn(("server", "ca_file"), Msg(N_("ca_file is ignored because verify_tls is false")))
    if url is None or key is None or (ca_file is None and ca_value is not None):
        return None
    pause_jobs = _bool(p, ("server", "pause_jobs_during_import"),
                       sec.get("pause_jobs_during_import", _MISSING),
                       ServerSettings.pause_jobs_during_import)
    pause_threshold = _int(p, ("server", "pause_jobs_threshold"),
                           sec.get("pause_jobs_threshold", _MISSING),
                           ServerSettings.pause_jobs_threshold, 0)
    if verify_tls is None or timeout is None or pause_jobs is None or pause_threshold is None:
        return None
    secret, source, key_file = key
    return ServerSettings(
        url=url,
        api_key=secret,
        key_source=source,
        api_key_file=key_file,
        ca_file=ca_file,
        verify_tls=verify_tls,
        timeout=timeout,
        pause_jobs_during_import=pause_jobs,
        pause_jobs_threshold=pause_threshold,
    )


def _url(p: _Problems, path: KeyPath, value: Any) -> str | None:
    """The server address, normalized: no trailing slash, no trailing ``/api``."""
    if value is _MISSING:
        return None
    text = _string(p, path, value)
    if text is None:
        return None
    text = text.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:  # urllib's words (a bad port, brackets) in English only
        p.error(path, _url_problem(text, exc))
        return None
    if "@" in parts.netloc:  # checked first, so the password is never echoed below
        p.error(path, Msg(N_("must not hold a user name or password; the API key "
                             "authenticates")))
        return None
    if parts.scheme not in ("http", "https"):
        p.error(path, Msg(N_("must start with http:// or https://, got {url}"), url=repr(text)))
        return None
    if not parts.hostname:
        p.error(path, Msg(N_("has no host name: {url}"), url=repr(text)))
        return None
    if parts.query or parts.fragment or any(c.isspace() for c in text):
        p.error(path, Msg(N_("must be a plain address without ?query, #fragment or spaces: "
                             "{url}"), url=repr(text)))
        return None
    url = text.rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")].rstrip("/")
    return url


def _url_problem(text: str, exc: ValueError) -> Msg:
    """urllib's reason in English as it gave it; in other languages our own words."""
    said = str(exc)
    if said.startswith("Port"):
        reason = Msg(N_("the port must be a number from 0 to 65535"))
    elif "IPv6" in said or "IPv4" in said:
        reason = Msg(N_("an address in [brackets] must be an IPv6 address"))
    else:
        reason = Msg(N_("it cannot be read as an address"))
    return Msg(N_("not a valid URL: {url} ({reason})"), url=repr(text),
               reason=Alt(said, reason))


def _api_key(
    p: _Problems, ctx: _Context, sec: dict[str, Any]
) -> tuple[Secret, KeySource, Path | None] | None:
    """Resolve the key: ``api_key``, else ``api_key_file``, else ``$IMMICH_API_KEY``."""
    inline, file_value = sec.get("api_key", _MISSING), sec.get("api_key_file", _MISSING)
    if inline is not _MISSING and file_value is not _MISSING:
        p.error(("server", "api_key_file"), Msg(N_("set either api_key or api_key_file, not "
                                                   "both")))
        return None
    if inline is not _MISSING:
        key = _string(p, ("server", "api_key"), inline, secret=True)
        key = None if key is None else key.strip()
        if key is None or not _key_ok(p, ("server", "api_key"), key, Msg(N_("the API key"))):
            return None
        return Secret(key), "api_key", None
    if file_value is not _MISSING:
        path = ("server", "api_key_file")
        key_file = _path(p, ctx, path, file_value, relative_to_config=True)
        if key_file is None:
            return None
        try:
            key = ctx.fs.read_text(key_file).strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = (Msg(N_("not valid UTF-8")) if isinstance(exc, UnicodeDecodeError)
                      else os_error_reason(exc))
            p.error(path, Msg(N_("cannot read the API key file {path}: {reason}"),
                              path=key_file, reason=reason))
            return None
        if not key:
            p.error(path, Msg(N_("the API key file is empty: {path}"), path=key_file))
            return None
        if not _key_ok(p, path, key, Msg(N_("the API key file {path}"), path=key_file)):
            return None
        warning = permission_warning(key_file, ctx.fs.mode(key_file),
                                     Msg(N_("API key file {path}"), path=key_file))
        if warning:
            p.warnings.append(warning)
        return Secret(key), "api_key_file", key_file
    # systemd's LoadCredential=immich-api-key:/path puts the key where only this service
    # can read it, without the config naming a file the service user could not open.
    cred_dir = ctx.env.get("CREDENTIALS_DIRECTORY", "")
    if cred_dir:
        cred = Path(cred_dir) / CREDENTIAL_NAME
        try:
            key = ctx.fs.read_text(cred).strip()
        except (OSError, UnicodeDecodeError):
            key = ""
        if key:
            if not _key_ok(p, ("server", "api_key"), key,
                           Msg(N_("the credential {path}"), path=cred)):
                return None
            return Secret(key), "credential", cred
    env_key = ctx.env.get(API_KEY_ENV, "").strip()
    if env_key:
        if not _key_ok(p, ("server", "api_key"), env_key, f"${API_KEY_ENV}"):
            return None
        return Secret(env_key), "env", None
    p.error(("server", "api_key"), Msg(
        N_("no API key: set server.api_key or server.api_key_file, or ${env} (or systemd's "
           "LoadCredential={credential}:PATH)"), env=API_KEY_ENV, credential=CREDENTIAL_NAME))
    return None


def _key_ok(p: _Problems, path: KeyPath, key: str, what: str | Msg) -> bool:
    """A key goes into an HTTP header: one token, printable, never echoed back."""
    if any(c.isspace() or not c.isprintable() for c in key):
        p.error(path, Msg(N_("{what} must hold only the key: one word, no spaces or line "
                             "breaks"), what=what))
        return False
    return True


def _albums(p: _Problems, ctx: _Context, value: Any) -> AlbumSettings | None:
    base: KeyPath = ("albums",)
    if value is _MISSING:
        return None
    sec = _section(p, value, base, "albums")  # an empty section is read as {}
    if value is not None and not isinstance(value, dict):
        return None
    include, include_ok = _include(p, ctx, _required(p, sec, base, "include"))
    exclude, exclude_ok = _exclude(p, ctx, sec.get("exclude", _MISSING))
    # Judge the valid entries even when others are broken: report everything at once.
    if not _include_not_excluded(p, include, exclude) or not (include_ok and exclude_ok):
        return None
    return AlbumSettings(
        include=tuple(path for _, path in include),
        exclude=tuple(entry for _, entry in exclude),
    )


def _list(p: _Problems, path: KeyPath, value: Any, what: Msg) -> list[Any] | None:
    if not isinstance(value, list):
        p.error(path, Msg(N_("expected a list of {what} (one '- ' line each), got {value}"),
                          what=what, value=_describe(value)))
        return None
    return value


def _include(p: _Problems, ctx: _Context, value: Any) -> tuple[list[tuple[int, Path]], bool]:
    """The valid include folders with their indexes, and whether all of them were valid."""
    base: KeyPath = ("albums", "include")
    if value is _MISSING:
        return [], False
    items = _list(p, base, value, Msg(N_("folders")))
    if items is None:
        return [], False
    if not items:
        p.error(base, Msg(N_("must list at least one folder")))
        return [], False
    ok = True
    out: list[tuple[int, Path]] = []
    for index, item in enumerate(items):
        path = (*base, index)
        folder = _path(p, ctx, path, item)
        if folder is None:
            ok = False
            continue
        kind = _kind(p, ctx, path, folder)
        if kind == "missing":
            # A USB disk or a share mounted later: the daemon waits for it, and a pass
            # says it was not backed up (never "complete").
            p.warn(path, Msg(N_("folder does not exist (yet): {path}; it is backed up once it "
                                "is there"), path=folder))
        elif kind is not None and kind != "dir":
            p.error(path, Msg(N_("not a folder: {path}"), path=folder))
        if kind not in ("dir", "missing"):
            ok = False
            continue
        _overlap_warning(p, path, index, folder, out)
        out.append((index, folder))
    return out, ok


def _overlap_warning(
    p: _Problems, path: KeyPath, index: int, folder: Path, earlier: list[tuple[int, Path]]
) -> None:
    """Warn (once) if ``folder`` repeats or nests with an earlier include folder.

    Harmless, since every file is backed up once, but usually a slip worth mentioning.
    """
    for other_index, other in earlier:
        if other == folder:
            p.warn(path, Msg(N_("listed twice (also at albums.include[{index}]): {path}"),
                             index=other_index, path=folder))
            return
    for other_index, other in earlier:
        if other in folder.parents or folder in other.parents:
            inner, outer = (index, other_index) if other in folder.parents else (other_index, index)
            p.warn(path, Msg(N_("albums.include[{inner}] lies inside albums.include[{outer}]; "
                                "its files are backed up once, with the outer folder"),
                             inner=inner, outer=outer))
            return


_GLOB_CHARS = frozenset("*?[")


def _exclude(p: _Problems, ctx: _Context, value: Any) -> tuple[list[tuple[int, str]], bool]:
    """The valid exclude entries with their indexes, and whether all of them were valid."""
    base: KeyPath = ("albums", "exclude")
    if value is _MISSING or value is None:
        return [], True
    items = _list(p, base, value, Msg(N_("folders or globs")))
    if items is None:
        return [], False
    ok = True
    out: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        path = (*base, index)
        entry = _exclude_entry(p, ctx, path, item)
        if entry is None:
            ok = False
        else:
            out.append((index, entry))
    return out, ok


def _exclude_entry(p: _Problems, ctx: _Context, path: KeyPath, value: Any) -> str | None:
    """One exclude entry, in the dialect of ``rules.AlbumRules``.

    Globs, bare names and relative paths are kept as given (a trailing ``/`` means "folders
    only" there); a leading ``~`` of a glob is expanded, since ``~/Pictures/*/cache`` could
    never match otherwise. Absolute paths (after ``~``/``$VAR`` expansion) are normalized.
    """
    text = _string(p, path, value)
    if text is None:
        return None
    if _GLOB_CHARS & set(text):
        return _expand_home(text, ctx.env) if text.startswith("~") else text
    if text.startswith(("~", "$", "/")):
        absolute = _path(p, ctx, path, text)
        if absolute is None:
            return None
        folders_only = text.endswith("/") and str(absolute) != "/"
        return f"{absolute}/" if folders_only else str(absolute)
    if text.rstrip("/") in (".", ".."):
        p.error(path, Msg(N_("excluding {value} makes no sense; name a folder, a path or a "
                             "glob"), value=repr(text)))
        return None
    return text


def _include_not_excluded(
    p: _Problems, include: list[tuple[int, Path]], exclude: list[tuple[int, str]]
) -> bool:
    """An include folder that an exclusion removes entirely would back up nothing: an error.

    Asks ``AlbumRules`` (the scanner's own matcher) entry by entry, so the message can name
    the culprit, and globs and bare names are judged exactly as the scanner will.
    """
    ok = True
    for index, folder in include:
        for ex_index, entry in exclude:
            if AlbumRules([folder], [entry]).wholly_excluded_roots():
                p.error(("albums", "include", index), Msg(
                    N_("folder {path} is excluded by albums.exclude[{index}] ({entry}), so "
                       "nothing in it would be backed up"),
                    path=folder, index=ex_index, entry=repr(entry)))
                ok = False
                break
    return ok


def _backup(p: _Problems, value: Any) -> BackupSettings | None:
    base: KeyPath = ("backup",)
    sec = _section(p, value, base, "backup")
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    d = BackupSettings

    def get(key: str) -> Any:
        return sec.get(key, _MISSING)

    trigger_delay = _duration(p, (*base, "trigger_delay"), get("trigger_delay"), d.trigger_delay)
    max_delay = _duration(p, (*base, "max_delay"), get("max_delay"), d.max_delay)
    if trigger_delay is not None and max_delay is not None and max_delay < trigger_delay:
        p.error((*base, "max_delay"), Msg(
            N_("max_delay {long} is shorter than trigger_delay {short}; it must be at least "
               "as long") if "max_delay" in sec else
            N_("max_delay {long} (the default) is shorter than trigger_delay {short}; it must "
               "be at least as long"),
            long=format_duration(max_delay), short=format_duration(trigger_delay)))
        max_delay = None
    values = {
        "album_sync": _bool(p, (*base, "album_sync"), get("album_sync"), d.album_sync),
        "concurrency": _int(p, (*base, "concurrency"), get("concurrency"), d.concurrency, 1, 16),
        "trigger_delay": trigger_delay,
        "max_delay": max_delay,
        "rescan_interval": _duration(
            p, (*base, "rescan_interval"), get("rescan_interval"), d.rescan_interval
        ),
        "settle_time": _duration(p, (*base, "settle_time"), get("settle_time"), d.settle_time),
        "require_charging": _bool(
            p, (*base, "require_charging"), get("require_charging"), d.require_charging
        ),
        "require_unmetered": _bool(
            p, (*base, "require_unmetered"), get("require_unmetered"), d.require_unmetered
        ),
        "metered": _metered(p, get("metered")),
        "ignore_cloud_placeholders": _bool(
            p,
            (*base, "ignore_cloud_placeholders"),
            get("ignore_cloud_placeholders"),
            d.ignore_cloud_placeholders,
        ),
        "follow_symlinks": _bool(
            p, (*base, "follow_symlinks"), get("follow_symlinks"), d.follow_symlinks
        ),
        "check_batch_size": _int(
            p, (*base, "check_batch_size"), get("check_batch_size"), d.check_batch_size, 1, 5000
        ),
        "verify_interval": _duration(
            p, (*base, "verify_interval"), get("verify_interval"), d.verify_interval
        ),
        "bandwidth": _bandwidth(p, (*base, "bandwidth"), get("bandwidth"), d.bandwidth),
        "quiet_hours": _quiet_hours(p, (*base, "quiet_hours"), get("quiet_hours"),
                                    d.quiet_hours),
        "retry": _retry(p, get("retry")),
    }
    if any(v is None for v in values.values()):
        return None
    return BackupSettings(**values)


_BANDWIDTH_PROBLEMS: Final = {
    "rate": N_("not a rate: {value} (e.g. 5MB/s, 512KB/s or off)"),
    "entry": N_("not a timetable entry: {value} (HH:MM,RATE or Mon-HH:MM,RATE, e.g. "
                "\"08:00,1MB/s 23:00,off\")"),
    "time": N_("no such time of day: {value}"),
    "weekday": N_("no such weekday: {value} (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
    "order": N_("a time is given twice in {value}"),
    "type": N_("expected a rate such as 5MB/s or a timetable, got {value}"),
}
_QUIET_PROBLEMS: Final = {
    "range": N_("not a time range: {value} (e.g. \"08:00-18:00\" or \"22:00-06:00\"; it "
                "must leave some time of the day for uploads)"),
    "time": N_("no such time of day in {value}"),
    "type": N_("expected time ranges such as \"08:00-18:00\", got {value}"),
}


def _bandwidth(p: _Problems, path: KeyPath, value: Any, default: str) -> str | None:
    return _grammar(p, path, value, default, parse_timetable, BandwidthError,
                    _BANDWIDTH_PROBLEMS)


def _quiet_hours(p: _Problems, path: KeyPath, value: Any, default: str) -> str | None:
    return _grammar(p, path, value, default, parse_quiet_hours, QuietHoursError,
                    _QUIET_PROBLEMS)


def _grammar(p: _Problems, path: KeyPath, value: Any, default: str,
             parse: Callable[[Any], object], error: type[BandwidthError | QuietHoursError],
             problems: Mapping[str, str]) -> str | None:
    """A value in a small grammar (bandwidth.py, quiet_hours.py), kept as written once
    it parses; its error's ``reason`` picks the translated message."""
    if value is _MISSING or value is None:
        return default
    try:
        parse(value)
    except error as exc:
        shown = _describe(value) if exc.reason == "type" else repr(exc.shown)
        p.error(path, Msg(problems[exc.reason], value=shown))
        return None
    return str(value).strip()


def _metered(p: _Problems, value: Any) -> Metered | None:
    base: KeyPath = ("backup", "metered")
    sec = _section(p, value, base, "backup.metered")
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    photos = _bool(p, (*base, "photos"), sec.get("photos", _MISSING), Metered.photos)
    videos = _bool(p, (*base, "videos"), sec.get("videos", _MISSING), Metered.videos)
    if photos is None or videos is None:
        return None
    return Metered(photos=photos, videos=videos)


def _retry(p: _Problems, value: Any) -> RetrySettings | None:
    base: KeyPath = ("backup", "retry")
    sec = _section(p, value, base, "backup.retry")
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    d = RetrySettings
    attempts = _int(
        p, (*base, "max_attempts"), sec.get("max_attempts", _MISSING), d.max_attempts, 1
    )
    initial = _duration(p, (*base, "initial"), sec.get("initial", _MISSING), d.initial)
    longest = _duration(p, (*base, "max"), sec.get("max", _MISSING), d.max)
    if initial is not None and longest is not None and longest < initial:
        p.error((*base, "max"), Msg(
            N_("max {long} is shorter than initial {short}; it must be at least as long")
            if "max" in sec else
            N_("max {long} (the default) is shorter than initial {short}; it must be at least "
               "as long"),
            long=format_duration(longest), short=format_duration(initial)))
        return None
    if attempts is None or initial is None or longest is None:
        return None
    return RetrySettings(max_attempts=attempts, initial=initial, max=longest)


def _notifications(p: _Problems, value: Any) -> NotificationSettings | None:
    base: KeyPath = ("notifications",)
    sec = _section(p, value, base, "notifications")
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    desktop = _bool(
        p, (*base, "desktop"), sec.get("desktop", _MISSING), NotificationSettings.desktop
    )
    return None if desktop is None else NotificationSettings(desktop=desktop)


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8484"`` or ``"[::1]:0"`` -> (host, port); ``ConfigValueError`` (a
    ``ValueError``) says what is wrong.

    Only loopback addresses (and ``localhost``) are accepted: anything else would show
    the dashboard to the network, which needs a password and TLS (not supported yet).
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigValueError(Msg(N_("expected host:port such as 127.0.0.1:8484, got {value}"),
                                   value=repr(text)))
    port = int(port_text)
    if port > 65535:
        raise ConfigValueError(Msg(N_("the port must be between 0 and 65535, got {port}"),
                                   port=port))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        return "127.0.0.1", port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigValueError(Msg(N_("expected an IP address such as 127.0.0.1, got {value}"),
                                   value=repr(host))) from None
    if not address.is_loopback:
        raise ConfigValueError(Msg(N_(
            "{host} is not a loopback address: a dashboard reachable from the network "
            "needs a password and TLS, which this version does not support yet; listen "
            "on 127.0.0.1 and reach it from another machine through an SSH tunnel "
            "(ssh -L 8484:127.0.0.1:8484 this-host)"), host=host))
    return str(address), port


def _dashboard(p: _Problems, value: Any) -> DashboardSettings | None:
    base: KeyPath = ("dashboard",)
    sec = _section(p, value, base, "dashboard")
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    d = DashboardSettings()
    enabled = _bool(p, (*base, "enabled"), sec.get("enabled", _MISSING), d.enabled)
    host, port = d.host, d.port
    listen = sec.get("listen", _MISSING)
    if listen is not _MISSING:
        text = _string(p, (*base, "listen"), listen)
        if text is None:
            return None
        try:
            host, port = parse_listen(text.strip())
        except ConfigValueError as exc:
            p.error((*base, "listen"), exc.message)
            return None
    return None if enabled is None else DashboardSettings(enabled=enabled, host=host, port=port)


def _state_dir(p: _Problems, ctx: _Context, value: Any) -> Path | None:
    if value is _MISSING:
        return default_state_dir()
    path: KeyPath = ("state_dir",)
    folder = _path(p, ctx, path, value)
    if folder is None:
        return None
    kind = _kind(p, ctx, path, folder)
    if kind in ("file", "other"):
        p.error(path, Msg(N_("not a folder: {path}"), path=folder))
        return None
    return None if kind is None else folder


# --------------------------------------------------------------------------- helpers

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _expand_home(text: str, env: Mapping[str, str]) -> str:
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        return home + text[1:]
    if text.startswith("~"):
        return os.path.expanduser(text)  # ~user
    return text
