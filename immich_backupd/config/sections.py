"""Validation of the sections: the whole document into ``Settings``, one reader each.

Cross-field rules (``max_delay`` >= ``trigger_delay``, one key source) live with their
section. The ``albums`` section is in ``albums.py``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from immich_backupd.bilingual import Alt, Msg
from immich_backupd.i18n import N_
from immich_backupd.scan.folder_problems import os_error_reason
from immich_backupd.schedule.durations import format_duration

from .albums import _albums
from .fields import (
    _bandwidth,
    _bool,
    _choice,
    _Context,
    _describe,
    _duration,
    _int,
    _kind,
    _path,
    _Problems,
    _quiet_hours,
    _required,
    _required_section,
    _section,
    _string,
)
from .keys import KINDS, SECTIONS
from .model import (
    API_KEY_ENV,
    CREDENTIAL_NAME,
    LOG_LEVELS,
    BackupSettings,
    DashboardSettings,
    KeySource,
    Metered,
    NotificationSettings,
    RetrySettings,
    Secret,
    ServerSettings,
    Settings,
    StackSettings,
)
from .paths import ConfigValueError, default_state_dir, permission_warning
from .yamldoc import _MISSING, KeyPath

_S = TypeVar("_S")


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
    dashboard = _dashboard(p, ctx, top.get("dashboard", _MISSING))
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


def _server(p: _Problems, ctx: _Context, value: Any) -> ServerSettings | None:
    base: KeyPath = ("server",)
    sec = _required_section(p, value, "server")
    if sec is None:
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
    pause_jobs = _typed(p, ("server", "pause_jobs_during_import"),
                        sec.get("pause_jobs_during_import", _MISSING),
                        ServerSettings.pause_jobs_during_import)
    pause_threshold = _typed(p, ("server", "pause_jobs_threshold"),
                             sec.get("pause_jobs_threshold", _MISSING),
                             ServerSettings.pause_jobs_threshold)
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


# The bounds of integer keys (keys.KEYS gives their type; the range is the reader's).
_INT_RANGES: Final[dict[str, tuple[int, int | None]]] = {
    "server.pause_jobs_threshold": (0, None),
    "backup.concurrency": (1, 16),
    "backup.check_batch_size": (1, 5000),
    "backup.retry.max_attempts": (1, None),
}


def _typed(p: _Problems, path: KeyPath, value: Any, default: Any) -> Any:
    """A value read as its key's type in ``keys.KEYS`` says: boolean, integer, duration."""
    dotted = ".".join(str(part) for part in path)
    kind = KINDS[dotted]
    if kind == "boolean":
        return _bool(p, path, value, default)
    if kind == "integer":
        low, high = _INT_RANGES[dotted]
        return _int(p, path, value, default, low, high)
    if kind == "duration":
        return _duration(p, path, value, default)
    raise ValueError(f"{dotted}: no plain reader for {kind!r}")  # a programming error


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
    readers: dict[str, Callable[[], Any]] = {
        "trigger_delay": lambda: trigger_delay,
        "max_delay": lambda: max_delay,
        "metered": lambda: _switches(p, get("metered"), ("backup", "metered"), Metered),
        "bandwidth": lambda: _bandwidth(p, (*base, "bandwidth"), get("bandwidth"), d.bandwidth),
        "quiet_hours": lambda: _quiet_hours(p, (*base, "quiet_hours"), get("quiet_hours"),
                                            d.quiet_hours),
        "stacks": lambda: _switches(p, get("stacks"), ("backup", "stacks"), StackSettings),
        "retry": lambda: _retry(p, get("retry")),
    }
    # In the order of keys.KEYS, so problems on one line come in the documented order.
    values = {
        name: readers[name]() if name in readers
        else _typed(p, (*base, name), get(name), getattr(d, name))
        for name in SECTIONS["backup"]
    }
    if any(v is None for v in values.values()):
        return None
    return BackupSettings(**values)


def _switches(p: _Problems, value: Any, base: KeyPath, cls: type[_S]) -> _S | None:
    """A section of typed keys (``backup.metered``, ``backup.stacks``) read into ``cls``,
    a dataclass whose fields are the keys and whose defaults type them; None after a
    problem (each said at its key)."""
    sec = _section(p, value, base, ".".join(base))
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    values = {f.name: _typed(p, (*base, f.name), sec.get(f.name, _MISSING),
                             getattr(cls, f.name)) for f in dataclasses.fields(cls)}
    if any(v is None for v in values.values()):
        return None
    return cls(**values)


def _retry(p: _Problems, value: Any) -> RetrySettings | None:
    base: KeyPath = ("backup", "retry")
    sec = _section(p, value, base, "backup.retry")
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return None
    d = RetrySettings
    attempts = _typed(p, (*base, "max_attempts"), sec.get("max_attempts", _MISSING),
                      d.max_attempts)
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
    """``"127.0.0.1:8484"``, ``"[::1]:0"`` or ``"0.0.0.0:8484"`` -> (host, port);
    ``ConfigValueError`` (a ``ValueError``) says what is wrong.

    An IP address (or ``localhost``). One that is not loopback shows the dashboard to
    the network: the daemon then serves it only with a password set
    (``immich-backupd dashboard --set-password``) and warns unless TLS is configured.
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
    return str(address), port


def _dashboard(p: _Problems, ctx: _Context, value: Any) -> DashboardSettings | None:
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
    given = {name: sec.get(name) for name in ("tls_cert", "tls_key")}
    tls = {name: _tls_file(p, ctx, (*base, name), v) for name, v in given.items()}
    if (given["tls_cert"] is None) != (given["tls_key"] is None):
        p.error((*base, "tls_cert" if given["tls_cert"] is None else "tls_key"), Msg(N_(
            "tls_cert and tls_key go together: set both (a PEM certificate and its key) "
            "or neither")))
        return None
    if enabled is None or any(given[n] is not None and tls[n] is None for n in tls):
        return None
    return DashboardSettings(enabled=enabled, host=host, port=port, tls_cert=tls["tls_cert"],
                             tls_key=tls["tls_key"])


def _tls_file(p: _Problems, ctx: _Context, path: KeyPath, value: Any) -> Path | None:
    """A PEM file of ``dashboard.tls_cert`` / ``tls_key`` that exists (None: unset or
    wrong, said in ``p``)."""
    if value is None:
        return None
    target = _path(p, ctx, path, value, relative_to_config=True)
    if target is None:
        return None
    kind = _kind(p, ctx, path, target)
    if kind is None:
        return None
    if kind == "missing":
        p.error(path, Msg(N_("file does not exist: {path}"), path=target))
        return None
    if kind != "file":
        p.error(path, Msg(N_("not a file: {path}"), path=target))
        return None
    return target


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
