"""A byte budget for file contents held in memory between hashing and uploading.

The hasher keeps the bytes of small new files so that the uploader sends them without
reading the file a second time (and without a second SHA-1). Memory must stay flat
whatever the library, so what is held at once is bounded. ``try_take`` itself never
waits; the hash stage (``hash.KeptBytes``) waits for room before it hashes a group,
polling every 50 ms (which also notices a stop), so hashing runs no further ahead of
uploading than the budget. A group that can never fit is not kept: the uploader
streams its files from the disk.
"""

from __future__ import annotations

import threading


class ByteBudget:
    """At most ``limit`` bytes taken at once; thread-safe (taken in hashing threads,
    given back on the event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ByteBudget(held={self.held}, limit={self.limit})"

    def try_take(self, n: int) -> bool:
        """Take ``n`` bytes if they fit; False (nothing taken) if not."""
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.held -= n
            if self.held < 0:
                raise RuntimeError(f"ByteBudget: gave back {n} bytes more than taken")
