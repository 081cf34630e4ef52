"""Shared parts of the reliability suites (pytest) and the soak (``python -m``).

Self-contained on purpose: the fast suites import it as ``reliability.harness`` and the
soak as ``tests.reliability.harness``, so it imports nothing from other test folders.

What "nothing lost, nothing twice" means here, checked by :func:`verify_backup`:
- every expected file is on the server, with the SHA-1 of its bytes on disk (lost: 0);
- no checksum is stored twice, and the server answered 201 exactly once per file
  (``counters.created``: duplicate uploads: 0);
- every album holds exactly the files of its folder;
- every record the state calls uploaded/duplicate names an asset the server really
  has, with that record's SHA-1 (nothing marked uploaded the server did not confirm);
- SQLite's ``integrity_check`` is ``ok``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from immich_standin import StandinServer
from immich_standin.library import JPEG, MOV
from immich_standin.view import server_albums, server_assets  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[2]
KEY_MARK = "SeCrEtKeY"  # distinctive, so a leak is found by grep


@dataclass
class Tree:
    """A generated library and its answer key."""

    root: Path
    expected: dict[Path, str] = field(default_factory=dict)  # file → sha1 hex
    albums: dict[str, set[str]] = field(default_factory=dict)  # album → sha1s

    @property
    def include(self) -> list[Path]:
        return [self.root]


def make_tree(root: Path, *, folders: int, per_folder: int, seed: int = 7,
              min_size: int = 300, max_size: int = 3000, live_pairs: int = 0) -> Tree:
    """``folders`` × ``per_folder`` small JPEGs of random bytes (unique contents), each
    folder an album named after it, plus ``live_pairs`` still+video pairs in the first."""
    rng = random.Random(seed)
    tree = Tree(root)
    for f in range(folders):
        folder = root / f"{f // 10:03d}" / f"Album {f:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        album = tree.albums.setdefault(folder.name, set())
        for i in range(per_folder):
            path = folder / f"IMG_{i:05d}.jpg"
            data = JPEG + rng.randbytes(rng.randint(min_size, max_size))
            path.write_bytes(data)
            digest = hashlib.sha1(data).hexdigest()
            tree.expected[path] = digest
            album.add(digest)
    if live_pairs:
        folder = root / "000" / "Album 0000"
        for i in range(live_pairs):
            still = folder / f"LIVE_{i:04d}.HEIC"
            video = folder / f"LIVE_{i:04d}.MOV"
            sdata = b"\x00\x00\x00\x18ftypheic" + rng.randbytes(2000)
            vdata = MOV + rng.randbytes(5000)
            still.write_bytes(sdata)
            video.write_bytes(vdata)
            tree.expected[still] = hashlib.sha1(sdata).hexdigest()
            tree.expected[video] = hashlib.sha1(vdata).hexdigest()
            tree.albums[folder.name].add(tree.expected[still])  # the video is hidden
    return tree


def write_config(tmp: Path, url: str, key: str, include: list[Path], *,
                 exclude: list[str] | None = None, state_dir: Path | None = None,
                 server_extra: dict[str, Any] | None = None, timeout: str = "10s",
                 name: str = "config.yaml", **backup: Any) -> Path:
    """A config (JSON is YAML) with a 0600 key file beside it."""
    key_file = tmp / "api-key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    # Files the tests write settle fast (the default, 30s, would make every test wait).
    backup = {"retry": {"max_attempts": 3, "initial": "10ms", "max": "50ms"},
              "settle_time": "500ms", **backup}
    config = {
        "server": {"url": url, "api_key_file": str(key_file), "timeout": timeout,
                   **(server_extra or {})},
        "state_dir": str(state_dir or tmp / "state"),
        "albums": {"include": [str(p) for p in include], "exclude": exclude or []},
        "backup": backup,
        "log_level": "info",
    }
    path = tmp / name
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra or {})}
    env.pop("IMMICH_API_KEY", None)
    env.pop("NOTIFY_SOCKET", None)
    return env


def run_cli(config: Path, *args: str, timeout: float = 300, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "immich_backupd", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, env=cli_env(env),
        cwd=cwd or config.parent, check=False)


def start_cli(config: Path, *args: str, stderr_path: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    err = stderr_path.open("a") if stderr_path is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "immich_backupd", "--config", str(config), *args],
            stdout=subprocess.DEVNULL, stderr=err, text=True, env=cli_env(env),
            cwd=config.parent)
    finally:
        if stderr_path is not None:
            err.close()  # type: ignore[union-attr]


# -- what the server holds ------------------------------------------------------------

def integrity_check(state_dir: Path) -> str:
    conn = sqlite3.connect(state_dir / "state.sqlite3")
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def state_rows(state_dir: Path) -> list[tuple[str, str, bytes | None, str | None]]:
    """(path, status, sha1, remote_id) of every record."""
    conn = sqlite3.connect(state_dir / "state.sqlite3")
    try:
        return [(os.fsdecode(d.rstrip(b"/") + b"/" + n), s, sha, rid) for d, n, s, sha, rid in
                conn.execute("SELECT d.path, f.name, f.status, f.sha1, f.remote_id "
                             "FROM files f JOIN dirs d ON d.id = f.dir")]
    finally:
        conn.close()


@dataclass
class Verdict:
    files: int
    lost: int
    duplicates: int  # checksums stored twice + 201s beyond one per file
    wrong_sha1: int
    unconfirmed: int  # records marked on the server that the server does not have
    integrity: str

    def ok(self) -> bool:
        return (self.lost == self.duplicates == self.wrong_sha1 == self.unconfirmed == 0
                and self.integrity == "ok")


def verify_backup(srv: StandinServer, expected: dict[Path, str], state_dir: Path, *,
                  albums: dict[str, set[str]] | None = None, created_before: int = 0,
                  strict: bool = True) -> Verdict:
    """Check the five promises (module doc); assert them unless ``strict`` is False."""
    with srv.state.lock:
        assets = list(srv.state.assets.values())
        created = srv.state.counters.created
    sums = Counter(a.checksum_hex for a in assets)
    twice = sum(n - 1 for n in sums.values() if n > 1)
    by_sum = {a.checksum_hex: a for a in assets}
    by_id = {a.id: a for a in assets}
    want = set(expected.values())
    lost = len(want - set(by_sum))
    extra_created = max(0, (created - created_before) - len(want))
    # The server keeps the SHA-1 of the bytes that arrived: a torn upload would show
    # as an asset whose checksum is no file's.
    wrong = len(set(by_sum) - want)
    unconfirmed = 0
    for _path, status, sha1, rid in state_rows(state_dir):
        if status in ("uploaded", "duplicate"):
            asset = by_id.get(rid or "")
            if asset is None or sha1 is None or asset.checksum != sha1:
                unconfirmed += 1
    verdict = Verdict(files=len(want), lost=lost, duplicates=twice + extra_created,
                      wrong_sha1=wrong, unconfirmed=unconfirmed,
                      integrity=integrity_check(state_dir))
    if strict:
        assert verdict.ok(), verdict
        if albums is not None:
            got = server_albums(srv)
            for name, sums_ in albums.items():
                assert got.get(name) == sums_, f"album {name!r} incomplete or wrong"
    return verdict


# -- kill -9 at spread-out points ------------------------------------------------------
def live_phase(state_dir: Path, srv: StandinServer) -> str:
    """Where a pass is, from live.json and the stand-in's last requests (at kill time)."""
    try:
        live = json.loads((state_dir / "live.json").read_text())
    except (OSError, ValueError):
        live = None
    with srv.state.lock:
        recent = [r for r in srv.state.requests[-3:]]
    last = recent[-1].path if recent else ""
    if live is None or live.get("outcome"):
        if "/albums" in last:
            return "albums"
        return "startup"
    phase = live.get("phase")
    if phase == "albums" or "/albums" in last:
        return "albums"
    if live.get("uploads") or last == "/api/assets":
        return "uploading"
    if last.endswith("bulk-upload-check"):
        return "checking"
    if live.get("planned", 0) > live.get("hashed", 0) + live.get("done", 0) or \
            live.get("scanning"):
        return "hashing"
    return str(phase)


