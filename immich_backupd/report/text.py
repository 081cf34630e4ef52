"""Numbers as people read them: sizes, counts, rates, times, bars. Pure, translated.

Counts and sizes follow the language's separators (``1,234.5`` in English, ``1.234,5`` in
German): the catalogue translates the sample ``1,234.5``, and its second and sixth
characters are the separators.
"""

from __future__ import annotations

import time
from datetime import datetime

from ..i18n import _, ngettext


def _separators() -> tuple[str, str]:
    # TRANSLATORS: not a sentence: write 1234.5 with your thousands and decimal separators.
    sample = _("1,234.5")
    if len(sample) != 7:
        return ",", "."
    return sample[1], sample[5]


def _localize(text: str) -> str:
    thousands, decimal = _separators()
    if (thousands, decimal) == (",", "."):
        return text
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def count(n: int) -> str:
    """``1,234`` (with the language's thousands separator)."""
    return _localize(f"{n:,}")


def human_bytes(n: float) -> str:
    """``512 B``, ``2.4 MB``, ``45 MB``, ``1.1 GB``, ``10 GB`` (decimal units)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            if unit == "B" or abs(n) >= 9.95:
                return f"{_localize(f'{n:,.0f}')} {unit}"
            text = f"{n:.1f}".removesuffix(".0")  # 1 GB, not 1.0 GB
            return f"{_localize(text)} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_rate(bytes_per_second: float) -> str:
    """``2.4 MB/s``."""
    return f"{human_bytes(bytes_per_second)}/s"


def human_duration(seconds: float) -> str:
    """``45s``, ``3:05``, ``1:02:03``: short, for an ETA."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def human_ago(then: float, now: float | None = None) -> str:
    """``just now``, ``5 minutes ago``, ``2 hours ago``, ``3 days ago``."""
    seconds = max(0.0, (now if now is not None else time.time()) - then)
    if seconds < 60:
        return _("just now")
    if seconds >= 86400:
        n = int(seconds // 86400)
        return ngettext("{n} day ago", "{n} days ago", n).format(n=count(n))
    if seconds >= 3600:
        n = int(seconds // 3600)
        return ngettext("{n} hour ago", "{n} hours ago", n).format(n=count(n))
    n = int(seconds // 60)
    return ngettext("{n} minute ago", "{n} minutes ago", n).format(n=count(n))


def local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def bar(fraction: float, width: int = 16) -> str:
    """``[████░░░░]``: a progress bar of ``width`` cells."""
    fraction = min(1.0, max(0.0, fraction))
    full = round(fraction * width)
    return "[" + "█" * full + "░" * (width - full) + "]"
