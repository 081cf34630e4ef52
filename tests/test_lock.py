"""One run per state directory: a real flock, held by a real second process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from immich_backupd.errors import ExitCode, LockHeldError
from immich_backupd.state.lock import RunLock, is_locked, read_holder

HOLD = """
import sys, time
from pathlib import Path
from immich_backupd.state.lock import RunLock
with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_runner_is_refused_with_the_holders_pid(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert is_locked(tmp_path)
        assert read_holder(tmp_path) == proc.pid
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}") as info:
            RunLock(tmp_path).acquire()
        assert info.value.exit_code == ExitCode.TEMPFAIL
    finally:
        proc.kill()  # kill -9: the kernel releases the lock; no stale lock file
        proc.wait()
    assert not is_locked(tmp_path)
    with RunLock(tmp_path):
        assert is_locked(tmp_path)  # flock is per open file: the probe sees our lock too
    assert not is_locked(tmp_path)
