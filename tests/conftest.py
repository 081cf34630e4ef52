"""Session-wide test hooks."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from immich_backupd.state import StateStore


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that fails while a state store is open leaves aiosqlite's worker thread
    running, and it is not a daemon thread: the interpreter would wait for it for ever
    at exit, and CI would hang for its full time limit instead of reporting the
    failure. Stop every connection still running (the application closes its own)."""
    for obj in gc.get_objects():
        if isinstance(obj, aiosqlite.Connection) and obj._connection is not None:
            obj.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    """A state store in a real SQLite file of the test's own folder, closed after it."""
    s = await StateStore.open(tmp_path / "state")
    yield s
    await s.close()
