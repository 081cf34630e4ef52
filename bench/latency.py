"""Target 6: how long a new photo takes to reach the server while the daemon runs.

``immich-backupd run`` as a real process, with a real inotify watch, against the
stand-in in its own process. Once its first pass is done (the watched tree adopted, the
daemon idle), a ~1 MB photo of new content is written outside the watched tree and
renamed into it, so it appears complete at once; the time from the rename until the
stand-in has stored it is one sample. The stand-in tells when it stored each asset on
``time.monotonic()``, one clock for every process, so a sample does not depend on how
often it is polled (the poll, every 10 ms, only says when to stop waiting).

Each photo goes into an empty folder of its own (made before the daemon starts, so it
is watched): see :func:`_one` for why not all into one. The rename makes the file
complete at once, but the daemon still holds back a file whose last event or mtime is
less than its settle period (1 s, ``watch.settle.DEFAULT_QUIET``) old when its pass
comes: with a ``trigger_delay`` under 1 s that costs a second pass (``passes``), and
the settle period, not the delay, sets the latency.

Each sample is also split, from the stand-in's request log and the state's ``passes``
row, into where the time went, for the pass that uploaded it: until its first request
(the debounce ``trigger_delay``, then the pass's set-up: conditions, lock, state,
client), the handshake, the pass's own work (list the folder, hold check, hash, the
daemon's status publish) and the upload itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clientconfig import write_config
from .procs import python_env, terminate
from .standin import Server
from .trees import JPEG, tiny_tree, write_seed

REPO = Path(__file__).resolve().parent.parent
PHOTO = 1 << 20
POLL = 0.01
SAMPLE_TIMEOUT = 60.0  # one photo not on the server by then: the scenario fails
GAP = 0.3  # quiet time after a pass before the next photo
IDLE_READING = 1.0  # seconds idle after the first pass before its RSS is read


@dataclass
class Sample:
    latency: float  # rename -> the stand-in stored the asset (its clock)
    seen: float  # rename -> the bench's poll saw it
    first_request: float  # rename -> the uploading pass's first request reached the stand-in
    pass_started: float  # rename -> the pass's row in the state (after the handshake)
    check: float  # rename -> its bulk-upload-check arrived
    upload: float  # rename -> its POST /assets arrived
    pass_finished: float  # rename -> the pass's row was closed
    passes: int  # passes the daemon ran for this photo (2+: it was held back at first)
    requests: list[str]  # method and path of the requests it caused, in order
    cpu_s: float  # the daemon's CPU time from the rename to the end of its pass
    server_cpu_s: float
    rss_mb: float  # the daemon's RSS after the pass


@dataclass
class DaemonRun:
    label: str
    files: int  # files in the watched tree before the first photo
    trigger_delay: float
    ready_s: float  # start -> first pass done and idle (adopting the tree)
    samples: list[Sample] = field(default_factory=list)
    rss_mb: float = 0.0  # VmRSS at the end
    first_pass_rss_mb: float = 0.0  # VmRSS a second after the first pass, idle
    hwm_mb: float = 0.0  # VmHWM: the peak, the first pass included
    idle_cpu_s: float = 0.0  # CPU over an idle second after the samples
    exit_code: int | None = None
    server: Server | None = None  # the stand-in, stopped: its stats
    start_passes: int = 0  # passes until first idle (2+: it held back files at start)
    held_lines: int = 0  # "N files still being written" lines in the daemon's log

    def summary(self) -> dict[str, Any]:
        """What the bench keeps in ``values`` besides the latency figures."""
        lat = [s.latency for s in self.samples]
        return {
            "files_watched": self.files,
            "trigger_delay_s": self.trigger_delay,
            "photos": len(lat),
            "latency_s": {"min": round(min(lat), 4), "median": round(statistics.median(lat), 4),
                          "max": round(max(lat), 4)},
            "where the median goes (s)": self.breakdown(),
            "first pass until idle_s": round(self.ready_s, 2),
            "passes until first idle": self.start_passes,
            "'still being written' log lines": self.held_lines,
            "rss_mb after the first pass (idle)": round(self.first_pass_rss_mb, 1),
            "rss_mb": round(self.rss_mb, 1),
            "peak_rss_mb (first pass included)": round(self.hwm_mb, 1),
            "idle cpu_s per s": round(self.idle_cpu_s, 3),
            "exit code on SIGTERM": self.exit_code,
        }

    def breakdown(self) -> dict[str, Any]:
        """Medians of each phase, in seconds from the rename (and its length)."""
        def med(f: Callable[[Sample], float]) -> float:
            return round(statistics.median(f(s) for s in self.samples), 4)

        return {
            "rename -> first request of the pass (debounce + pass set-up)":
                med(lambda s: s.first_request),
            "first request -> pass started (handshake)":
                med(lambda s: s.pass_started - s.first_request),
            "pass started -> bulk check (list, hold check, status, hash)":
                med(lambda s: s.check - s.pass_started),
            "bulk check -> upload request": med(lambda s: s.upload - s.check),
            "upload request -> stored": med(lambda s: s.latency - s.upload),
            "stored -> pass finished": med(lambda s: s.pass_finished - s.latency),
            "passes per photo": max(s.passes for s in self.samples),
            "requests per photo": self.samples[len(self.samples) // 2].requests,
        }


def _proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            key, _, rest = line.partition(b":")
            if key in (b"VmRSS", b"VmHWM"):
                out[key.decode()] = int(rest.split()[0]) / 1024
    return out


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Daemon:
    """``immich-backupd run`` and what it shows of itself: live.json and the state."""

    def __init__(self, cfg: Path, state_dir: Path, log: Path) -> None:
        self.state_dir = state_dir
        self.log = log
        env = python_env() | {"LC_ALL": "C", "LANGUAGE": ""}
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "DBUS_SESSION_BUS_ADDRESS",
                  "IMMICH_API_KEY"):
            env.pop(k, None)
        self._err = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "immich_backupd", "--config", str(cfg), "run"],
            stdout=subprocess.DEVNULL, stderr=self._err, stdin=subprocess.DEVNULL, env=env,
            cwd=REPO)
        self._db: sqlite3.Connection | None = None

    def tail(self, chars: int | None = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars if chars else 0:]
        except OSError:
            return ""

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited {self.proc.returncode}: {self.tail()}")

    def live(self) -> dict[str, Any]:
        try:
            return json.loads((self.state_dir / "live.json").read_text())
        except (OSError, ValueError):
            return {}

    def db(self) -> sqlite3.Connection | None:
        if self._db is None and (self.state_dir / "state.sqlite3").exists():
            self._db = sqlite3.connect(f"file:{self.state_dir / 'state.sqlite3'}?mode=ro",
                                       uri=True, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=5000")
        return self._db

    def passes(self) -> list[tuple[int, float, float | None, str]]:
        """(id, started_at, finished_at, outcome) of every pass, oldest first."""
        db = self.db()
        if db is None:
            return []
        try:
            return db.execute("SELECT id, started_at, finished_at, outcome FROM passes "
                              "ORDER BY id").fetchall()
        except sqlite3.Error:
            return []

    def backed_up(self) -> int:
        db = self.db()
        if db is None:
            return 0
        try:
            return db.execute("SELECT count(*) FROM files WHERE status IN "
                              "('uploaded', 'duplicate')").fetchone()[0]
        except sqlite3.Error:
            return 0

    def idle(self, backed_up: int, passes_done: int) -> bool:
        """The daemon is idle with nothing queued or held, ``passes_done`` passes ended
        and ``backed_up`` files on the server by its state."""
        live = self.live()
        if live.get("state") != "idle" or live.get("queued") or live.get("held"):
            return False
        passes = self.passes()
        if len(passes) < passes_done or any(p[3] == "running" for p in passes):
            return False
        return self.backed_up() >= backed_up

    def wait_idle(self, backed_up: int, passes_done: int, timeout: float,
                  what: str) -> None:
        deadline = time.monotonic() + timeout
        while not self.idle(backed_up, passes_done):
            self.alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}: live {self.live()}, "
                                   f"{self.backed_up()} backed up; {self.tail()}")
            time.sleep(0.1)

    def stop(self) -> int:
        if self._db is not None:
            self._db.close()
            self._db = None
        code = terminate(self.proc, 60)
        self._err.close()
        return code


def _photo(block: bytes, tag: str, rng: random.Random) -> bytes:
    """~1 MB (±10 %) behind a JPEG magic number, of content no other photo has."""
    length = PHOTO + rng.randint(-PHOTO // 10, PHOTO // 10)
    head = JPEG + f"{tag}-{time.time_ns()}-{rng.getrandbits(64):x}-".encode()
    return head + block[len(head):length]


def run_daemon(
    work: Path,
    server: Callable[[str, Path | None], Server],
    *,
    label: str,
    files: int,
    repeat: int,
    trigger_delay: float,
    log: Callable[[str], None] = print,
) -> DaemonRun:
    """Start a stand-in (``server(tag, seed)``) holding ``files`` tiny photos and a
    daemon watching them; drop ``repeat`` new photos into the watched tree, one at a
    time, and time each until the stand-in has it. Stop the daemon with SIGTERM."""
    root = work / f"daemon-{label}"
    staging = work / f"daemon-{label}-staging"  # same file system, outside the watch
    state = work / f"state-daemon-{label}"
    seed: Path | None = None
    root.mkdir(parents=True)
    staging.mkdir()
    if files:
        t = time.perf_counter()
        tree = tiny_tree(root, files, tag=f"daemon-{label}")
        os.sync()
        seed = work / f"seed-daemon-{label}.bin"
        write_seed(seed, tree.sha1s)
        log(f"  made {files:,} files in {time.perf_counter() - t:.1f} s")
    # Where the photos land: an empty folder of its own for each (made before the daemon
    # starts, so it is watched), the same in both trees; see _one for why not one folder.
    incoming = [root / "new" / f"p{i:03d}" for i in range(repeat)]
    for folder in incoming:
        folder.mkdir(parents=True)
    rng = random.Random(6)
    block = rng.randbytes(PHOTO + PHOTO // 10)
    run = DaemonRun(label, files, trigger_delay, 0.0)
    try:
        with server(f"daemon-{label}", seed) as srv:
            run.server = srv
            cfg = write_config(work / f"daemon-{label}.yaml", srv.url, srv.api_key, state, root,
                               backup={"trigger_delay": f"{round(trigger_delay * 1000)}ms"},
                               log_level="info")
            started = time.monotonic()
            daemon = _Daemon(cfg, state, work / f"daemon-{label}.log")
            try:
                daemon.wait_idle(files, 1, 900 + files / 100, "the first pass")
                run.ready_s = time.monotonic() - started
                run.start_passes = len(daemon.passes())
                time.sleep(IDLE_READING)
                run.first_pass_rss_mb = _proc_status(daemon.proc.pid).get("VmRSS", 0.0)
                log(f"  daemon {label}: first pass done and idle after {run.ready_s:.1f} s, "
                    f"rss {run.first_pass_rss_mb:.1f} MB")
                n_req = len(srv.requests())
                for i in range(repeat):
                    s, n_req = _one(srv, daemon, staging, incoming[i], block, rng, label, i,
                                    files + i + 1, n_req)
                    run.samples.append(s)
                    log(f"  {label} #{i + 1:2d}: {s.latency:.3f} s (pass's first request "
                        f"at {s.first_request:.3f}, upload at {s.upload:.3f}; "
                        f"{s.passes} pass{'es' if s.passes != 1 else ''})")
                pid = daemon.proc.pid
                cpu0 = _cpu(pid)
                time.sleep(1.0)
                run.idle_cpu_s = _cpu(pid) - cpu0
                mem = _proc_status(pid)
                run.rss_mb, run.hwm_mb = mem.get("VmRSS", 0.0), mem.get("VmHWM", 0.0)
            finally:
                run.exit_code = daemon.stop()
                run.held_lines = daemon.tail(None).count("still being written")
            assets, _ = srv.assets()
        if assets != files + repeat:
            raise RuntimeError(f"the stand-in holds {assets} assets, expected "
                               f"{files + repeat}")
        if run.exit_code != 0:
            raise RuntimeError(f"the daemon exited {run.exit_code} on SIGTERM: "
                               f"{daemon.tail()}")
    finally:
        for p in (root, staging, state):
            shutil.rmtree(p, ignore_errors=True)
        if seed is not None:
            seed.unlink(missing_ok=True)
    return run


def _one(srv: Server, daemon: _Daemon, staging: Path, incoming: Path, block: bytes,
         rng: random.Random, label: str, i: int, expect: int, n_req: int
         ) -> tuple[Sample, int]:
    """One photo into ``incoming``, an empty folder: a pass lists the folder of a new file,
    and the daemon holds back every *other* file there it has no event for (its first
    ``stat`` counts as a change), which sets off a pass a second that never ends while the
    folder holds two files (each pass holds the one the previous pass let go). A folder
    per photo keeps that out of the figures (which it would otherwise disturb: a pass is
    running when the next photo comes). Holding that does happen shows in ``passes`` and
    in the count of the log's "still being written" lines (``held_lines``)."""
    name = f"IMG_{label}_{i:03d}.jpg"
    tmp = staging / name
    tmp.write_bytes(_photo(block, label, rng))
    passes0 = len(daemon.passes())
    count0, _ = srv.assets()
    pid = daemon.proc.pid
    cpu0, srv_cpu0 = _cpu(pid), srv.cpu_seconds()
    wall0, t0 = time.time(), time.monotonic()
    os.rename(tmp, incoming / name)
    while True:
        count, stored_at = srv.assets()
        if count > count0:
            seen = time.monotonic() - t0
            break
        daemon.alive()
        if time.monotonic() - t0 > SAMPLE_TIMEOUT:
            raise RuntimeError(f"{name} not on the stand-in after {SAMPLE_TIMEOUT:.0f} s: "
                               f"{daemon.tail()}")
        time.sleep(POLL)
    if count != count0 + 1 or count != expect:
        raise RuntimeError(f"the stand-in went from {count0} to {count} assets for one photo")
    daemon.wait_idle(0, passes0 + 1, SAMPLE_TIMEOUT, f"the pass of {name} to end")
    cpu, srv_cpu = _cpu(pid) - cpu0, srv.cpu_seconds() - srv_cpu0
    rss = _proc_status(pid).get("VmRSS", float("nan"))
    new_passes = daemon.passes()[passes0:]
    # The pass that uploaded it: the last one that started before the asset was stored.
    stored_wall = wall0 + (stored_at - t0)
    mine = [p for p in new_passes if p[1] <= stored_wall] or new_passes
    _, p_start, p_end, _ = mine[-1]
    reqs = srv.requests(n_req)
    n_req += len(reqs)
    after = [r for r in reqs if r[3] >= t0]
    last_pass_reqs = after
    # The requests of the uploading pass: from its handshake (the last GET of the server
    # version before the upload) on.
    version_at = [k for k, r in enumerate(after) if r[1].endswith("/server/version")
                  and r[3] <= stored_at]
    if version_at:
        last_pass_reqs = after[version_at[-1]:]

    def first(pred: Callable[[str, str], bool]) -> float:
        for method, path, _status, at in last_pass_reqs:
            if pred(method, path):
                return at - t0
        return float("nan")

    sample = Sample(
        latency=stored_at - t0,
        seen=seen,
        first_request=last_pass_reqs[0][3] - t0 if last_pass_reqs else float("nan"),
        pass_started=p_start - wall0,
        check=first(lambda m, p: p.endswith("/assets/bulk-upload-check")),
        upload=first(lambda m, p: m == "POST" and p.endswith("/assets")),
        pass_finished=(p_end or float("nan")) - wall0,
        passes=len(new_passes),
        requests=[f"{r[0]} {r[1]}" for r in after],
        cpu_s=cpu,
        server_cpu_s=srv_cpu,
        rss_mb=rss,
    )
    time.sleep(GAP)
    return sample, n_req
