"""The collector's settings for backing up (gctune), checked in fresh interpreters: they
change the whole process, so never in the test run's own."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from immich_standin import StandinServer

PROBE = """
import gc, json, sys
before = (gc.get_threshold(), gc.get_freeze_count())
{body}
print(json.dumps({{"before": before, "after": (gc.get_threshold(), gc.get_freeze_count()),
                  "rc": rc}}))
"""


def _probe(body: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], check=True,
                         capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tune_gc_freezes_once_and_raises_the_thresholds() -> None:
    got = _probe(
        "from immich_backupd.pipeline.gctune import tune_gc\n"
        "tune_gc()\n"
        "frozen = gc.get_freeze_count()\n"
        "junk = [[i] for i in range(1000)]\n"
        "tune_gc()  # a second call freezes nothing more\n"
        "rc = gc.get_freeze_count() - frozen\n"
    )
    assert got["before"] == [[700, 10, 10], 0]
    assert got["after"][0] == [50_000, 20, 10]
    assert got["after"][1] > 1000  # the imports' objects
    assert got["rc"] == 0


def test_once_runs_with_the_tuned_collector(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"1" * 100)
    with StandinServer(version="3.1.0") as srv:
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key": srv.api_key},
            "state_dir": str(tmp_path / "state"), "albums": {"include": [str(photos)]}}))
        config.chmod(0o600)
        got = _probe("from immich_backupd.cli import main\n"
                     f"rc = main(['--config', {str(config)!r}, 'once'])\n")
        assert len(srv.state.assets) == 1
    assert got["rc"] == 0
    assert got["before"] == [[700, 10, 10], 0]
    assert got["after"][0] == [50_000, 20, 10] and got["after"][1] > 0


def test_release_after_pass_frees_cycles_the_tuned_collector_leaves() -> None:
    got = _probe(
        "import weakref\n"
        "from immich_backupd.pipeline.gctune import release_after_pass, trim_heap, tune_gc\n"
        "tune_gc()\n"
        "class Stage:\n"
        "    pass\n"
        "def a_pass():\n"
        "    s = Stage(); s.back = s; s.held = [object() for _ in range(1000)]\n"
        "    return weakref.ref(s)\n"
        "ref = a_pass()\n"
        "left = ref() is not None  # a cycle: no young collection yet\n"
        "release_after_pass()\n"
        "rc = [left, ref() is None, trim_heap()]\n"
    )
    assert got["rc"] == [True, True, platform.libc_ver()[0] == "glibc"]  # musl has none
