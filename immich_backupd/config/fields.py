"""Validation of single values: the problem collector and one typed reader per kind.

Each reader returns the value, its default when the key is absent (``MISSING``), or
``None`` after recording a problem. Messages stay word for word: tests and the German
catalogue hold them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from immich_backupd.bilingual import Line, Msg
from immich_backupd.i18n import N_
from immich_backupd.scan.folder_problems import os_error_reason
from immich_backupd.schedule.bandwidth import BandwidthError, parse_timetable
from immich_backupd.schedule.durations import DurationError, parse_duration
from immich_backupd.schedule.quiet_hours import QuietHoursError, parse_quiet_hours

from .keys import CONFIG_KEYS, SECTIONS
from .paths import ConfigValueError, FileSystem, expand_path
from .yamldoc import _MISSING, KeyPath


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


def _section(p: _Problems, value: Any, path: KeyPath, name: str) -> dict[str, Any]:
    """Return the mapping at ``path`` (``{}`` if absent or empty), reporting unknown keys."""
    known = SECTIONS[name]
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


def _required_section(p: _Problems, value: Any, name: str) -> dict[str, Any] | None:
    """The mapping of a top-level section that must be there (``server``, ``albums``):
    None when it is missing (its absence is reported where the top level is read) or
    not a mapping (reported here); an empty section is read as ``{}``."""
    if value is _MISSING:
        return None
    sec = _section(p, value, (name,), name)
    if value is not None and not isinstance(value, dict):
        return None
    return sec


def _unknown_key(key: str, section: str, known: Sequence[str] | None = None) -> Msg:
    """Name the unknown key and the likeliest fix: a near miss, or the key's real section.
    ``known`` is the keys allowed there, when that is not a section (a list entry)."""
    import difflib  # on the error path only: it costs every start ~1.5 ms

    known = SECTIONS[section] if known is None else known
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
    # A boolean as YAML writes it (true), not as Python does (True).
    shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
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
    import difflib  # on the error path only: it costs every start ~1.5 ms

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


def _list(p: _Problems, path: KeyPath, value: Any, what: Msg) -> list[Any] | None:
    if not isinstance(value, list):
        p.error(path, Msg(N_("expected a list of {what} (one '- ' line each), got {value}"),
                          what=what, value=_describe(value)))
        return None
    return value


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