def sigkill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


class KillOnRequest:
    """Kill the client from inside the stand-in, at an exact server event.

    ``arm(pid, method, path, after_answer=...)``: at the next matching request (after
    ``skip`` others), once the server has done its work (an upload stored, an album
    changed), SIGKILL ``pid``: before the answer is sent (the client never hears it), or
    ``after_answer`` seconds after it went out (the client dies between the server's
    answer and its own state commit, or while committing).
    """

    def __init__(self, srv: StandinServer) -> None:
        self.srv = srv
        self.fired: list[str] = []
        self._rule: Any = None

    def arm(self, pid: int, method: str, path: str, *, after_answer: float | None = None,
            skip: int = 0) -> None:
        label = f"{method} {path} " + ("before answer" if after_answer is None
                                       else "after answer")

        def fire() -> None:
            self.fired.append(label)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

        self.disarm()
        self._rule = self.srv.faults.on_handled(method, path, fire, after_answer=after_answer,
                                                skip=skip)

    def disarm(self) -> None:
        if self._rule is not None:
            self.srv.faults.remove(self._rule)
            self._rule = None


# Where a targeted kill lands: (label, method, path, after_answer seconds or None).
TARGETS = (
    ("uploading: stored, before the answer", "POST", "/api/assets", None),
    ("state write: after the 201, before/while committing", "POST", "/api/assets", 0.001),
    ("state write: just after the 201", "POST", "/api/assets", 0.006),
    ("checking: after bulk-upload-check", "POST", "/api/assets/bulk-upload-check", 0.002),
    ("albums: album created, before the answer", "POST", "/api/albums", None),
    ("albums: assets added, before the answer", "PUT", "/api/albums/*/assets", None),
    ("albums: after assets added", "PUT", "/api/albums/*/assets", 0.002),
)


