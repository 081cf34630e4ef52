"""Crashes: ``kill -9`` at spread-out points, a full state disk, a deleted state database.

Fast variants for ``make test``; ``make soak`` runs the long ones (``soak.py``).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from immich_standin.library import JPEG, MOV

from .harness import (
    CrashLog,
    Tree,
    crash_loop,
    integrity_check,
    make_tree,
    run_cli,
    verify_backup,
    write_config,
)


def add_big_files(tree: Tree, n: int, mb: int, seed: int = 3) -> None:
    """Sparse videos: cheap on disk, but the hasher reads every byte (kills in hashing)."""
    rng = random.Random(seed)
    folder = tree.root / "Videos"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"BIG_{i:03d}.mov"
        with path.open("wb") as fh:
            fh.write(MOV + rng.randbytes(4096))
            fh.truncate(mb << 20)
        h = hashlib.sha1()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        tree.expected[path] = h.hexdigest()
        tree.albums.setdefault("Videos", set()).add(tree.expected[path])


def add_round(tree: Tree, n_round: int, files: int, seed: int) -> None:
    """More work: a new folder (a new album) of ``files`` photos."""
    rng = random.Random(seed)
    folder = tree.root / "rounds" / f"Round {n_round:03d}"
    folder.mkdir(parents=True)
    sums = tree.albums.setdefault(folder.name, set())
    for i in range(files):
        data = JPEG + rng.randbytes(rng.randint(300, 3000))
        path = folder / f"IMG_{i:05d}.jpg"
        path.write_bytes(data)
        tree.expected[path] = hashlib.sha1(data).hexdigest()
        sums.add(tree.expected[path])


def crash_until(srv, config: Path, state_dir: Path, tree: Tree, kills: int, seed: int,
                **kw) -> CrashLog:
    rng = random.Random(seed)
    log = CrashLog()
    n_round = 0
    while log.kills < kills:
        crash_loop(srv, config, state_dir, kills=kills, rng=rng, log=log, **kw)
        if log.kills < kills:
            n_round += 1
            add_round(tree, n_round, 60, seed=seed * 100 + n_round)
    return log


def test_kill_9_at_random_points_nothing_lost_nothing_twice(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=6, per_folder=30, live_pairs=2)
    add_big_files(tree, 2, 16)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=2)
    server.faults.latency("POST", "/api/assets", 0.01)
    log = crash_until(server, config, tmp_path / "state", tree, kills=6, seed=11,
                      max_delay=2.0, targeted=0.6, stderr_path=tmp_path / "runs.log")
    assert log.kills == 6
    assert len(log.phases) >= 3, log.table()  # spread, not all in one place
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)
    assert server.state.counters.created == len(tree.expected)
    print("\n" + log.table())


def test_state_deleted_relearns_from_the_server_without_uploading(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=4, per_folder=25, live_pairs=1)
    config = write_config(tmp_path, server.url, server.api_key, tree.include)
    assert run_cli(config, "once").returncode == 0
    created = server.state.counters.created
    uploads = server.state.counters.upload_requests
    albums = server.state.counters.albums_created
    shutil.rmtree(tmp_path / "state")
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr
    assert server.state.counters.created == created
    assert server.state.counters.upload_requests == uploads  # bulk check knew them all
    assert server.state.counters.albums_created == albums  # found by name, not re-made
    assert f"0 uploaded, {len(tree.expected)} already on the server" in proc.stdout
    verify_backup(server, tree.expected, tmp_path / "state", albums=tree.albums)


def _can_mount_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                        capture_output=True, check=False).returncode == 0
    if ok:
        subprocess.run(["umount", str(where)], check=False)
    return ok


@pytest.fixture
def small_disk(tmp_path):
    """A 240 KiB tmpfs for the state directory (root only); grown with ``grow()``. An empty
    state is 60 KiB (sidecars, stacks and tags added tables): 160 KiB filled before the first
    upload was recorded, and the disk must fill mid-pass."""
    mnt = tmp_path / "statefs"
    if not _can_mount_tmpfs(mnt):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=240k,mode=0700", "tmpfs", str(mnt)],
                   check=True)

    def grow(size: str = "64m") -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True)

    try:
        yield mnt, grow
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_state_disk_full_then_freed_nothing_twice(server, tmp_path, small_disk):
    """The state disk fills up mid-pass: the run stops with a clear message (no
    traceback); once there is room again, the next pass finishes, nothing twice."""
    mnt, grow = small_disk
    tree = make_tree(tmp_path / "lib", folders=10, per_folder=60)
    state = mnt / "state"
    config = write_config(tmp_path, server.url, server.api_key, tree.include,
                          state_dir=state)
    for _ in range(3):  # again and again on the full disk: same clean stop, no damage
        proc = run_cli(config, "once")
        assert proc.returncode == 74, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert "cannot write the state database" in proc.stderr
        assert "full" in proc.stderr or "No space" in proc.stderr, proc.stderr[-600:]
        assert integrity_check(state) == "ok"
    assert 0 < server.state.counters.created < len(tree.expected)
    grow()
    proc = run_cli(config, "once")
    assert proc.returncode == 0, proc.stderr[-2000:]
    verify_backup(server, tree.expected, state, albums=tree.albums)
    assert server.state.counters.created == len(tree.expected)
