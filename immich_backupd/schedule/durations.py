"""Human-friendly durations: ``500ms``, ``5s``, ``10m``, ``1h``, ``1d``, ``1h30m``, or seconds.

Pure: no I/O, no imports of ours. The config file, the CLI and status output all speak this
one dialect, so a value printed by ``format_duration`` can be pasted back into the config.

Grammar: one or more ``<number><unit>`` parts, units from largest to smallest, each at most
once (``1h30m``, ``1m30s``, ``1s500ms``); a bare number (``90``, ``1.5``) is seconds.
Numbers are decimal without sign or exponent. Units are lowercase, because ``m`` and ``M``
mean very different things elsewhere and guessing would hide typos.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["UNITS", "DurationError", "format_duration", "parse_duration"]

#: Unit suffix → length in seconds, largest first (the order combos must follow).
UNITS: dict[str, Decimal] = {
    "d": Decimal(86400),
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
}

# ASCII digits only: ``\d`` and ``float()`` also take other scripts' digits ("٣s", "５m").
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
# "ms" before "m" and "s" so the alternation never splits it.
_PART = re.compile(rf"({_NUMBER})\s*(ms|d|h|m|s)")
_BARE_NUMBER = re.compile(rf"{_NUMBER}")
_EXAMPLES = "e.g. 500ms, 5s, 10m, 1h, 1d, 1m30s, or a number of seconds"


class DurationError(ValueError):
    """Why a value is not a duration, in English (``str()``), and as data for a
    translation: ``reason`` is one of ``type``, ``negative``, ``not_finite``,
    ``malformed``, ``order``; ``shown`` the value as the message shows it (a ``repr``,
    or for ``type`` the name of the type)."""

    def __init__(self, message: str, reason: str, shown: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.shown = shown


def parse_duration(value: str | int | float) -> float:
    """Return ``value`` as a number of seconds.

    Given a string in the grammar above, or an int/float number of seconds, return a finite,
    non-negative float. Raise ``DurationError`` (a ``ValueError``) with a message fit for
    a user (it names the value and shows examples) if the value is negative, not finite,
    malformed, or of another type. ``bool`` is rejected although it is an ``int``:
    ``true`` is never a duration.
    """
    if isinstance(value, bool):
        raise DurationError(f"expected a duration ({_EXAMPLES}), got {value!r}", "type",
                            repr(value))
    if isinstance(value, int | float):
        return _check_seconds(float(value), repr(value))
    if not isinstance(value, str):
        raise DurationError(f"expected a duration ({_EXAMPLES}), got {type(value).__name__}",
                            "type", type(value).__name__)
    text = value.strip()
    if text.startswith("-"):
        raise DurationError(f"duration must not be negative, got {value!r}", "negative",
                            repr(value))
    if _BARE_NUMBER.fullmatch(text):
        return _check_seconds(float(text), repr(value))
    return _check_seconds(_parse_parts(text, value), repr(value))


def _parse_parts(text: str, original: str) -> float:
    """Sum the ``<number><unit>`` parts of ``text`` exactly, rounding to float only once."""
    total = Decimal(0)
    pos = 0
    last_rank = -1
    ranks = list(UNITS)
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise DurationError(f"not a duration: {original!r} ({_EXAMPLES})", "malformed",
                                repr(original))
        number, unit = match.groups()
        rank = ranks.index(unit)
        if rank <= last_rank:
            raise DurationError(
                f"not a duration: {original!r} (units must go from largest to smallest, "
                "each at most once, e.g. 1h30m)", "order", repr(original))
        last_rank = rank
        try:
            total += Decimal(number) * UNITS[unit]
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
            raise DurationError(f"not a duration: {original!r}", "malformed",
                                repr(original)) from exc
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if pos == 0:
        raise DurationError(f"not a duration: {original!r} ({_EXAMPLES})", "malformed",
                            repr(original))
    return float(total)


def _check_seconds(seconds: float, shown: str) -> float:
    if seconds < 0:
        raise DurationError(f"duration must not be negative, got {shown}", "negative", shown)
    if math.isnan(seconds) or math.isinf(seconds):
        raise DurationError(f"duration must be a finite number of seconds, got {shown}",
                            "not_finite", shown)
    return seconds


def format_duration(seconds: float) -> str:
    """Return the shortest readable form of ``seconds`` that parses back to exactly it.

    Whole milliseconds are written with units (``90`` → ``1m30s``, ``0.25`` → ``250ms``);
    anything finer falls back to plain decimal seconds (``0.0001s``), so
    ``parse_duration(format_duration(x)) == x`` holds for every finite ``x >= 0``.
    Raise ``ValueError`` for negative or non-finite input.
    """
    seconds = _check_seconds(float(seconds), repr(seconds))
    if seconds == 0:
        return "0s"
    millis = seconds * 1000
    if millis < 2**53 and millis == int(millis):
        remaining = int(millis)
        parts = []
        for unit, length in UNITS.items():
            unit_ms = int(length * 1000)
            count, remaining = divmod(remaining, unit_ms)
            if count:
                parts.append(f"{count}{unit}")
        candidate = "".join(parts)
        if parse_duration(candidate) == seconds:
            return candidate
    # repr() is the shortest round-tripping form; Decimal spells it without an exponent.
    return f"{Decimal(repr(seconds)):f}s"
