"""``make bench`` / ``make bench-full``: immich-backupd against its baselines, in one run.

Every target of issue #5 is a ratio of two figures measured in this same invocation on
this same machine: ``immich-backupd once`` against a bare ``os.scandir`` walk, a bare
aiohttp upload, and the official ``@immich/cli``, all against the in-repo stand-in run
in its own process. Each figure is repeated (min / median / max are shown); ratios use
medians; runs of the contenders alternate so drift hits them alike.

    python -m bench [--full] [--repeat N] [--only NAMES] [--profile] [--keep]

Writes ``bench/results/latest.json`` (and prints the table). No figure here is asserted
by the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hashbench, latency, official_cli, verifybench
from .clientconfig import write_config
from .procs import Measured, byte_compile, python_env, run_measured
from .standin import Server
from .trees import Tree, mb_tree, sparse_video, tiny_tree, write_seed

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PY = sys.executable

DAEMON_RSS_LIMIT_MB = 60  # see Bench.daemon_rss

SCENARIOS = ("hash", "first", "adopt", "rescan", "bigfile", "scaling", "daemon", "verify",
             "import")


# -- figures ---------------------------------------------------------------------------
@dataclass
class Metric:
    unit: str
    samples: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def add(self, value: float, **extra: float) -> None:
        self.samples.append(value)
        for k, v in extra.items():
            self.extra.setdefault(k, []).append(v)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def summary(self) -> dict[str, Any]:
        s = self.samples
        out: dict[str, Any] = {"unit": self.unit, "samples": [round(x, 4) for x in s]}
        if s:
            out.update(min=round(min(s), 4), median=round(self.median, 4), max=round(max(s), 4))
        for k, v in self.extra.items():
            v = [x for x in v if x == x]  # drop NaN (a reading that could not be taken)
            if v:
                out[k] = {"min": round(min(v), 2), "median": round(statistics.median(v), 2),
                          "max": round(max(v), 2)}
        return out


@dataclass
class Ratio:
    target: str
    name: str
    num: str
    den: str
    limit: float | None  # None: reported, no target; else num/den must be <= limit
    at_least: bool = False  # the target is a floor (>= limit) instead
    note: str = ""


class Results:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.metrics: dict[str, Metric] = {}
        self.ratios: list[Ratio] = []
        self.values: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.notes: list[str] = []
        self.server: dict[str, Any] = {}
        self.started = time.time()

    def metric(self, name: str, unit: str = "s") -> Metric:
        return self.metrics.setdefault(name, Metric(unit))

    def ratio_value(self, r: Ratio) -> float | None:
        a, b = self.metrics.get(r.num), self.metrics.get(r.den)
        if a is None or b is None or not a.samples or not b.samples or not b.median:
            return None
        return a.median / b.median

    def to_json(self) -> dict[str, Any]:
        ratios = []
        for r in self.ratios:
            v = self.ratio_value(r)
            ok = None
            if v is not None and r.limit is not None:
                ok = v >= r.limit if r.at_least else v <= r.limit
            ratios.append({"target": r.target, "name": r.name, "numerator": r.num,
                           "denominator": r.den, "value": None if v is None else round(v, 4),
                           "limit": r.limit, "at_least": r.at_least, "met": ok,
                           "note": r.note})
        return {
            "mode": self.mode,
            "started_at": self.started,
            "duration_s": round(time.time() - self.started, 1),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(),
                        "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                           * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
            "metrics": {k: m.summary() for k, m in self.metrics.items()},
            "ratios": ratios,
            "values": self.values,
            "skipped": self.skipped,
            "server": self.server,
            "notes": self.notes,
        }


# -- runners ---------------------------------------------------------------------------
def state_pass(state_dir: Path) -> dict[str, Any]:
    """The last pass's row and the file counts, read from the state after a run."""
    db = state_dir / "state.sqlite3"
    if not db.exists():
        return {}
    con = sqlite3.connect(db)
    try:
        row = con.execute("SELECT seen, hashed, uploaded, duplicates, failed, outcome "
                          "FROM passes ORDER BY id DESC LIMIT 1").fetchone()
        files = con.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        con.close()
    keys = ("seen", "hashed", "uploaded", "duplicates", "failed", "outcome")
    return dict(zip(keys, row, strict=True)) | {"files": files} if row else {"files": files}


