"""The settings model: typed, immutable dataclasses with their defaults and reasons.

Defaults live in one place: the dataclass definitions below, each with its reason. No I/O
and nothing about YAML here; ``keys.py`` lists the file's keys, ``sections.py`` reads them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from immich_backupd.scan.rules import AlbumNaming, FolderNaming
from immich_backupd.schedule.bandwidth import Timetable, parse_timetable
from immich_backupd.schedule.quiet_hours import QuietHours, parse_quiet_hours

APP_NAME: Final = "immich-backupd"
CONFIG_ENV: Final = "IMMICH_BACKUPD_CONFIG"
API_KEY_ENV: Final = "IMMICH_API_KEY"
CREDENTIAL_NAME: Final = "immich-api-key"  # systemd credential (LoadCredential=)
LOG_LEVELS: Final = ("debug", "info", "warning", "error")

LogLevel = Literal["debug", "info", "warning", "error"]
KeySource = Literal["api_key", "api_key_file", "credential", "env"]


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
    # The include folders written as mappings whose albums are not named after the file's
    # folder (``album: path``, a fixed name, ``none``), in the order of ``include``.
    naming: tuple[FolderNaming, ...] = ()


@dataclass(frozen=True)
class StackSettings:
    """Which files of one folder become one stack on the server (``stacks.py``)."""

    # A RAW and its JPEG/HEIC are one photo to the user: one stack, the JPEG on top.
    raw_jpeg: bool = True
    # Bursts are stacked only when asked: some users keep every frame in view.
    bursts: bool = False


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
    stacks: StackSettings = field(default_factory=StackSettings)
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
    # Another address than loopback is served only with a password set, and warned
    # about unless TLS is set too (``tls_cert`` and ``tls_key``, PEM files).
    host: str = "127.0.0.1"
    port: int = 8484  # 0: any free port (the daemon writes the one it got to state_dir)
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def loopback(self) -> bool:
        """Only this machine can reach it."""
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

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

    @property
    def makes_albums(self) -> bool:
        """Whether a pass puts files into albums: ``backup.album_sync`` on and an include
        folder that is not ``album: none``. Only then does the key need the album
        permissions (``connect``, ``check``), and is the album list read."""
        if not self.backup.album_sync:
            return False
        none = {n.root for n in self.albums.naming if n.album is AlbumNaming.NONE}
        return any(root not in none for root in self.albums.include)
