"""Run a child process and measure it: wall time (start-up included) and peak RSS.

Peak RSS is the child's ``VmHWM`` (``/proc/PID/status``), the high-water mark of its
own address space, polled every 10 ms (it only grows, so the last reading is the peak
unless the peak came in the last 10 ms). Not ``ru_maxrss`` from ``wait4``: on Linux
that starts at the *parent's* RSS (the high-water mark of the address space the child
had before ``exec``), so every child of a bench holding a million-entry list would
"use" as much as the bench. ``ru_maxrss`` is only the fallback where /proc is missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class Measured:
    seconds: float
    rss_mb: float
    cpu_s: float
    returncode: int
    stdout: str
    stderr_tail: str


def run_measured(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    timeout: float = 3600.0,
) -> Measured:
    """Run ``cmd`` to its end; stdout is returned, stderr goes to ``log`` (kept) or a
    temporary file (its tail is returned either way)."""
    with tempfile.TemporaryFile() as out, (
        open(log, "w+b") if log is not None else tempfile.TemporaryFile()
    ) as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        hwm = [0]
        _read_hwm(proc.pid, hwm)  # Popen returns after exec: this is the child's own
        done = threading.Event()
        poller = threading.Thread(target=_poll_hwm, args=(proc.pid, hwm, done), daemon=True)
        poller.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            killer.cancel()
        poller.join()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(max(0, err.seek(0, os.SEEK_END) - 2000))
        tail = err.read().decode("utf-8", "replace")
        stdout = out.read().decode("utf-8", "replace")
    if hwm[0]:
        rss_mb = hwm[0] / 1024
    elif os.path.exists("/proc/self/status"):
        rss_mb = float("nan")  # exited before the first reading: too short to matter
    else:
        rss_mb = usage.ru_maxrss / 1024  # not Linux: see the module's docstring
    return Measured(seconds, rss_mb, usage.ru_utime + usage.ru_stime,
                    proc.returncode, stdout, tail)


def _read_hwm(pid: int, hwm: list[int]) -> None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    hwm[0] = max(hwm[0], int(line.split()[1]))
                    return
    except (OSError, ValueError):
        pass  # gone, or a zombie (no VmHWM line): the last reading stands


def _poll_hwm(pid: int, hwm: list[int], done: threading.Event) -> None:
    while not done.wait(0.01):
        _read_hwm(pid, hwm)


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM a child that still runs, wait up to ``timeout`` for it (then SIGKILL),
    and return its exit code: how the bench ends a stand-in or a daemon."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def byte_compile(repo: Path, packages: Sequence[str]) -> None:
    """Compile the project's modules to ``__pycache__`` once, as ``pip install`` does for
    an installed package. Without it, every run where bytecode is not written
    (PYTHONDONTWRITEBYTECODE, set here and in some environments) compiles them all
    from source again: ~70 ms of each ``once``, which no installed copy pays. Python
    checks each file's mtime against its bytecode, so a stale one is never used."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], cwd=repo, env=env,
                   check=True, stdout=subprocess.DEVNULL)
