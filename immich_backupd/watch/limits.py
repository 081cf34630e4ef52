"""inotify's limits, how many folders we would watch, and what to tell the user to raise.

Linux gives each user ``fs.inotify.max_user_watches`` watches (one per watched folder,
8192 on older kernels), ``fs.inotify.max_user_instances`` inotify instances and a queue of
``fs.inotify.max_queued_events`` per instance. A big NAS library exceeds the first; then
the watcher polls instead and logs :func:`watch_limit_advice`. The ``check`` command
compares :func:`count_dirs` with :func:`inotify_limit` before that happens.

No watchdog here: the folder count and the advice are shared by the watcher and ``check``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from immich_backupd.media.kinds import is_ignored_dir
from immich_backupd.scan.rules import AlbumRules

SYSCTL_DIR = Path("/proc/sys/fs/inotify")
USERNS_WATCHES = Path("/proc/sys/user/max_inotify_watches")
SUGGESTED_WATCHES = 524_288
"""What the advice suggests: the common distro-documented value, ~0.5 GiB of kernel memory
at most on 64-bit (about 1 KiB per watch actually in use)."""
SUGGESTED_INSTANCES = 512


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def inotify_limit(sysctl_dir: Path = SYSCTL_DIR) -> int | None:
    """Return ``fs.inotify.max_user_watches``, or None where there is no inotify (not Linux)."""
    return _read_int(sysctl_dir / "max_user_watches")


def namespace_watch_limit(path: Path = USERNS_WATCHES) -> int | None:
    """Return ``user.max_inotify_watches``: a user namespace's own cap (containers), which
    binds on top of ``fs.inotify.max_user_watches``; None where it does not exist."""
    return _read_int(path)


def inotify_instances_limit(sysctl_dir: Path = SYSCTL_DIR) -> int | None:
    """Return ``fs.inotify.max_user_instances``, or None where there is no inotify."""
    return _read_int(sysctl_dir / "max_user_instances")


def inotify_queue_limit(sysctl_dir: Path = SYSCTL_DIR) -> int | None:
    """Return ``fs.inotify.max_queued_events``, or None where there is no inotify."""
    return _read_int(sysctl_dir / "max_queued_events")


def prune_dir(rules: AlbumRules, path: str, name: str) -> bool:
    """Return True for a folder below an include root that is never watched nor walked:
    an ignored name (hidden, ``@eaDir``, recycle bins, snapshots) or an exclusion.

    Its ancestors are assumed already checked, as in a top-down walk.
    """
    return is_ignored_dir(name) or rules.is_excluded_entry(path, name, True)


def _hidden_between(outer: str, inner: str) -> bool:
    """Return True if a folder from below ``outer`` down to ``inner`` has an ignored name."""
    rel = inner[len(outer) :].strip("/")
    return any(is_ignored_dir(part) for part in rel.split("/") if part)


def top_roots(roots: Iterable[Path], rules: AlbumRules) -> list[Path]:
    """Return the roots that need a watch of their own, sorted.

    Excluded roots are dropped. A root inside another kept root is covered by that
    root's recursive watch, unless a folder between them is one the watch skips (a hidden
    or NAS-system folder): then it is watched separately.
    """
    kept: list[Path] = []
    for root in sorted({Path(os.path.normpath(r)) for r in roots}, key=lambda p: p.parts):
        if rules.is_excluded(root, is_dir=True):
            continue
        covered = False
        for outer in kept:
            if outer in root.parents and not _hidden_between(str(outer), str(root)):
                covered = True
                break
        if not covered:
            kept.append(root)
    return kept


def count_dirs(roots: Iterable[Path], rules: AlbumRules) -> int:
    """Return how many folders the watcher would watch under ``roots``: one inotify watch
    each. Ignored and excluded folders are skipped (they are not watched), symlinks are
    not followed, unreadable folders count once (their watch is attempted) and are not
    entered. A missing root counts zero.
    """
    total = 0
    for root in top_roots(roots, rules):
        if not root.is_dir():
            continue
        stack = [str(root)]
        while stack:
            current = stack.pop()
            total += 1
            try:
                with os.scandir(current) as it:
                    for entry in it:
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        if is_dir and not prune_dir(rules, entry.path, entry.name):
                            stack.append(entry.path)
            except OSError:
                continue
    return total


def suggested_watches(current: int | None, needed: int | None = None) -> int:
    """Return a ``max_user_watches`` value to suggest: 524288, or more when that is not
    above the current value or below twice the folders needed (other programs use
    watches too)."""
    value = SUGGESTED_WATCHES
    floor = max(current or 0, 2 * (needed or 0))
    while value <= floor:
        value *= 2
    return value


def _sysctl_advice(key: str, value: int) -> str:
    return (
        f"raise it now with `sudo sysctl {key}={value}` and make it permanent with "
        f"`echo {key}={value} | sudo tee /etc/sysctl.d/90-immich-backupd.conf` "
        "(applied at boot, or now with `sudo sysctl --system`)"
    )


def watch_limit_advice(
    current: int | None = None, needed: int | None = None, namespace: int | None = None
) -> str:
    """Return the sentence telling the user what to raise when watches ran out.

    ``current`` defaults to the live ``fs.inotify.max_user_watches``, ``namespace`` to
    the live ``user.max_inotify_watches``, mentioned only when it is the lower one.
    """
    if current is None:
        current = inotify_limit()
    if namespace is None:
        namespace = namespace_watch_limit()
    shown = "unknown" if current is None else str(current)
    need = f"; the include folders hold {needed} folders" if needed is not None else ""
    advice = (
        f"fs.inotify.max_user_watches is {shown} (one watch per folder, shared by all of "
        f"this user's programs{need}): "
        + _sysctl_advice("fs.inotify.max_user_watches", suggested_watches(current, needed))
    )
    if namespace is not None and current is not None and namespace < current:
        advice += (
            f". This user namespace (a container?) allows only {namespace}: raise "
            "user.max_inotify_watches there too"
        )
    return advice


def instance_limit_advice(current: int | None = None) -> str:
    """Return the sentence telling the user what to raise when inotify instances ran out."""
    if current is None:
        current = inotify_instances_limit()
    shown = "unknown" if current is None else str(current)
    value = max(SUGGESTED_INSTANCES, 2 * (current or 0))
    return f"fs.inotify.max_user_instances is {shown}: " + _sysctl_advice(
        "fs.inotify.max_user_instances", value
    )