def db_sizes(state_dir: Path, n: int) -> dict[str, Any]:
    """The state database's size per file: the main file, and with its WAL (which SQLite
    leaves at its high-water mark after the pass)."""
    main = state_dir / "state.sqlite3"
    wal = state_dir / "state.sqlite3-wal"
    db = main.stat().st_size if main.exists() else 0
    w = wal.stat().st_size if wal.exists() else 0
    out: dict[str, Any] = {"db_bytes": db, "wal_bytes": w,
                           "bytes_per_file": round(db / n, 1),
                           "with_wal_per_file": round((db + w) / n, 1)}
    try:
        con = sqlite3.connect(main)
        try:
            rows = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        finally:
            con.close()
        out["per_file_by_table_or_index"] = {
            name: round(size / n, 1) for name, size in sorted(rows, key=lambda r: -r[1])
            if size / n >= 1}
    except sqlite3.Error:
        pass  # no dbstat in this SQLite build
    return out


def settle(root: Path) -> None:
    """Make the freshly written tree look like a library: its files an hour old (a pass
    waits for files modified within ``backup.settle_time``, 30 s by default, as still
    being written, and a real library's photos are old), and flushed to disk before any
    timed run, so that no contender pays for the kernel's write-back of it (it stays in
    the page cache: every contender reads from memory, as on a machine that has read the
    tree before)."""
    old = time.time() - 3600
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (old, old))
    os.sync()


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.res = Results("full" if args.full else "quick")
        self.repeat = args.repeat
        self.cli_ok, self.cli_why = official_cli.available()
        if not self.cli_ok:
            self.res.skipped["cli"] = self.cli_why
        else:
            self.res.values["cli"] = self.cli_why
        self.pyspy = shutil.which("py-spy") or (
            str(Path(PY).parent / "py-spy") if (Path(PY).parent / "py-spy").exists() else None)
        self.profiles = HERE / ".cache" / "profiles"
        if args.profile and self.pyspy is None:
            self.res.skipped["profile"] = "py-spy is not installed (pip install py-spy)"
        self._runs = 0

    # .. helpers
    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def _profiling(self, tag: str) -> list[str]:
        if not (self.args.profile and self.pyspy):
            return []
        self.profiles.mkdir(parents=True, exist_ok=True)
        return [self.pyspy, "record", "-r", "250", "--format", "raw", "-o",
                str(self.profiles / f"{tag}.txt"), "--nonblocking"]

    def once(self, cfg: Path, tag: str, profile: bool = False) -> Measured:
        self._runs += 1
        cmd = [PY, "-m", "immich_backupd", "--config", str(cfg), "once"]
        prof = self._profiling(f"once-{tag}") if profile else []
        m = run_measured([*prof, "--", *cmd] if prof else cmd, env=python_env(), cwd=REPO,
                         log=self.work / f"once-{tag}-{self._runs}.log")
        if m.returncode != 0:
            raise RuntimeError(f"once ({tag}) exited {m.returncode}: {m.stderr_tail[-800:]}")
        return m

    def cli(self, srv: Server, root: Path, tag: str) -> Measured:
        self._runs += 1
        m = run_measured(official_cli.command(root),
                         env=official_cli.env(srv.url, srv.api_key, self.work / "cli-home"),
                         log=self.work / f"cli-{tag}-{self._runs}.log")
        if m.returncode != 0:
            raise RuntimeError(f"@immich/cli ({tag}) exited {m.returncode}: "
                               f"{m.stderr_tail[-800:]}")
        return m

    def server(self, tag: str, seed: Path | None = None, profile: bool = False) -> Server:
        prof = self._profiling(f"standin-{tag}")
        return Server(self.work / f"srv-{tag}", seed,
                      profiler=[*prof, "--pid"] if (prof and profile) else None)

    def check_server(self, srv: Server, tag: str, expect_assets: int | None) -> None:
        stats = srv.stats
        entry = self.res.server.setdefault(tag, {"violations": [], "internal_errors": []})
        for k in ("violations", "internal_errors", "unknown_fields"):
            for v in stats.get(k, []) or []:
                if v not in entry.setdefault(k, []):
                    entry[k].append(v)
        if expect_assets is not None and stats.get("assets") != expect_assets:
            entry.setdefault("asset_mismatch", []).append(
                f"expected {expect_assets} assets, server has {stats.get('assets')}")

    def timed(self, name: str, m: Measured, srv_cpu: float | None = None, **extra: float
              ) -> None:
        kw: dict[str, float] = {"rss_mb": m.rss_mb, "cpu_s": m.cpu_s, **extra}
        if srv_cpu is not None:
            kw["server_cpu_s"] = srv_cpu
        self.res.metric(name).add(m.seconds, **kw)

    def bare_walk(self, root: Path) -> Measured:
        m = run_measured([PY, str(HERE / "bare_walk.py"), str(root)])
        if m.returncode != 0:
            raise RuntimeError(f"bare walk failed: {m.stderr_tail}")
        return m

    # .. target 4
    def scenario_hash(self) -> None:
        size = (1 << 30) if self.args.full else (256 << 20)
        self.log(f"hashing: {size >> 20} MiB file, {self.repeat + 2} rounds")
        path = hashbench.make_file(self.work / "hash.bin", size)
        speeds = hashbench.run(path, self.repeat + 2)
        path.unlink()
        for name, samples in speeds.items():
            m = self.res.metric(f"hash: {name}", "GB/s")
            for s in samples:
                m.add(s)
        self.res.ratios.append(Ratio("4", "SHA-1+BLAKE3 one pass / SHA-1 alone (throughput)",
                                     "hash: sha1+blake3 (engine hash_file)", "hash: sha1",
                                     0.85, at_least=True))

    # .. target 2
    def scenario_first(self) -> None:
        n = 1000
        root = self.work / "first"
        tree = mb_tree(root, n)
        settle(root)
        self.res.values["first.tree"] = {"files": n, "bytes": tree.bytes}
        self.log(f"first backup: {n} files, {tree.bytes / 1e6:.0f} MB; "
                 f"{self.repeat} rounds of once / bare upload"
                 + (" / @immich/cli" if self.cli_ok else ""))
        contenders: list[str] = ["once", "bare"] + (["cli"] if self.cli_ok else [])
        for r in range(self.repeat):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for who in order:
                with self.server(f"first-{who}", profile=(r == 0 and who == "once")) as srv:
                    cpu0 = srv.cpu_seconds()
                    if who == "once":
                        state = self.work / f"state-first-{r}"
                        cfg = write_config(self.work / "first.yaml", srv.url, srv.api_key,
                                           state, root)
                        m = self.once(cfg, "first", profile=(r == 0))
                        self.res.values["first.once.pass"] = state_pass(state)
                        shutil.rmtree(state)
                    elif who == "bare":
                        # "--": a key that starts with "-" is not an option.
                        m = run_measured([PY, "-m", "bench.bare_upload", "--concurrency", "2",
                                          "--", srv.url, srv.api_key, str(root)], cwd=REPO)
                        if m.returncode != 0:
                            raise RuntimeError(f"bare upload failed: {m.stdout} "
                                               f"{m.stderr_tail}")
                    else:
                        m = self.cli(srv, root, "first")
                    srv_cpu = srv.cpu_seconds() - cpu0
                self.check_server(srv, f"first-{who}", n)
                self.timed(f"first: {who}", m, srv_cpu, MB_per_s=tree.bytes / m.seconds / 1e6)
                self.log(f"  {who:5s} {m.seconds:7.2f} s  rss {m.rss_mb:6.1f} MB  "
                         f"server cpu {srv_cpu:5.2f} s")
        self.res.ratios.append(Ratio("2", "first backup: once / bare aiohttp upload",
                                     "first: once", "first: bare", 1.5))
        self.res.ratios.append(Ratio("2", "first backup: once / @immich/cli", "first: once",
                                     "first: cli", 0.35))
        shutil.rmtree(root)

    # .. targets 3 and 1 (and the 100k point of 7)
    def _tiny(self, n: int) -> tuple[Tree, Path]:
        root = self.work / f"tiny-{n}"
        t = time.perf_counter()
        tree = tiny_tree(root, n, tag=f"n{n}")
        settle(root)
        seed = self.work / f"seed-{n}.bin"
        write_seed(seed, tree.sha1s)
        self.log(f"  made {n:,} files in {time.perf_counter() - t:.1f} s")
        return tree, seed

    def adopt_and_rescan(self, n: int, *, adopt_runs: int, rescan_runs: int,
                         with_cli: bool, profile: bool = False) -> None:
        tree, seed = self._tiny(n)
        label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
        contenders = ["once"] + (["cli"] if with_cli and self.cli_ok else [])
        state = self.work / f"state-{label}"
        for r in range(adopt_runs):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for who in order:
                prof = profile and r == 0 and who == "once"
                with self.server(f"adopt-{label}-{who}", seed, profile=prof) as srv:
                    cpu0 = srv.cpu_seconds()
                    if who == "once":
                        shutil.rmtree(state, ignore_errors=True)
                        cfg = write_config(self.work / f"adopt-{label}.yaml", srv.url,
                                           srv.api_key, state, tree.root)
                        m = self.once(cfg, f"adopt-{label}", profile=prof)
                        self.res.values[f"adopt {label}: once pass"] = state_pass(state)
                    else:
                        m = self.cli(srv, tree.root, f"adopt-{label}")
                    srv_cpu = srv.cpu_seconds() - cpu0
                self.check_server(srv, f"adopt-{label}-{who}", n)
                uploads = srv.stats.get("counters", {}).get("upload_requests")
                if uploads:
                    self.res.notes.append(f"adopt {label} ({who}): {uploads} uploads sent for "
                                          "content the server already had")
                self.timed(f"adopt {label}: {who}", m, srv_cpu)
                self.log(f"  adopt {label} {who:4s} {m.seconds:7.2f} s  rss {m.rss_mb:6.1f} MB"
                         f"  cpu {m.cpu_s:6.2f} s  server cpu {srv_cpu:5.2f} s")
        self.res.values[f"state db {label}"] = db_sizes(state, n)
        # the unchanged rescan: same state, same server content
        with self.server(f"rescan-{label}", seed, profile=profile) as srv:
            cfg = write_config(self.work / f"rescan-{label}.yaml", srv.url, srv.api_key, state,
                               tree.root)
            for r in range(rescan_runs):
                for who in (("once", "walk") if r % 2 == 0 else ("walk", "once")):
                    if who == "once":
                        m = self.once(cfg, f"rescan-{label}", profile=profile and r == 0)
                        p = state_pass(state)
                        if p.get("hashed") or p.get("uploaded"):
                            self.res.notes.append(f"rescan {label}: the unchanged pass hashed "
                                                  f"{p.get('hashed')} files")
                    else:
                        m = self.bare_walk(tree.root)
                    self.timed(f"rescan {label}: {who}", m)
            self.log(f"  rescan {label}: once {self.res.metric(f'rescan {label}: once').median:.2f}"
                     f" s, bare walk {self.res.metric(f'rescan {label}: walk').median:.3f} s")
        self.check_server(srv, f"rescan-{label}", n)
        shutil.rmtree(tree.root)
        shutil.rmtree(state)
        seed.unlink()

    def scenario_adopt(self) -> None:
        n = 100_000
        self.log(f"adopt + unchanged rescan: {n:,} tiny files the server already has")
        self.adopt_and_rescan(n, adopt_runs=self.args.slow_repeat,
                              rescan_runs=self.repeat + 2, with_cli=True,
                              profile=self.args.profile)
        rs = self.res.ratios
        rs.append(Ratio("1", "unchanged rescan 100k: once / bare scandir+stat walk",
                        "rescan 100k: once", "rescan 100k: walk", 3.0))
        rs.append(Ratio("1", "unchanged rescan 100k: once / @immich/cli", "rescan 100k: once",
                        "adopt 100k: cli", 0.05,
                        note="the CLI keeps no state: its run on an unchanged tree is the "
                             "same as its adopt run (it re-hashes everything)"))
        rs.append(Ratio("3", "adopt 100k (none known locally): once / @immich/cli",
                        "adopt 100k: once", "adopt 100k: cli", 0.25))

    def scenario_rescan(self) -> None:
        pass  # measured with adopt (it needs the adopted state)

    # .. target 5b
    def scenario_bigfile(self) -> None:
        size = 4 << 30
        root = self.work / "big"
        sparse_video(root, size)
        settle(root)
        self.log(f"big file: one {size >> 30} GiB sparse video; RSS above idle")
        with self.server("bigfile") as srv:
            state = self.work / "state-big"
            cfg = write_config(self.work / "big.yaml", srv.url, srv.api_key, state, root)
            cpu0 = srv.cpu_seconds()
            m = self.once(cfg, "bigfile")
            srv_cpu = srv.cpu_seconds() - cpu0
            idle = [self.once(cfg, "bigfile-idle") for _ in range(self.repeat)]
        self.check_server(srv, "bigfile", 1)
        self.timed("bigfile 4GiB: once upload", m, srv_cpu, MB_per_s=size / m.seconds / 1e6)
        for i in idle:
            self.timed("bigfile: once idle (nothing to do)", i)
        idle_rss = statistics.median(i.rss_mb for i in idle)
        self.res.values["bigfile rss above idle MB"] = round(m.rss_mb - idle_rss, 1)
        self.log(f"  upload {m.seconds:.1f} s, rss {m.rss_mb:.1f} MB, idle rss {idle_rss:.1f}"
                 f" MB, server cpu {srv_cpu:.1f} s")
        shutil.rmtree(root)
        shutil.rmtree(state)

    # .. target 7 (and 5a at 1M)
    def scenario_scaling(self) -> None:
        sizes = [10_000] + ([1_000_000] if self.args.full else [])
        for n in sizes:
            self.log(f"scaling: {n:,} files")
            self.adopt_and_rescan(n, adopt_runs=1 if n >= 1_000_000 else self.args.slow_repeat,
                                  rescan_runs=self.repeat, with_cli=False)

    # .. issue 15: asking the server again about every known file
    def scenario_verify(self) -> None:
        """`verify` of a state of 100,000 known files (1M with --full) against a server
        that lacks 1 % of them (bench/verifybench.py)."""
        n = 1_000_000 if self.args.full else 100_000
        label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
        self.log(f"verify: {n:,} known files, 1 % deleted on the server")
        for tag, m in verifybench.run(self.work, n, runs=self.repeat + 1):
            self.timed(f"verify {label}: {tag}", m)
            self.log(f"  verify {label} {tag:5s} {m.seconds:7.2f} s  rss {m.rss_mb:6.1f} MB"
                     f"  cpu {m.cpu_s:6.2f} s")

    def scenario_import(self) -> None:
        """Bulk-import mode: a first backup of small files to a server whose job queues
        cost CPU for each new asset (the stand-in's model, immich_standin/jobs.py: 4 ms
        per job, two jobs per photo, two workers), with the queues running and with
        server.pause_jobs_during_import (paused for the pass, resumed after)."""
        n, job = 600, 0.004
        tree, _ = self._tiny(n)
        self.log(f"import: {n} files, server jobs {job * 1000:.0f} ms each; queues running "
                 "/ paused")
        for r in range(self.repeat):
            for mode in (("running", "paused") if r % 2 == 0 else ("paused", "running")):
                with Server(self.work / f"srv-import-{mode}", job_seconds=job) as srv:
                    state = self.work / f"state-import-{mode}-{r}"
                    cfg = write_config(self.work / "import.yaml", srv.url, srv.api_key,
                                       state, tree.root)
                    if mode == "paused":
                        data = json.loads(cfg.read_text())
                        data["server"].update(pause_jobs_during_import=True,
                                              pause_jobs_threshold=100)
                        cfg.write_text(json.dumps(data))
                    m = self.once(cfg, f"import-{mode}")
                    shutil.rmtree(state)
                self.check_server(srv, f"import-{mode}", n)
                self.timed(f"import: {mode}", m, files_per_s=n / m.seconds)
                self.log(f"  {mode:8s} {m.seconds:7.2f} s  {n / m.seconds:6.0f} files/s")
        self.res.ratios.append(Ratio(
            "19", "import with the server's queues paused / running (modelled job cost)",
            "import: paused", "import: running", 1.0,
            note="the stand-in's model; a real v3.1.0 server on 2 cores: 3.3 s / 9.3 s"))
        shutil.rmtree(tree.root)

    # .. target 6
    def scenario_daemon(self) -> None:
        """`run` as a real process: 20 new ~1 MB photos, one at a time, each timed from
        its rename into the watched tree until the stand-in stores it (bench/latency.py).
        Then again with 100,000 files watched, and with a trigger_delay below the
        daemon's 1 s settle period (where that period, not the delay, sets the time)."""
        photos, delay = 20, 1.0
        self.log(f"daemon latency: {photos} photos of ~1 MB, trigger_delay {delay:g} s; "
                 "small tree, 100,000 files watched, and trigger_delay 0.5 s")
        after_first: dict[str, float] = {}
        for name, tag, files, td in (("small tree", "small", 0, delay),
                                     ("100k watched", "100k", 100_000, delay),
                                     ("small, delay 0.5 s", "small-td05", 0, 0.5)):
            run = latency.run_daemon(self.work, self.server, label=tag, files=files,
                                     repeat=photos, trigger_delay=td, log=self.log)
            after_first[tag] = run.first_pass_rss_mb
            m = self.res.metric(f"daemon latency: {name}")
            over = self.res.metric(f"daemon past delay: {name}")
            for s in run.samples:
                m.add(s.latency, rss_mb=s.rss_mb, cpu_s=s.cpu_s, server_cpu_s=s.server_cpu_s,
                      polled_s=s.seen)
                over.add(s.latency - td)
            self.res.metric(f"daemon limit: delay {td:g} s + 1 s").samples[:] = [td + 1]
            self.res.values[f"daemon {name}"] = run.summary()
            if run.server is not None:
                self.check_server(run.server, f"daemon-{tag}", files + photos)
            self.log(f"  {name}: median {m.median:.3f} s ({min(m.samples):.3f}-"
                     f"{max(m.samples):.3f}), rss {run.rss_mb:.1f} MB")
        self.daemon_rss(after_first["100k"], after_first["small"])
        rs, lim = self.res.ratios, f"daemon limit: delay {delay:g} s + 1 s"
        rs.append(Ratio("6", "daemon latency, small tree / (trigger_delay + 1 s)",
                        "daemon latency: small tree", lim, 1.0))
        rs.append(Ratio("6", "daemon latency, 100k watched / (trigger_delay + 1 s)",
                        "daemon latency: 100k watched", lim, 1.0))
        rs.append(Ratio("6", "daemon latency: 100k watched / small tree (flat)",
                        "daemon latency: 100k watched", "daemon latency: small tree", 1.25))
        rs.append(Ratio("6", "daemon past trigger_delay: 100k / small",
                        "daemon past delay: 100k watched", "daemon past delay: small tree", None,
                        note="the daemon's own work per photo; no target"))
        rs.append(Ratio("6", "daemon latency, delay 0.5 s / (trigger_delay + 1 s)",
                        "daemon latency: small, delay 0.5 s", "daemon limit: delay 0.5 s + 1 s",
                        1.0))

    def daemon_rss(self, full: float, idle: float) -> None:
        """The daemon's RSS once idle after its first pass of 100,000 files just
        written (held back by settle_time over several passes), above the same reading
        with an empty tree. The limit, +60 MB (0.6 KB a file): what an idle daemon
        keeps of the passes it has done should be the allocators' leftovers (+20 to
        +41 MB in seven runs once it collected after each pass: pymalloc arenas that a
        few small objects made during a pass, a timer or a timestamp, keep; more held
        passes, more of them), not the passes' objects (308 MB, about +260, in session
        9, when each pass's objects stayed)."""
        above = round(full - idle, 1)
        self.res.values["daemon rss after the first pass of 100k, above idle"] = {
            "MB": above, "100k MB": round(full, 1), "idle MB": round(idle, 1),
            "limit MB": DAEMON_RSS_LIMIT_MB, "met": above <= DAEMON_RSS_LIMIT_MB}
        self.log(f"  daemon rss after the first pass: 100k {full:.1f} MB, empty tree "
                 f"{idle:.1f} MB: +{above:.1f} MB (limit +{DAEMON_RSS_LIMIT_MB} MB)")


