"""What a pass is doing right now, as plain data: the pipeline writes, reporters read.

One ``Progress`` per pass. Nothing here does I/O, so a terminal display, the journal,
sd_notify's STATUS= line and ``immich-backupd status`` all render the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Upload:
    """One upload in flight."""

    path: str
    size: int
    sent: int = 0

    @property
    def percent(self) -> float:
        return 100.0 * self.sent / self.size if self.size else 100.0


@dataclass(slots=True)
class Progress:
    """Counters of the running pass. ``planned`` grows while the scan is still walking."""

    phase: str = "starting"  # starting, scanning, uploading, albums, done, stopped
    seen: int = 0  # media files found by the scan
    backed_up: int = 0  # of those, already on the server (before or during this pass)
    planned: int = 0  # files that need work in this pass (hash/check/upload)
    done: int = 0  # of the planned ones, finished (whatever the outcome)
    hashed: int = 0
    uploaded: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped: int = 0  # placeholders, trashed, unsupported, waiting for retry
    bytes_uploaded: int = 0
    bytes_planned: int = 0
    scanning: bool = True
    waiting_for: str | None = None
    started_at: float = field(default_factory=time.time)
    uploads: dict[str, Upload] = field(default_factory=dict)
    # Cloud placeholders being read (which downloads them) when they are not skipped;
    # ``sent`` counts bytes read so far.
    downloads: dict[str, Upload] = field(default_factory=dict)

    def start_upload(self, path: str, size: int) -> Upload:
        upload = Upload(path, size)
        self.uploads[path] = upload
        return upload

    def end_upload(self, path: str) -> None:
        self.uploads.pop(path, None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("uploads", "downloads"):
            data[key] = [
                {"path": u.path, "size": u.size, "sent": u.sent,
                 "percent": round(u.percent, 1)}
                for u in getattr(self, key).values()
            ]
        return data


class Reporter:
    """Receives the events of a pass. The base class ignores them all.

    Reporters are best-effort: an exception in one is logged by the caller and never
    fails a backup (borgmatic's monitoring hooks).
    """

    def file_done(self, path: str, outcome: str, detail: str = "") -> None:
        """One file finished: uploaded, duplicate, failed, trashed, unsupported, vanished."""

    def progress(self, progress: Progress) -> None:
        """Called often; implementations throttle."""

    def pass_done(self, progress: Progress, outcome: str) -> None:
        """The pass ended with outcome complete, partial, quota, auth, stopped."""
