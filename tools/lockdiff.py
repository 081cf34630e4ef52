"""Print what the running interpreter's environment has that differs from the lock.

    python tools/lockdiff.py [requirements.lock] [--ignore NAME ...] [--strict]

One line per package: ``name  locked -> installed``, ``(not in the lock)`` or ``(not
installed)``, sorted by name. A locked entry counts only where its environment marker holds
here (the lock is universal: ``dbus-fast`` only on Linux, ``rubicon-objc`` only on macOS).
The project itself (``immich-backupd``) is ignored. Exit status 0, or with ``--strict`` 1
when anything differs. ``make test-latest`` runs it in its throwaway venv to show the drift;
``make venv`` runs it to show what a reused venv has beyond the lock.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata

from packaging.markers import Marker

__all__ = ["diff", "format_diff", "installed", "locked"]

# "name==version", then an optional "; marker", then an optional line continuation.
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
                  r"\s*(?:;(?P<marker>[^\\]*))?\\?\s*$")


def canonical(name: str) -> str:
    """The normalised project name (PEP 503): ``PyYAML`` and ``pyyaml`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(text: str, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """The pinned version of each package of the lock ``text`` (pip-tools format) whose
    marker holds in ``environment`` (the running interpreter's when None)."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match is None:
            continue
        marker = (match["marker"] or "").strip()
        if marker and not Marker(marker).evaluate(dict(environment) if environment else None):
            continue
        pins[canonical(match["name"])] = match["version"]
    return pins


def installed() -> dict[str, str]:
    """Each distribution installed for the running interpreter, with its version."""
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def diff(lock: Mapping[str, str], have: Mapping[str, str],
         ignore: Iterable[str] = ()) -> list[tuple[str, str | None, str | None]]:
    """(name, locked version or None, installed version or None) for each package whose
    versions differ, sorted by name."""
    skip = {canonical(n) for n in ignore}
    return [(name, lock.get(name), have.get(name))
            for name in sorted((lock.keys() | have.keys()) - skip)
            if lock.get(name) != have.get(name)]


def format_diff(rows: list[tuple[str, str | None, str | None]], lock_name: str) -> str:
    if not rows:
        return f"every package as in {lock_name}"
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{len(rows)} package(s) differ from {lock_name}:"]
    for name, was, now in rows:
        if was is None:
            change = f"{now} (not in the lock)"
        elif now is None:
            change = f"{was} (not installed)"
        else:
            change = f"{was} -> {now}"
        lines.append(f"  {name:<{width}}  {change}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", nargs="?", default="requirements.lock")
    parser.add_argument("--ignore", action="append", default=["immich-backupd"])
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything differs")
    args = parser.parse_args(argv)
    with open(args.lock, encoding="utf-8") as f:
        rows = diff(locked(f.read()), installed(), args.ignore)
    print(format_diff(rows, args.lock))
    return 1 if rows and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