def scaling(res: Results) -> None:
    """Target 7: rescan time and RSS per size, and whether the cost grows linearly.

    Linear means the cost per *extra* file stays flat: (t(n2) - t(n1)) / (n2 - n1) for
    successive sizes; start-up is a constant and cancels out. ``growth`` compares the last
    step's per-file cost with the first's (1.0 = perfectly linear).
    """
    points = []
    for label, n in (("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000)):
        m = res.metrics.get(f"rescan {label}: once")
        if m is None or not m.samples:
            continue
        adopt = res.metrics.get(f"adopt {label}: once")
        points.append({
            "files": n, "rescan_s": round(m.median, 3),
            "rescan_rss_mb": round(statistics.median(m.extra["rss_mb"]), 1),
            "walk_s": round(res.metrics[f"rescan {label}: walk"].median, 3),
            "adopt_s": round(adopt.median, 2) if adopt and adopt.samples else None,
            "adopt_rss_mb": round(statistics.median(adopt.extra["rss_mb"]), 1)
            if adopt and adopt.samples else None,
        })
    steps = []
    for a, b in itertools.pairwise(points):
        steps.append(round((b["rescan_s"] - a["rescan_s"]) / (b["files"] - a["files"]) * 1e6,
                           2))
    out: dict[str, Any] = {"points": points, "rescan_us_per_extra_file": steps}
    if len(steps) >= 2 and steps[0] > 0:
        out["growth"] = round(steps[-1] / steps[0], 2)
    if points:
        res.values["scaling"] = out


# -- report ----------------------------------------------------------------------------
def fmt(x: float) -> str:
    if x != x:  # nan
        return "-"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def table(data: dict[str, Any]) -> str:
    lines = [f"immich-backupd bench ({data['mode']}), {data['machine']['cpus']} CPUs, "
             f"Python {data['machine']['python']}, {data['duration_s']} s", ""]
    lines.append(f"{'figure':44s} {'min':>8s} {'median':>8s} {'max':>8s}  unit  "
                 f"{'RSS MB':>7s} {'CPU s':>7s} {'srv CPU':>7s}")
    for name, m in data["metrics"].items():
        if not m["samples"]:
            continue
        rss = m.get("rss_mb", {}).get("median", float("nan"))
        cpu = m.get("cpu_s", {}).get("median", float("nan"))
        srv = m.get("server_cpu_s", {}).get("median", float("nan"))
        lines.append(f"{name:44s} {fmt(m['min']):>8s} {fmt(m['median']):>8s} "
                     f"{fmt(m['max']):>8s}  {m['unit']:4s}  {fmt(rss):>7s} {fmt(cpu):>7s} "
                     f"{fmt(srv):>7s}")
    lines += ["", f"{'target':6s} {'ratio (medians)':58s} {'value':>7s} {'limit':>8s}  met"]
    for r in data["ratios"]:
        v = "-" if r["value"] is None else f"{r['value']:.3f}"
        lim = "-" if r["limit"] is None else ("≥" if r["at_least"] else "≤") + f"{r['limit']}"
        met = {True: "yes", False: "NO", None: "n/a"}[r["met"]]
        lines.append(f"{r['target']:6s} {r['name']:58s} {v:>7s} {lim:>8s}  {met}")
    if data["values"]:
        lines += ["", "values:"]
        lines += [f"  {k}: {v}" for k, v in data["values"].items()]
    if data["skipped"]:
        lines += ["", "skipped:"]
        lines += [f"  {k}: {v}" for k, v in data["skipped"].items()]
    bad = {k: v for k, v in data["server"].items()
           if any(v.get(x) for x in ("violations", "internal_errors", "asset_mismatch"))}
    if bad:
        lines += ["", "stand-in findings (spec violations / errors / wrong asset counts):"]
        for k, v in bad.items():
            for x in ("violations", "internal_errors", "asset_mismatch", "unknown_fields"):
                for item in v.get(x, [])[:5]:
                    lines.append(f"  {k}: {x}: {item}")
    if data["notes"]:
        lines += ["", "notes:"] + [f"  {n}" for n in data["notes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="add the 1M-file runs (bench-full)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each quick figure")
    p.add_argument("--slow-repeat", type=int, default=3,
                   help="runs of each slow figure (adopting 100k files)")
    p.add_argument("--only", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--profile", action="store_true",
                   help="py-spy the first run of each scenario (client and stand-in) into "
                        "bench/.cache/profiles/")
    p.add_argument("--no-cli-setup", action="store_true", help="do not run setup_cli.sh")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the trees go (default: a temporary folder, deleted)")
    p.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = p.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if not args.no_cli_setup:
        official_cli.setup()
    byte_compile(REPO, ("immich_backupd", "immich_standin", "bench"))
    base = args.workdir or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="immich-backupd-bench-", dir=base))
    bench = Bench(args, work)
    failed = False
    try:
        for name in SCENARIOS:
            if name not in wanted:
                continue
            fn: Callable[[], None] = getattr(bench, f"scenario_{name}")
            try:
                fn()
            except Exception as exc:  # one broken scenario must not lose the others
                failed = True
                bench.res.skipped[name] = f"failed: {exc}"
                bench.log(f"scenario {name} FAILED: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "adopt" in wanted and not args.full:
        bench.res.notes.append("target 5 (1M-file scan RSS) and the 1M point of target 7 "
                               "run with `make bench-full`")
    if "daemon" not in wanted:
        bench.res.notes.append("target 6 (daemon latency) was not measured: --only daemon")
    if args.profile:
        bench.res.notes.append("--profile: the first run of each scenario ran under py-spy, so "
                               "its time includes the profiler and its RSS/CPU are py-spy's; "
                               "use a run without --profile for figures")
    scaling(bench.res)
    data = bench.res.to_json()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print()
    print(table(data))
    print(f"\nwritten to {args.out}")
    return 1 if failed else 0
