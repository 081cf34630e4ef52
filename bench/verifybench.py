"""``verify`` of many known files: a state of N records the server has (all but a share
the bench "deleted" there), against the bench stand-in in its own process.

The state is written straight into SQLite (the real schema, through
``immich_backupd.state.migrate``): reading and hashing a million files is measured by
the adopt and scaling scenarios; this one measures the walk over the state, the
bulk-upload-checks (5,000 checksums a request) and the writes of what changed.

    python -m bench.verifybench N [--deleted-every K]   # one run, prints the figures
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from immich_backupd.state import DB_NAME, DELETED, UPLOADED, migrate

from .clientconfig import write_config
from .procs import Measured, python_env, run_measured
from .standin import Server

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FILES_PER_DIR = 1000


def sha1_of(i: int) -> bytes:
    return hashlib.sha1(i.to_bytes(8, "little")).digest()


def synthetic_state(state_dir: Path, n: int) -> None:
    """A state of ``n`` uploaded files, FILES_PER_DIR a folder, each with a SHA-1 of its
    index (what :func:`write_seed` puts on the server)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(state_dir / DB_NAME, isolation_level=None)
    try:
        migrate(conn)
        conn.execute("BEGIN")
        dirs = (n + FILES_PER_DIR - 1) // FILES_PER_DIR
        conn.executemany("INSERT INTO dirs(id, path) VALUES (?, ?)",
                         ((d, f"/photos/{d:05d}".encode()) for d in range(dirs)))
        now = time.time()
        conn.executemany(
            "INSERT INTO files(dir, name, size, mtime_ns, ino, blake3, sha1, status, "
            "remote_id, album, album_done, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ((i // FILES_PER_DIR, f"IMG_{i:07d}.jpg".encode(), 100, 1, i,
              hashlib.blake2b(i.to_bytes(8, "little"), digest_size=32).digest(), sha1_of(i),
              UPLOADED, f"asset-{i}", None, 1, now) for i in range(n)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_seed(path: Path, n: int, deleted_every: int) -> int:
    """The raw SHA-1s the server holds: every file but each ``deleted_every``-th (0:
    none missing). Return how many are missing."""
    missing = 0
    with path.open("wb") as f:
        for i in range(n):
            if deleted_every and i % deleted_every == 0:
                missing += 1
                continue
            f.write(sha1_of(i))
    return missing


def deleted_in_state(state_dir: Path) -> int:
    conn = sqlite3.connect(state_dir / DB_NAME)
    try:
        return conn.execute("SELECT count(*) FROM files WHERE status=?", (DELETED.value,)
                            ).fetchone()[0]
    finally:
        conn.close()


def run(work: Path, n: int, *, deleted_every: int = 100, runs: int = 2
        ) -> list[tuple[str, Measured]]:
    """Verify a state of ``n`` known files ``runs`` times against a server missing
    every ``deleted_every``-th: the first run records those as deleted, the later
    ones find nothing new. Return (label, measurement) of each run."""
    state = work / "state-verify"
    shutil.rmtree(state, ignore_errors=True)
    synthetic_state(state, n)
    seed = work / "verify.seed"
    missing = write_seed(seed, n, deleted_every)
    out = []
    with Server(work / "srv-verify", seed) as srv:
        cfg = write_config(work / "verify.yaml", srv.url, srv.api_key, state,
                           work / "verify-photos")
        for r in range(runs):
            m = run_measured([sys.executable, "-m", "immich_backupd", "--config", str(cfg),
                              "verify"], env=python_env(), cwd=REPO,
                             log=work / f"verify-{r}.log")
            if m.returncode != 0:
                raise RuntimeError(f"verify exited {m.returncode}: {m.stderr_tail[-800:]}")
            out.append(("first" if r == 0 else "again", m))
    got = deleted_in_state(state)
    if got != missing:
        raise RuntimeError(f"verify recorded {got} deleted files, the server lacks {missing}")
    shutil.rmtree(state)
    seed.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int)
    p.add_argument("--deleted-every", type=int, default=100)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="verifybench-"))
    try:
        for label, m in run(work, args.n, deleted_every=args.deleted_every):
            print(f"verify {args.n:,} known files ({label}): {m.seconds:.2f} s, "
                  f"rss {m.rss_mb:.1f} MB, cpu {m.cpu_s:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
