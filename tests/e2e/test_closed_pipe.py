"""A reader that closes our stdout early (``immich-backupd status | head -1``).

The commands write into a real pipe whose reading end is closed before they start, so
every write they make fails with EPIPE: they must end quietly with 0 (once and verify
log to stderr as always, nothing more), never with the
state folder's 74 and its false "cannot use the state folder … Broken pipe".
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO


def run_into_closed_pipe(setup, *args: str) -> subprocess.CompletedProcess[bytes]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with EPIPE
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""}
    env.pop("IMMICH_API_KEY", None)
    try:
        return subprocess.run(
            [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), *args],
            stdout=write_end, stderr=subprocess.PIPE, env=env, cwd=setup.tmp, timeout=120,
            check=False)
    finally:
        os.close(write_end)


@pytest.fixture
def backed_up(server, make_setup):
    setup = make_setup(server)
    first = setup.run("once")
    assert first.returncode == 0, first.stderr
    return setup


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("failed",),
                                  ("failed", "--json"), ("check",), ("once",),
                                  ("verify",), ("once", "--dry-run"), ("--help",),
                                  ("--version",)])
def test_a_closed_stdout_ends_the_command_quietly_with_0(backed_up, args):
    normal = backed_up.run(*args)
    assert normal.stdout, "the command writes something: the pipe would be written to"
    proc = run_into_closed_pipe(backed_up, *args)
    assert proc.returncode == 0, proc.stderr.decode()
    err = proc.stderr.decode()
    if args[0] in ("once", "verify"):  # they log what they did to stderr, as always
        assert "Broken pipe" not in err and "Traceback" not in err, err
        assert all(" INFO " in line for line in err.splitlines()), err  # no warning
    else:
        assert err == ""

