"""Run FolderWatcher against a real, tiny inotify watch limit; prints a JSON result.

Meant to run in its own user namespace (``unshare -U -r python limit_probe.py DIR``),
where ``/proc/sys/user/max_inotify_watches`` limits only the processes inside: the
test then exhausts real inotify watches without touching the machine-wide
``fs.inotify.max_user_watches`` that other programs (and test runs) depend on.
Exit code 77 means the limit could not be lowered here (the test skips).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

LIMIT = 10


def main(base: Path) -> int:
    try:
        Path("/proc/sys/user/max_inotify_watches").write_text(str(LIMIT))
    except OSError as err:
        print(json.dumps({"skip": str(err)}))
        return 77

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from immich_backupd.scan.rules import AlbumRules
    from immich_backupd.watch.observer import FolderWatcher

    class Capture(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    capture = Capture()
    logging.getLogger().addHandler(capture)

    big, small, grow = base / "a_big", base / "b_small", base / "c_grow"
    for i in range(3 * LIMIT):  # more folders than watches: the walk fails part-way
        (big / f"d{i}").mkdir(parents=True)
    (small / "x").mkdir(parents=True)
    grow.mkdir()

    events: list[tuple[str, str]] = []
    overflows: list[float] = []
    lock = threading.Lock()

    def on_change(path: Path, kind: str) -> None:
        with lock:
            events.append((str(path), kind))

    def wait(pred, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if pred():
                    return True
            time.sleep(0.02)
        return False

    w = FolderWatcher(
        AlbumRules([big, small, grow]),
        on_change,
        poll_interval=0.1,
        on_overflow=lambda: overflows.append(time.monotonic()),
    )
    w.start()
    try:
        at_start = {str(k): v for k, v in w.watched_roots().items()}
        warned_at_start = list(capture.messages)
        polled = big / "d3" / "p.jpg"
        polled.write_bytes(b"x")
        polled_seen = wait(lambda: (str(polled), "created") in events)
        native = small / "x" / "n.jpg"
        native.write_bytes(b"x")
        native_seen = wait(lambda: (str(native), "closed") in events)
        # At run time: more new folders than the watches left.
        for i in range(LIMIT + 2):
            (grow / f"n{i}").mkdir()
        switched = wait(lambda: w.watched_roots().get(grow) == "polling" and bool(overflows))
        late = grow / f"n{LIMIT + 1}" / "late.jpg"
        late.write_bytes(b"x")
        late_seen = wait(lambda: (str(late), "created") in events)
        result = {
            "at_start": at_start,
            "warned_at_start": warned_at_start,
            "polled_seen": polled_seen,
            "native_seen": native_seen,
            "switched": switched,
            "late_seen": late_seen,
            "final": {str(k): v for k, v in w.watched_roots().items()},
            "warnings": capture.messages,
        }
    finally:
        w.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
