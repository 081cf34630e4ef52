"""What a pass is doing right now, as plain data: the pipeline writes, reporters read.

One ``Progress`` per pass. Nothing here does I/O, so a terminal display, the journal,
sd_notify's STATUS= line and ``immich-backupd status`` all render the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..model import FileOutcome, PassOutcome


@dataclass(slots=True)
class Upload:
    """One upload in flight."""

    path: str
    size: int
    # Bytes that left this machine, not those waiting in its socket buffers
    # (immich/outgoing.py): at most what the server has (on Linux; elsewhere what the
    # system took). A retry starts again from 0.
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
    bytes_uploaded: int = 0  # of finished uploads that the server did not have
    bytes_planned: int = 0  # the size of the planned files
    bytes_done: int = 0  # of those, the size of the finished ones (whatever the outcome)
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

    def finish(self, size: int) -> None:
        """One planned file (of ``size`` bytes) finished, whatever the outcome."""
        self.done += 1
        self.bytes_done += size

    @property
    def bytes_sent(self) -> int:
        """Bytes sent to the server: the finished uploads and what the ones in flight
        have sent so far (what left this machine: see ``Upload.sent``)."""
        return self.bytes_uploaded + sum(u.sent for u in self.uploads.values())

    @property
    def bytes_left(self) -> int:
        """Bytes of the planned files still to go (the uploads in flight count what they
        have sent). It grows while ``scanning``: the scan still finds files."""
        in_flight = sum(u.sent for u in self.uploads.values())
        return max(0, self.bytes_planned - self.bytes_done - in_flight)

    def to_json(self) -> dict[str, Any]:
        """The fields, the uploads and downloads as lists, and ``bytes_sent`` and
        ``bytes_left``."""
        data = asdict(self)
        data["bytes_sent"] = self.bytes_sent
        data["bytes_left"] = self.bytes_left
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

    def file_done(self, path: str, outcome: FileOutcome, detail: str = "") -> None:
        """One file finished: its new status (uploaded, duplicate, failed, trashed,
        unsupported) or vanished; ``detail``: why it is not on the server."""

    def progress(self, progress: Progress) -> None:
        """Called often; implementations throttle."""

    def pass_done(self, progress: Progress, outcome: PassOutcome) -> None:
        """The pass ended (complete, partial, quota, auth, stopped, ...)."""
