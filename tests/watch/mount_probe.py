"""Run a FolderWatcher while a tmpfs is mounted over, then unmounted from, its root.

Started by test_probe_and_mounts.py inside ``unshare -U -r -m`` (a user and mount
namespace of its own, so no privilege is needed and nothing leaks to the host). Prints
one JSON line with what the watcher reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def main(base: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from immich_backupd.scan.rules import AlbumRules
    from immich_backupd.watch.observer import FolderWatcher

    lib = base / "lib"
    lib.mkdir()
    events: list[tuple[str, str]] = []
    rescans: list[str] = []
    lock = threading.Lock()

    def on_change(path: Path, kind: str) -> None:
        with lock:
            events.append((str(path), kind))

    def on_rescan(root: Path) -> None:
        with lock:
            rescans.append(str(root))

    def wait(pred, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if pred():
                    return True
            time.sleep(0.02)
        return False

    w = FolderWatcher(AlbumRules([lib]), on_change, on_rescan=on_rescan)
    w.start()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "photos", str(lib)], check=True)
        after_mount = wait(lambda: len(rescans) == 1)
        rescans_after_mount = list(rescans)
        on_mount = lib / "on-the-usb-disk.jpg"
        on_mount.write_bytes(b"x")
        seen_on_mount = wait(lambda: (str(on_mount), "closed") in events)
        subprocess.run(["umount", str(lib)], check=True)
        wait(lambda: len(rescans) == 2)
        below = lib / "below.jpg"
        below.write_bytes(b"x")
        seen_after_umount = wait(lambda: (str(below), "closed") in events)
        result = {
            "after_mount": after_mount,
            "rescans_after_mount": rescans_after_mount,
            "seen_on_mount": seen_on_mount,
            "rescans_after_umount": list(rescans),
            "seen_after_umount": seen_after_umount,
        }
    finally:
        w.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
