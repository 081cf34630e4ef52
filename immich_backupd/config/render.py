"""Settings back into the shape of the config file (for ``check`` and the dashboard)."""

from __future__ import annotations

from typing import Any

from immich_backupd.schedule.durations import format_duration

from .model import Settings


def _include(settings: Settings) -> list[Any]:
    """``albums.include`` as written: a plain path, or a mapping when the album is not
    named after the folder."""
    naming = {n.root: n for n in settings.albums.naming}
    out: list[Any] = []
    for folder in settings.albums.include:
        n = naming.get(folder)
        if n is None:
            out.append(str(folder))
        else:
            entry: dict[str, Any] = {"path": str(folder), "album": n.name or n.album.value}
            if n.tags:
                entry["tags"] = list(n.tags)
            if n.folder_as_tags:
                entry["folder_as_tags"] = True
            out.append(entry)
    return out


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
            "include": _include(settings),
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
            "stacks": {"raw_jpeg": b.stacks.raw_jpeg, "bursts": b.stacks.bursts},
            "retry": {
                "max_attempts": b.retry.max_attempts,
                "initial": format_duration(b.retry.initial),
                "max": format_duration(b.retry.max),
            },
        },
        "notifications": {"desktop": settings.notifications.desktop},
        "dashboard": {"enabled": settings.dashboard.enabled,
                      "listen": settings.dashboard.listen,
                      **{name: str(path) for name, path in (
                          ("tls_cert", settings.dashboard.tls_cert),
                          ("tls_key", settings.dashboard.tls_key)) if path is not None}},
        "log_level": settings.log_level,
    }
