"""Target 7 of issue #5 as a regression guard, counted, never timed: a pass makes no
state query and no server request per file. Adopting a library the server already has
is run at two sizes with the same folders, five times the files each; what grows with
the files (SQL statements, requests) must grow far slower than they do.

SQL statements are counted in the real process: a probe replaces ``sqlite3.connect``
with one that installs a trace callback on every connection (the state store's, through
aiosqlite, and the hashing threads' readers), then runs ``once``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from immich_standin import StandinServer

FOLDERS = 8
OLD = 1_600_000_000  # an mtime long past: a library being adopted, not a copy going on

PROBE = """
import sqlite3, sys, threading
count = [0]
lock = threading.Lock()
real = sqlite3.connect

def counted(*args, **kwargs):
    conn = real(*args, **kwargs)
    def trace(statement):
        with lock:
            count[0] += 1
    conn.set_trace_callback(trace)
    return conn

sqlite3.connect = counted
from immich_backupd.cli import main
rc = main(["--config", sys.argv[1], "once"])
print("RESULT", rc, count[0])
"""


def _library(root: Path, per_folder: int, srv: StandinServer) -> int:
    n = 0
    for f in range(FOLDERS):
        folder = root / f"album-{f}"
        folder.mkdir(parents=True)
        for i in range(per_folder):
            data = b"\xff\xd8\xff" + f"{f}-{i}".encode() + bytes(64)
            (folder / f"IMG_{i:04d}.jpg").write_bytes(data)
            os.utime(folder / f"IMG_{i:04d}.jpg", (OLD, OLD))  # not being written now
            srv.state.seed_asset(srv.user.id, data, f"IMG_{i:04d}.jpg")
            n += 1
    return n


def _adopt(tmp: Path, per_folder: int) -> tuple[int, int, int, int]:
    """(files, SQL statements, bulk checks, other requests) of adopting a library."""
    with StandinServer(version="3.1.0") as srv:
        files = _library(tmp / "photos", per_folder, srv)
        config = tmp / "config.yaml"
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key": srv.api_key},
            "state_dir": str(tmp / "state"), "albums": {"include": [str(tmp / "photos")]}}))
        config.chmod(0o600)
        out = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True,
                             text=True, timeout=300, check=True)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
        _, rc, statements = line.split()
        assert rc == "0", out.stderr[-2000:]
        assert srv.state.counters.upload_requests == 0  # all of it was on the server
        assert srv.state.counters.bulk_items_checked == files
        checks = srv.state.counters.bulk_checks
        requests = len(srv.state.requests) - checks
        return files, int(statements), checks, requests


def test_adopting_makes_no_query_or_request_per_file(tmp_path: Path) -> None:
    small = _adopt(tmp_path / "small", 40)  # 320 files
    large = _adopt(tmp_path / "large", 200)  # 1,600 files, same folders
    extra_files = large[0] - small[0]
    extra_statements = large[1] - small[1]
    # Per folder and per batch, never per file: five times the files in the same folders
    # adds a handful of statements (more hashing groups, one more check batch), not 1,280.
    assert extra_statements < extra_files / 20, (small, large)
    assert large[1] < large[0] / 4, (small, large)
    # The bulk checks carry the files in batches; the other requests are the handshake
    # and the end of the pass, the same at both sizes.
    assert large[2] <= small[2] + 4, (small, large)
    assert large[3] == small[3], (small, large)


def _rescan_with_sidecars(tmp: Path, per_folder: int) -> tuple[int, int, int]:
    """(files, SQL statements, requests) of the pass after a first backup of a library
    whose every photo has a sidecar: the rescan compares them (see pipeline/sidecars.py)."""
    with StandinServer(version="3.1.0") as srv:
        n = 0
        for f in range(2):
            folder = tmp / "photos" / f"album-{f}"
            folder.mkdir(parents=True)
            for i in range(per_folder):
                photo, side = folder / f"IMG_{i:04d}.jpg", folder / f"IMG_{i:04d}.xmp"
                photo.write_bytes(b"\xff\xd8\xff" + f"{f}-{i}".encode() + bytes(64))
                side.write_bytes(b"<x:xmpmeta/>")
                for p in (photo, side):
                    os.utime(p, (OLD, OLD))
                n += 1
        config = tmp / "config.yaml"
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key": srv.api_key},
            "state_dir": str(tmp / "state"), "albums": {"include": [str(tmp / "photos")]}}))
        config.chmod(0o600)
        for _ in range(2):  # the first backup, then the rescan counted
            out = subprocess.run([sys.executable, "-c", PROBE, str(config)],
                                 capture_output=True, text=True, timeout=300, check=True)
        assert sum(a.sidecar is not None for a in srv.state.assets.values()) == n
        before = len(srv.state.requests)
        out = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True,
                             text=True, timeout=300, check=True)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
        _, rc, statements = line.split()
        assert rc == "0", out.stderr[-2000:]
        return n, int(statements), len(srv.state.requests) - before


def test_a_rescan_compares_sidecars_without_a_query_per_file(tmp_path: Path) -> None:
    small = _rescan_with_sidecars(tmp_path / "small", 20)  # 40 photos, 40 sidecars
    large = _rescan_with_sidecars(tmp_path / "large", 100)  # 200 of each, same folders
    assert large[1] - small[1] < (large[0] - small[0]) / 20, (small, large)
    assert large[2] == small[2], (small, large)


UNREAD_BURSTS = "f.burst IS NULL"  # in the catch-up's query (state/bursts.py) alone

PROBE_MATCHING = PROBE.replace(
    "            count[0] += 1", "            count[0] += sys.argv[2] in statement")


def statements_per_pass(srv: StandinServer, tmp_path: Path, switch: str, needle: str,
                        switched: tuple[bool, ...] = (False, True, True)) -> list[int]:
    """A pass of ``once`` on ``tmp_path/photos`` for each of ``switched``, the value of
    ``backup.stacks.<switch>``: how many SQL statements containing ``needle`` each made."""
    config = tmp_path / "config.yaml"
    counts = []
    for on in switched:
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key": srv.api_key},
            "state_dir": str(tmp_path / "state"),
            "albums": {"include": [str(tmp_path / "photos")]},
            "backup": {"stacks": {switch: on}}}))
        config.chmod(0o600)
        out = subprocess.run([sys.executable, "-c", PROBE_MATCHING, str(config), needle],
                             capture_output=True, text=True, timeout=300, check=True)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
        _, rc, matching = line.split()
        assert rc == "0", out.stderr[-2000:]
        counts.append(int(matching))
    return counts


def test_a_rescan_once_bursts_were_caught_up_looks_for_no_unread_burst(
        tmp_path: Path) -> None:
    """Bursts switched on for a library backed up without: one pass reads the photos'
    burst ids; every later pass makes no query for them (a meta flag, one read), so a
    rescan of a million unchanged files is not slowed by it."""
    with StandinServer(version="3.1.0") as srv:
        for f in range(2):
            folder = tmp_path / "photos" / f"album-{f}"
            folder.mkdir(parents=True)
            for i in range(20):
                (folder / f"IMG_{i:04d}.jpg").write_bytes(
                    b"\xff\xd8\xff" + f"{f}-{i}".encode() + bytes(64))
                os.utime(folder / f"IMG_{i:04d}.jpg", (OLD, OLD))
        counts = statements_per_pass(srv, tmp_path, "bursts", UNREAD_BURSTS)
    # Off: none. On: the chunk that found all 40, the query that found no more. Then none.
    assert counts == [0, 2, 0], counts


REGROUP = "f.name, f.burst FROM files"  # in the regrouping's query (state/store.py) alone


def test_stacks_switched_on_group_the_library_once_then_never_again(tmp_path: Path) -> None:
    """raw_jpeg switched on for a library backed up without: one pass groups the names
    of every folder from the state (one query) and stacks the pairs; every later pass
    makes no such query."""
    with StandinServer(version="3.1.0") as srv:
        for f in range(2):
            folder = tmp_path / "photos" / f"album-{f}"
            folder.mkdir(parents=True)
            for name in ("IMG_0001.jpg", "IMG_0001.cr2", "IMG_0002.jpg"):
                (folder / name).write_bytes(b"\xff\xd8\xff" + f"{f}-{name}".encode() + bytes(64))
                os.utime(folder / name, (OLD, OLD))
        counts = statements_per_pass(srv, tmp_path, "raw_jpeg", REGROUP)
        assert srv.state.counters.stacks_created == 2
    assert counts == [0, 1, 0], counts


def test_a_new_state_s_first_pass_does_not_regroup_what_it_just_grouped(tmp_path: Path) -> None:
    """A new state has no stack settings kept, as an earlier release's has not; but all
    it has on the server came in this pass, whose folders are grouped anyway: the query
    over every file (0.25 s of a 100k adopt) is not made. The pair is stacked still."""
    with StandinServer(version="3.1.0") as srv:
        folder = tmp_path / "photos" / "album"
        folder.mkdir(parents=True)
        for name in ("IMG_0001.jpg", "IMG_0001.cr2", "IMG_0002.jpg"):
            (folder / name).write_bytes(b"\xff\xd8\xff" + name.encode() + bytes(64))
            os.utime(folder / name, (OLD, OLD))
        counts = statements_per_pass(srv, tmp_path, "raw_jpeg", REGROUP, (True, True))
        assert srv.state.counters.stacks_created == 1
    assert counts == [0, 0], counts
