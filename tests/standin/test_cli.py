"""``python -m immich_standin`` as a subprocess: ready line, state endpoint, dump."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_subprocess_server(tmp_path):
    ready = tmp_path / "ready.json"
    dump = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "immich_standin", "--port", "0", "--version", "2.7.0",
         "--api-key", "secret-key", "--quota", "1000", "--ready-file", str(ready),
         "--state-dump", str(dump)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["api_key"] == "secret-key" and info["url"].startswith("http://127.0.0.1:")
        assert json.loads(ready.read_text()) == info
        req = urllib.request.Request(
            info["url"] + "/api/users/me", headers={"x-api-key": "secret-key"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp)["quotaSizeInBytes"] == 1000
        with urllib.request.urlopen(info["url"] + "/_standin/state", timeout=5) as resp:
            state = json.load(resp)
        assert state["assets"] == [] and "counters" in state
        proc.send_signal(signal.SIGUSR1)
        for _ in range(100):
            if dump.exists():
                break
            time.sleep(0.02)
        assert json.loads(dump.read_text())["counters"]["created"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert json.loads(dump.read_text())["albums"] == []
