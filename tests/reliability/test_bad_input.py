"""Bad input: broken configs through the real CLI, and every awkward kind of file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from immich_backupd.pipeline.runner import KEEP_MAX
from immich_standin.library import JPEG

from .harness import REPO, cli_env, make_tree, run_cli, server_assets, verify_backup, write_config

CORPUS = sorted((REPO / "tests" / "configs").glob("*.yaml"))
LINE = re.compile(r"^immich-backupd: (?P<file>/[^:]+):(?P<line>\d+):(\d+:)? \S")


def _corpus_env(tmp: Path) -> dict[str, str]:
    """The environment tests/configs/README.md describes."""
    home = tmp / "home"
    (home / "Pictures" / "Screenshots").mkdir(parents=True)
    key = home / ".config" / "immich-backupd" / "api-key"
    key.parent.mkdir(parents=True)
    key.write_text("corpus-secret-key\n")
    key.chmod(0o600)
    photos = tmp / "photos"
    (photos / "a").mkdir(parents=True)
    (photos / "b").mkdir()
    (photos / "file.jpg").write_bytes(b"\xff\xd8")
    return {"HOME": str(home), "PHOTOS": str(photos)}


def _tree_of(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_every_broken_config_exits_78_with_file_and_line_and_starts_nothing(tmp_path):
    assert len(CORPUS) >= 20
    env = _corpus_env(tmp_path)
    before = _tree_of(tmp_path)

    def run(path: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
        return path, subprocess.run(
            [sys.executable, "-m", "immich_backupd", "--config", str(path), "once"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
            env=cli_env(env))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, CORPUS))
    for path, proc in results:
        assert proc.returncode == 78, (path.name, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr, path.name
        assert proc.stdout == "", path.name
        errors = [ln for ln in proc.stderr.splitlines() if "WARNING" not in ln]
        assert errors, path.name
        for line in errors:  # one line per problem, each naming the file and line
            m = LINE.match(line)
            assert m and m.group("file") == str(path), (path.name, line)
        assert "corpus-secret-key" not in proc.stderr, path.name
    # Nothing started: no state directory, no lock, no live.json anywhere.
    assert _tree_of(tmp_path) == before


# -- files --------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "size", "reason"), [
    # Streamed from the disk: the SHA-1 of what was sent is checked before the end.
    ("append", KEEP_MAX + (8 << 20), "grew while uploading"),
    ("overwrite", KEEP_MAX + (8 << 20), "checksum differs"),
    # Sent from the bytes kept when it was hashed: its stat is checked before the end.
    ("append", KEEP_MAX - (1 << 20), "size or mtime moved"),
    ("overwrite", KEEP_MAX - (1 << 20), "size or mtime moved"),
])
def test_file_changed_during_a_throttled_upload_is_never_stored_torn(server, tmp_path, change,
                                                                     size, reason):
    """The multipart body checks what it sent before the closing boundary: a file
    appended to (or rewritten at its end) while it goes up is aborted, not stored and
    not marked done; the next pass uploads what the file now holds."""
    assert (size <= KEEP_MAX) == (reason == "size or mtime moved")
    folder = tmp_path / "lib" / "Growing"
    folder.mkdir(parents=True)
    path = folder / "clip.jpg"
    path.write_bytes(JPEG + os.urandom(size - len(JPEG)))
    config = write_config(tmp_path, server.url, server.api_key, [tmp_path / "lib"],
                          concurrency=1)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=size // 2)  # ~2 s

    def change_it() -> None:
        with path.open("r+b") as fh:
            if change == "append":
                fh.seek(0, os.SEEK_END)
                fh.write(os.urandom(1000))
            else:
                fh.seek(size - 100)
                fh.write(os.urandom(100))

    # A tenth of a second into the upload (a twentieth of the body read by the server,
    # and less than the socket buffers can hold ahead of it), the file changes.
    server.faults.on_request("POST", "/api/assets",
                             lambda: threading.Timer(0.1, change_it).start())
    proc = run_cli(config, "once")
    # Not backed up, so not "complete": said, with exit 1 (issue 14).
    assert proc.returncode == 1, proc.stderr
    assert "1 file is still being written; run again" in proc.stdout, proc.stdout
    assert "✓" not in proc.stdout
    assert reason in proc.stderr, proc.stderr
    assert server.state.counters.created == 0  # the torn body was refused
    # The throttled server is still reading what was sent before the abort: wait for it.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
            r.path == "/api/assets" for r in server.state.requests):
        time.sleep(0.1)
    uploads = [r for r in server.state.requests if r.path == "/api/assets"]
    assert len(uploads) == 1, uploads  # aborted once, not retried
    assert "body cut short" in uploads[0].note, uploads
    assert server.state.counters.created == 0
    assert json.loads(run_cli(config, "failed", "--json").stdout) == []
    server.faults.clear()
    proc2 = run_cli(config, "once")
    assert proc2.returncode == 0, proc2.stderr
    (asset,) = server_assets(server).values()
    assert asset.checksum_hex == hashlib.sha1(path.read_bytes()).hexdigest()


def test_file_vanishing_between_scan_and_upload_is_not_a_failure(server, tmp_path):
    tree = make_tree(tmp_path / "lib", folders=1, per_folder=30, min_size=60_000,
                     max_size=60_000)
    config = write_config(tmp_path, server.url, server.api_key, tree.include, concurrency=1)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=1_000_000)
    victims = sorted(tree.expected)[-5:]  # uploaded last: hashed long before

    def delete_them() -> None:
        for victim in victims:
            victim.unlink()

    server.faults.on_request("POST", "/api/assets", delete_them, skip=2)
    proc = run_cli(config, "once")
    for victim in victims:
        del tree.expected[victim]
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("vanished before it was backed up") == 5, proc.stderr
    assert json.loads(run_cli(config, "failed", "--json").stdout) == []
    verify_backup(server, tree.expected, tmp_path / "state")


def _write(path: Path, seed: int) -> str:
    data = JPEG + hashlib.sha256(str(seed).encode()).digest() * 40
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def test_awkward_names_trees_links_and_special_files(server, tmp_path):
    """Non-UTF-8 and 255-byte names, a 120-deep tree, symlink loops, links out of the
    include folders, a FIFO and a device named .jpg: the real files go up once, the
    rest is skipped, nothing hangs, and nothing outside the include folders is read."""
    lib = tmp_path / "lib"
    outside = tmp_path / "outside"
    expected: dict[Path, str] = {}
    raw = os.fsencode(lib) + b"/Odd/caf\xe9-\xff\xfe.jpg"  # Latin-1, not UTF-8
    odd = Path(os.fsdecode(raw))
    expected[odd] = _write(odd, 1)
    long_name = lib / "Long" / ("n" * 251 + ".jpg")  # 255 bytes
    expected[long_name] = _write(long_name, 2)
    utf8_long = lib / "Long" / ("é" * 125 + ".jpg")  # 254 bytes of UTF-8
    expected[utf8_long] = _write(utf8_long, 3)
    deep = lib / "Deep" / Path(*[f"d{i}" for i in range(120)]) / "bottom.jpg"
    expected[deep] = _write(deep, 4)
    (lib / "Loop").mkdir()
    (lib / "Loop" / "again").symlink_to(lib / "Loop")  # a loop
    (lib / "Loop" / "up").symlink_to(lib)  # a loop through the root
    expected[lib / "Loop" / "in-loop.jpg"] = _write(lib / "Loop" / "in-loop.jpg", 5)
    secret = outside / "secret.jpg"
    _write(secret, 6)
    (lib / "Links").mkdir()
    (lib / "Links" / "secret.jpg").symlink_to(secret)  # a file link out
    (lib / "Links" / "outside-dir").symlink_to(outside)  # a folder link out
    fifo = lib / "Special" / "fifo.jpg"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    if os.geteuid() == 0:
        os.mknod(lib / "Special" / "null.jpg", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    expected[lib / "Special" / "real.jpg"] = _write(lib / "Special" / "real.jpg", 7)

    config = write_config(tmp_path, server.url, server.api_key, [lib])
    opened = tmp_path / "opened.txt"
    # Record every file the process opens (Python's audit hook sees os.open and open()).
    runner = (
        "import os, runpy, sys\n"
        f"log = open({str(opened)!r}, 'w', buffering=1)\n"
        "def hook(event, args):\n"
        "    if event == 'open' and isinstance(args[0], (str, bytes, os.PathLike)):\n"
        "        log.write(repr(os.fsdecode(args[0])) + '\\n')\n"
        "sys.addaudithook(hook)\n"
        "sys.argv = ['immich-backupd', '--config', sys.argv[1], 'once']\n"
        "runpy.run_module('immich_backupd', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", runner, str(config)], capture_output=True,
                          text=True, timeout=120, env=cli_env(), cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    verify_backup(server, expected, tmp_path / "state")
    assert hashlib.sha1(secret.read_bytes()).hexdigest() not in server_assets(server)
    allowed = (str(lib) + "/", str(tmp_path / "state") + "/", str(config),
               str(tmp_path / "api-key"), str(opened))
    mine = {eval(line) for line in opened.read_text().splitlines()}
    inside_tmp = {p for p in mine if p.startswith(str(tmp_path))}
    assert inside_tmp, "the audit hook saw nothing"
    assert all(p.startswith(allowed) for p in inside_tmp), sorted(inside_tmp - {
        p for p in inside_tmp if p.startswith(allowed)})
    assert not any(p.startswith(str(outside)) for p in mine)

    # Following links is a choice the user makes: then the loop is walked once and the
    # outside file goes up too (it is what they asked for).
    cfg = json.loads(config.read_text())
    cfg["backup"]["follow_symlinks"] = True
    config.write_text(json.dumps(cfg))
    proc = run_cli(config, "once", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha1(secret.read_bytes()).hexdigest() in server_assets(server)
    assert len(server_assets(server)) == len(expected) + 1


def test_folders_whose_names_are_not_utf8_become_albums(server, tmp_path):
    """Album sync with folders named in an old encoding (Latin-1 from a Windows share):
    the album name is text, so the bytes that are not UTF-8 become "?", as in the file
    names sent; the pass completes and records everything (it used to stop with a
    UnicodeEncodeError when storing the album name, on every run)."""
    lib = tmp_path / "lib"
    latin = [Path(os.fsdecode(os.fsencode(lib) + b"/caf\xe9")),
             Path(os.fsdecode(os.fsencode(lib) + b"/caf\xe8"))]
    files = {latin[0] / "a.jpg": 1, latin[1] / "b.jpg": 2, lib / "Café" / "c.jpg": 3}
    for path, seed in files.items():
        _write(path, seed)
    config = write_config(tmp_path, server.url, server.api_key, [lib])
    proc = run_cli(config, "once", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(server_assets(server)) == 3
    [odd] = server.state.albums_named("caf?")
    [cafe] = server.state.albums_named("Café")
    assert (len(odd.asset_ids), len(cafe.asset_ids)) == (2, 1)
    again = run_cli(config, "once", timeout=120)
    assert again.returncode == 0, again.stderr
    assert server.state.counters.upload_requests == 3
    status = run_cli(config, "status", timeout=60)
    assert status.returncode == 0 and "caf?: 2" in status.stdout, status.stdout


def test_a_folder_with_five_thousand_files(server, tmp_path):
    """Fast variant of the 100,000-file folder (the soak has the big one): 5,000 empty
    files (reported, not sent) and 300 tiny ones in one folder; the second pass opens
    nothing and reports nothing again."""
    folder = tmp_path / "lib" / "Everything"
    folder.mkdir(parents=True)
    for i in range(5_000):
        (folder / f"E{i:06d}.jpg").touch()
    expected = {folder / f"T{i:04d}.jpg": _write(folder / f"T{i:04d}.jpg", 100 + i)
                for i in range(300)}
    config = write_config(tmp_path, server.url, server.api_key, [tmp_path / "lib"])
    started = time.monotonic()
    proc = run_cli(config, "once", timeout=300)
    first = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr[-2000:]  # the empty files are reported
    assert "300 uploaded" in proc.stdout and "5000 failed" in proc.stdout.replace(",", "")
    verify_backup(server, expected, tmp_path / "state", albums={"Everything": set(
        expected.values())})
    started = time.monotonic()
    proc = run_cli(config, "once", timeout=300)
    second = time.monotonic() - started
    # Not sent again, and not "✓": the empty files are not backed up.
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "0 uploaded" in proc.stdout and "✓" not in proc.stdout
    assert "5,000 files cannot be backed up: the server refuses them" in proc.stdout
    print(f"\n5,300 files in one folder: first pass {first:.1f} s, second {second:.1f} s")
