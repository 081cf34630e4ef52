"""The long reliability runs (``make soak``): bounded, and each ends with the verdict.

    python -m tests.reliability.soak [--minutes 20] [--out results.json] [--only NAME ...]

Runs, in order, each within its share of the time budget (a run stops starting new
rounds when its share is spent, and says how far it got):

- ``faults``   thousands of files through 30 % injected faults (500/502/503/504, 429 with
               Retry-After, connections dropped mid-body, answers lost after the upload
               was stored), latency on every request and a slow link;
- ``outage``   the server down for minutes in the middle of a pass (``--outage``);
- ``crash``    ``kill -9`` at least ``--kills`` times over a pass of thousands of files,
               restarting each time, with the kill points tabulated;
- ``diskfull`` the same with the state directory on a small tmpfs that fills up (root);
- ``relearn``  the state database deleted: a fresh state re-learns from the server;
- ``bigdir``   one folder of ``--big-folder`` tiny files.

Each ends with :func:`harness.verify_backup`: files lost 0, duplicate uploads 0, every
SHA-1 right, nothing marked uploaded that the server did not confirm, SQLite
``integrity_check`` ok, albums complete. The exit status is 0 only if every run held.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from immich_standin import StandinServer
from immich_standin.library import JPEG

from .harness import (
    CrashLog,
    Tree,
    crash_loop,
    integrity_check,
    make_tree,
    run_cli,
    server_albums,
    verify_backup,
    write_config,
)

ASSETS = "/api/assets"
FAST_RETRY = {"max_attempts": 12, "initial": "5ms", "max": "50ms"}


def add_folder(tree: Tree, name: str, files: int, seed: int) -> None:
    rng = random.Random(seed)
    folder = tree.root / "rounds" / name
    folder.mkdir(parents=True)
    sums = tree.albums.setdefault(name, set())
    for i in range(files):
        data = JPEG + rng.randbytes(rng.randint(300, 3000))
        path = folder / f"IMG_{i:05d}.jpg"
        path.write_bytes(data)
        tree.expected[path] = hashlib.sha1(data).hexdigest()
        sums.add(tree.expected[path])


def inject_mix(srv: StandinServer, rate: float) -> None:
    each = rate / 7
    f = srv.faults
    for status in (500, 502, 503, 504):
        f.fail("POST", ASSETS, status, times=None, rate=each)
    f.rate_limit("POST", ASSETS, retry_after=0.05, times=None, rate=each)
    f.drop("POST", ASSETS, after_bytes=700, times=None, rate=each)
    f.lose_answer("POST", ASSETS, times=None, rate=each)
    f.fail("POST", "/api/assets/bulk-upload-check", 503, times=None, rate=rate)
    f.fail("PUT", "/api/albums/*/assets", 502, times=None, rate=rate)
    f.fail("POST", "/api/albums", 500, times=None, rate=rate)
    f.latency(None, "/api/*", 0.003, times=None)
    f.throttle("POST", ASSETS, bytes_per_second=2_000_000, times=None)


def verdict_dict(v: Any) -> dict[str, Any]:
    return {"files": v.files, "lost": v.lost, "duplicate_uploads": v.duplicates,
            "wrong_sha1": v.wrong_sha1, "unconfirmed_records": v.unconfirmed,
            "integrity_check": v.integrity, "held": v.ok()}


def final_check(srv: StandinServer, tree: Tree, state: Path, config: Path,
                created_before: int = 0) -> dict[str, Any]:
    """One last clean pass, then the verdict (albums compared too)."""
    srv.faults.clear()
    proc = run_cli(config, "once", timeout=1800)
    v = verify_backup(srv, tree.expected, state, created_before=created_before, strict=False)
    out = verdict_dict(v)
    got = server_albums(srv)
    out["albums"] = len(tree.albums)
    out["albums_incomplete"] = sum(1 for n, s in tree.albums.items() if got.get(n) != s)
    out["final_exit"] = proc.returncode
    out["held"] = v.ok() and out["albums_incomplete"] == 0 and proc.returncode == 0
    if not out["held"]:
        out["stderr_tail"] = proc.stderr[-2000:]
    return out


# -- the runs ----------------------------------------------------------------------
def soak_faults(tmp: Path, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    with StandinServer(seed=args.seed) as srv:
        tree = make_tree(tmp / "lib", folders=20, per_folder=100, seed=args.seed,
                         live_pairs=5)
        config = write_config(tmp, srv.url, srv.api_key, tree.include, concurrency=4,
                              check_batch_size=200, retry=FAST_RETRY)
        inject_mix(srv, args.rate)
        deadline = time.monotonic() + budget
        passes, exits = 0, []
        while True:
            proc = run_cli(config, "once", timeout=max(60, budget))
            passes += 1
            exits.append(proc.returncode)
            if time.monotonic() > deadline - 60 or passes >= 6:
                break
            add_folder(tree, f"Faults {passes:03d}", 300, seed=args.seed + passes)
        with srv.state.lock:
            uploads = [r for r in srv.state.requests if r.path == ASSETS]
        faults = srv.state.counters.faults_injected
        out = final_check(srv, tree, tmp / "state", config)
        out.update(passes=passes, exits=exits, upload_requests=len(uploads),
                   faults_injected=faults, fault_rate_setting=args.rate,
                   fault_share_of_uploads=round(sum(
                       1 for r in uploads if r.note.startswith(("fault", "dropped"))) /
                       max(1, len(uploads)), 3))
        out["held"] = out["held"] and all(e == 0 for e in exits)
        return out


def soak_outage(tmp: Path, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    outage = min(args.outage, max(10.0, budget - 60))
    with StandinServer(seed=args.seed) as srv:
        tree = make_tree(tmp / "lib", folders=10, per_folder=100, seed=args.seed)
        config = write_config(tmp, srv.url, srv.api_key, tree.include, concurrency=2,
                              retry={"max_attempts": 5, "initial": "100ms", "max": "2s"})
        srv.faults.latency("POST", ASSETS, 0.02)
        down = threading.Timer(3.0, srv.faults.set_down, args=("refuse",))
        up = threading.Timer(3.0 + outage, srv.faults.set_down, args=(None,))
        down.start()
        up.start()
        started = time.monotonic()
        try:
            proc = run_cli(config, "once", timeout=outage + 600)
        finally:
            down.cancel()
            up.cancel()
        took = time.monotonic() - started
        failed = json.loads(run_cli(config, "failed", "--json").stdout or "[]")
        waited = "waiting for it to come back" in proc.stderr
        back = "the server is back" in proc.stderr
        out = verdict_dict(verify_backup(srv, tree.expected, tmp / "state", strict=False))
        out.update(outage_seconds=outage, pass_seconds=round(took, 1), exit=proc.returncode,
                   waited=waited, resumed=back, failed_files=len(failed),
                   created=srv.state.counters.created)
        out["held"] = (out["held"] and proc.returncode == 0 and waited and back
                       and not failed and took >= outage)
        return out


def soak_crash(tmp: Path, budget: float, args: argparse.Namespace, *,
               state: Path | None = None, folders: int = 30,
               on_round: Callable[[int], None] | None = None) -> dict[str, Any]:
    with StandinServer(seed=args.seed) as srv:
        tree = make_tree(tmp / "lib", folders=folders, per_folder=100, seed=args.seed,
                         live_pairs=5)
        state = state or tmp / "state"
        config = write_config(tmp, srv.url, srv.api_key, tree.include, state_dir=state,
                              concurrency=3)
        srv.faults.latency("POST", ASSETS, 0.01)
        rng = random.Random(args.seed)
        log = CrashLog()
        deadline = time.monotonic() + budget
        rounds = 0
        while log.kills < args.kills and time.monotonic() < deadline:
            crash_loop(srv, config, state, kills=args.kills, rng=rng, log=log,
                       max_delay=4.0, targeted=0.5, stderr_path=tmp / "runs.log")
            if log.kills < args.kills:
                rounds += 1
                add_folder(tree, f"Round {rounds:03d}", 400, seed=args.seed * 1000 + rounds)
                if on_round is not None:
                    on_round(rounds)
        integrity_mid = integrity_check(state)
        out = final_check(srv, tree, state, config)
        out.update(kills=log.kills, runs=log.runs, finished_runs=log.finished,
                   rounds_of_new_files=rounds, kill_points=dict(log.phases),
                   exit_codes={str(k): n for k, n in log.exit_codes.items()},
                   integrity_after_kills=integrity_mid, created=srv.state.counters.created)
        out["held"] = out["held"] and srv.state.counters.created == len(tree.expected)
        print(log.table(), flush=True)
        return out


def soak_diskfull(tmp: Path, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a tmpfs", "held": True}
    mnt = tmp / "statefs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs",
                       str(mnt)], capture_output=True, check=False).returncode != 0:
        return {"skipped": "mount -t tmpfs refused", "held": True}
    sizes = iter(["512k", "1m", "2m", "4m", "8m", "64m"])
    grown: list[str] = []

    def grow(_round: int) -> None:  # the user frees some space, but not always enough
        size = next(sizes, None)
        if size:
            subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True)
            grown.append(size)

    try:
        out = soak_crash(tmp, budget, argparse.Namespace(**{**vars(args),
                                                            "kills": args.kills // 2}),
                         state=mnt / "state", folders=10, on_round=grow)
        out.update(disk_sizes=["256k", *grown])
        return out
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def soak_relearn(tmp: Path, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    with StandinServer(seed=args.seed) as srv:
        tree = make_tree(tmp / "lib", folders=20, per_folder=100, seed=args.seed,
                         live_pairs=5)
        config = write_config(tmp, srv.url, srv.api_key, tree.include, concurrency=4)
        first = run_cli(config, "once", timeout=budget)
        created, uploads = srv.state.counters.created, srv.state.counters.upload_requests
        shutil.rmtree(tmp / "state")
        started = time.monotonic()
        second = run_cli(config, "once", timeout=budget)
        took = time.monotonic() - started
        out = verdict_dict(verify_backup(srv, tree.expected, tmp / "state", strict=False))
        out.update(first_exit=first.returncode, relearn_exit=second.returncode,
                   relearn_seconds=round(took, 1),
                   created_after_relearn=srv.state.counters.created - created,
                   uploads_after_relearn=srv.state.counters.upload_requests - uploads)
        out["held"] = (out["held"] and first.returncode == second.returncode == 0
                       and out["created_after_relearn"] == 0
                       and out["uploads_after_relearn"] == 0)
        return out


def soak_bigdir(tmp: Path, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    folder = tmp / "lib" / "Everything"
    folder.mkdir(parents=True)
    tree = Tree(tmp / "lib")
    sums = tree.albums.setdefault("Everything", set())
    for i in range(args.big_folder):
        data = JPEG + i.to_bytes(4, "big")
        path = folder / f"F{i:07d}.jpg"
        path.write_bytes(data)
        tree.expected[path] = hashlib.sha1(data).hexdigest()
        sums.add(tree.expected[path])
    with StandinServer(seed=args.seed) as srv:
        config = write_config(tmp, srv.url, srv.api_key, tree.include, concurrency=4)
        started = time.monotonic()
        first = run_cli(config, "once", timeout=max(budget, 600))
        t1 = time.monotonic() - started
        started = time.monotonic()
        second = run_cli(config, "once", timeout=max(budget, 600))
        t2 = time.monotonic() - started
        out = final_check(srv, tree, tmp / "state", config)
        out.update(files_in_one_folder=args.big_folder, first_pass_seconds=round(t1, 1),
                   second_pass_seconds=round(t2, 1), first_exit=first.returncode,
                   second_exit=second.returncode,
                   second_pass_uploads=0 if "0 uploaded" in second.stdout else "some")
        out["held"] = out["held"] and first.returncode == 0 and second.returncode == 0
        return out


RUNS: dict[str, tuple[float, Callable[..., dict[str, Any]]]] = {
    # name: (share of the budget, run)
    "faults": (0.15, soak_faults),
    "outage": (0.15, soak_outage),
    "crash": (0.30, soak_crash),
    "diskfull": (0.15, soak_diskfull),
    "relearn": (0.05, soak_relearn),
    "bigdir": (0.20, soak_bigdir),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.reliability.soak")
    p.add_argument("--minutes", type=float, default=20.0, help="total budget (default 20)")
    p.add_argument("--kills", type=int, default=60, help="kill -9 count of the crash run")
    p.add_argument("--outage", type=float, default=120.0, help="seconds the server is down")
    p.add_argument("--rate", type=float, default=0.30, help="share of faulty answers")
    p.add_argument("--big-folder", type=int, default=100_000, help="files in one folder")
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--only", nargs="*", choices=sorted(RUNS), help="run only these")
    p.add_argument("--out", type=Path, help="write the results here as JSON")
    args = p.parse_args(argv)
    budget = args.minutes * 60
    names = args.only or list(RUNS)
    total_share = sum(RUNS[n][0] for n in names)
    results: dict[str, Any] = {"minutes": args.minutes, "seed": args.seed, "runs": {}}
    started = time.monotonic()
    for name in names:
        share, run = RUNS[name]
        run_budget = budget * share / total_share
        print(f"== {name} (budget {run_budget / 60:.1f} min)", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"ibd-soak-{name}-"))
        t0 = time.monotonic()
        try:
            out = run(tmp, run_budget, args)
        except Exception as exc:  # a broken run is a failed run, and the others go on
            out = {"held": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp, ignore_errors=True)
        out["seconds"] = round(time.monotonic() - t0, 1)
        results["runs"][name] = out
        print(json.dumps(out, indent=2), flush=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["held"] = all(r.get("held") for r in results["runs"].values())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(f"== soak {'HELD' if results['held'] else 'FAILED'} in "
          f"{results['seconds'] / 60:.1f} min", flush=True)
    return 0 if results["held"] else 1


if __name__ == "__main__":
    sys.exit(main())