@dataclass
class CrashLog:
    kills: int = 0
    runs: int = 0  # processes started
    finished: int = 0  # runs that ended by themselves (the pass was shorter than the delay)
    phases: Counter[str] = field(default_factory=Counter)
    exit_codes: Counter[int] = field(default_factory=Counter)

    def table(self) -> str:
        width = max((len(k) for k in self.phases), default=10)
        lines = [f"{'kill point':<{width}}  kills"]
        for phase, n in sorted(self.phases.items(), key=lambda kv: -kv[1]):
            lines.append(f"{phase:<{width}}  {n:5d}")
        lines.append(f"{'total':<{width}}  {self.kills:5d}")
        return "\n".join(lines)


def crash_loop(srv: StandinServer, config: Path, state_dir: Path, *, kills: int,
               rng: random.Random, max_delay: float = 3.0, targeted: float = 0.5,
               stderr_path: Path | None = None, log: CrashLog | None = None,
               run_timeout: float = 120) -> CrashLog:
    """Run ``once`` and SIGKILL it ``kills`` times, at random delays (the phase at kill
    time is read from live.json and the stand-in's request log) or, for a ``targeted``
    share, at an exact server event (:data:`TARGETS`). Runs that finish before being
    killed are counted and restarted; the caller adds work between rounds."""
    log = log or CrashLog()
    killer = KillOnRequest(srv)
    misses = 0
    while log.kills < kills:
        if rng.random() < targeted:
            label, method, path, after = rng.choice(TARGETS)
            skip = rng.randint(0, 25) if path == "/api/assets" else 0
            proc = start_cli(config, "once", stderr_path=stderr_path)
            log.runs += 1
            killer.arm(proc.pid, method, path, after_answer=after, skip=skip)
            try:
                code = proc.wait(timeout=run_timeout)
            finally:
                killer.disarm()
                sigkill(proc)
            if code == -signal.SIGKILL:
                log.kills += 1
                log.phases[label] += 1
            else:
                log.finished += 1
                log.exit_codes[code] += 1
                misses += 1
        else:
            proc = start_cli(config, "once", stderr_path=stderr_path)
            log.runs += 1
            delay = rng.uniform(0.4, max_delay)
            try:
                code = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                phase = live_phase(state_dir, srv)
                sigkill(proc)
                log.kills += 1
                log.phases[phase] += 1
            else:
                log.finished += 1
                log.exit_codes[code] += 1
                misses += 1
        if misses >= 3:
            return log  # the work is done: the caller adds more (or stops)
    return log
