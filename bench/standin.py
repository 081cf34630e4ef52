"""The stand-in server for benchmarks: its own process (no GIL shared with the client),
optionally seeded with assets the server "already has".

``python -m bench.standin --ready-file F [--seed-file S] [--profile-out P]``: like
``python -m immich_standin``, plus ``--seed-file``, a file of raw 20-byte SHA-1s that are
put on the server as assets of the default user before it listens. ``Server`` below
starts it and stops it from the bench.

While it runs, a probe port (a thread of its own, on 127.0.0.1) answers cheap questions
without going through the API (so without the request log, the spec validation or the
event loop): how many assets it holds and when the last one was stored, and the requests
it has seen. Times are ``time.monotonic()``, which is one clock for every process of the
machine (Linux ``CLOCK_MONOTONIC``), so the bench can compare them with its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

from immich_backupd.pipeline.gctune import tune_gc

from .procs import terminate

REPO = Path(__file__).resolve().parent.parent


def _seed(core: object, seed_file: Path) -> int:
    from immich_standin.state import Asset, new_id, now_iso

    state = core.state  # type: ignore[attr-defined]
    user = core.user  # type: ignore[attr-defined]
    raw = seed_file.read_bytes()
    stamp = now_iso()
    n = 0
    for off in range(0, len(raw), 20):
        state.insert_asset_unless_duplicate(Asset(
            id=new_id(), owner_id=user.id, checksum=raw[off:off + 20],
            original_file_name=f"seed{n}.jpg", type="IMAGE", size=100,
            file_created_at=stamp, file_modified_at=stamp,
        ))
        n += 1
    return n


class _Probe(socketserver.StreamRequestHandler):
    """One line per question: ``assets`` -> ``COUNT LAST_STORED_AT``; ``requests N`` -> a
    JSON list of ``[method, path, status, arrived_at]`` of the requests from the N-th on."""

    core: object
    stored_at: list[float]

    def handle(self) -> None:
        state = self.core.state  # type: ignore[attr-defined]
        for line in self.rfile:
            cmd, _, arg = line.decode().strip().partition(" ")
            if cmd == "assets":
                out = f"{len(state.assets)} {self.stored_at[0]!r}"
            elif cmd == "requests":
                with state.lock:
                    reqs = state.requests[int(arg or 0):]
                out = json.dumps([[r.method, r.path, r.status, r.at] for r in reqs])
            else:
                out = "?"
            self.wfile.write(out.encode() + b"\n")


def _start_probe(core: object) -> socketserver.ThreadingTCPServer:
    """Serve :class:`_Probe` on a free port; track when each new asset is stored."""
    state = core.state  # type: ignore[attr-defined]
    stored_at = [0.0]
    insert = state.insert_asset_unless_duplicate

    def tracked(asset: object) -> tuple[object, bool]:
        out = insert(asset)
        if out[1]:
            stored_at[0] = time.monotonic()
        return out

    state.insert_asset_unless_duplicate = tracked
    handler = type("Probe", (_Probe,), {"core": core, "stored_at": stored_at})
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, name="probe", daemon=True).start()
    return srv


async def _serve(args: argparse.Namespace) -> None:
    from immich_standin.server import StandinCore

    core = StandinCore(version=args.version, host="127.0.0.1", port=0)
    # The server's background jobs per new asset (immich_standin/jobs.py): CPU seconds.
    core.state.jobs.job_seconds = args.job_seconds
    if args.seed_file is not None:
        _seed(core, args.seed_file)
    # The client's collector settings (gctune.py), for the same reason: the stand-in
    # keeps every asset (100,000 seeded when adopting) and every request it saw, and its
    # full collections walked them all again, ~4 % of its CPU in a first backup, on the
    # machine it shares with the client being measured.
    tune_gc()
    probe = _start_probe(core)
    await core.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    line = json.dumps({"url": core.url, "api_key": core.api_key, "version": core.version,
                       "probe_port": probe.server_address[1]})
    tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
    tmp.write_text(line + "\n")
    os.replace(tmp, args.ready_file)
    try:
        await stop.wait()
    finally:
        if args.stats_file is not None:
            st = core.state
            with st.lock:
                stats = {
                    "assets": len(st.assets),
                    "violations": list(st.violations[:20]),
                    "violation_count": len(st.violations),
                    "internal_errors": list(st.internal_errors[:20]),
                    "unknown_fields": sorted(set(st.unknown_fields))[:20],
                    "counters": dict(vars(st.counters)),
                    "requests": len(st.requests),
                }
            args.stats_file.write_text(json.dumps(stats))
        probe.shutdown()
        await core.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.standin")
    p.add_argument("--ready-file", type=Path, required=True)
    p.add_argument("--seed-file", type=Path)
    p.add_argument("--stats-file", type=Path)
    p.add_argument("--version", default="3.1.0")
    p.add_argument("--job-seconds", type=float, default=0.0)
    asyncio.run(_serve(p.parse_args(argv)))
    return 0


class Server:
    """A stand-in subprocess; ``with Server(tmp, seed) as srv: srv.url, srv.api_key``.

    ``profiler`` is an argv prefix (e.g. ``py-spy record -o OUT --pid``) that is run
    with the server's pid once it listens, and ends when the server ends.
    ``stats`` holds its counters and violations after ``stop()``. While it runs,
    ``assets()`` and ``requests()`` ask it what it holds (see the module's docstring).
    """

    def __init__(self, workdir: Path, seed_file: Path | None = None,
                 profiler: list[str] | None = None, job_seconds: float = 0.0) -> None:
        self.workdir = workdir
        self.job_seconds = job_seconds
        self.seed_file = seed_file
        self.profiler = profiler or []
        self.proc: subprocess.Popen[bytes] | None = None
        self._prof: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.api_key = ""
        self.stats: dict[str, object] = {}
        self._probe_port = 0
        self._probe_conn: socket.socket | None = None
        self._probe_file: BinaryIO | None = None

    def start(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "standin.ready"
        ready.unlink(missing_ok=True)
        self._stats_file = self.workdir / "standin.stats.json"
        self._stats_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "bench.standin",
               "--ready-file", str(ready), "--stats-file", str(self._stats_file)]
        if self.seed_file is not None:
            cmd += ["--seed-file", str(self.seed_file)]
        if self.job_seconds:
            cmd += ["--job-seconds", str(self.job_seconds)]
        self._log = open(self.workdir / "standin.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"stand-in did not start; see {self.workdir}/standin.log")
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        self.url, self.api_key = info["url"], info["api_key"]
        self._probe_port = info["probe_port"]
        if self.profiler:
            self._prof = subprocess.Popen([*self.profiler, str(self.proc.pid)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # let it attach
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc, 120)
        self.proc = None
        if self._probe_conn is not None:
            self._probe_conn.close()
            self._probe_conn = self._probe_file = None
        if self._prof is not None:
            try:
                self._prof.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._prof.terminate()
                self._prof.wait()
            self._prof = None
        self._log.close()
        try:
            self.stats = json.loads(self._stats_file.read_text())
        except (OSError, ValueError):
            self.stats = {}

    def _ask(self, question: str) -> str:
        if self._probe_conn is None:
            self._probe_conn = socket.create_connection(("127.0.0.1", self._probe_port))
            self._probe_conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._probe_file = self._probe_conn.makefile("rb")
        self._probe_conn.sendall(question.encode() + b"\n")
        assert self._probe_file is not None
        return self._probe_file.readline().decode()

    def assets(self) -> tuple[int, float]:
        """(assets held now, monotonic time the last new one was stored; 0.0: none yet)."""
        count, at = self._ask("assets").split()
        return int(count), float(at)

    def requests(self, since: int = 0) -> list[tuple[str, str, int | None, float]]:
        """The requests seen from the ``since``-th on: (method, path, status, arrived at)."""
        return [tuple(r) for r in json.loads(self._ask(f"requests {since}"))]  # type: ignore[misc]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        if self.proc is None:
            return 0.0
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    raise SystemExit(main())
