"""``make demo``: the main job end to end, on loopback, in a few seconds.

Starts the Immich stand-in, generates a small library under ``demo/``, runs
``immich-backupd once`` twice (the second run has nothing to do), then ``status``, and
prints what the server holds. Nothing leaves this machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .library import make_library
from .server import StandinServer

REPO = Path(__file__).resolve().parent.parent


def run(config: Path, *args: str) -> int:
    cmd = [sys.executable, "-m", "immich_backupd", "--config", str(config), *args]
    print(f"\n$ immich-backupd {' '.join(args)}", flush=True)
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


def main() -> int:
    demo = REPO / "demo"
    shutil.rmtree(demo, ignore_errors=True)
    demo.mkdir()
    lib = make_library(demo / "library", photos=20, big_file_mb=64)
    with StandinServer(version="3.1.0") as srv:
        key = demo / "api-key"
        key.write_text(srv.api_key + "\n")
        key.chmod(0o600)
        config = demo / "config.yaml"
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key_file": str(key)},
            "state_dir": str(demo / "state"),
            "albums": {"include": [str(p) for p in lib.include], "exclude": lib.exclude},
            "backup": {"album_sync": True, "concurrency": 2},
        }, indent=2))
        config.chmod(0o600)
        print(f"Immich stand-in (v{srv.version}) at {srv.url}; library in {lib.root}")
        print(f"{len(lib.expected)} media files to back up, {len(lib.ignored)} that must be "
              "skipped (excluded, hidden, unsupported, partial downloads)")
        codes = [run(config, "once"), run(config, "once"), run(config, "status")]
        with srv.state.lock:
            assets = list(srv.state.assets.values())
            albums = {a.name: len(a.asset_ids) for a in srv.state.albums.values()}
            violations = list(srv.state.violations)
        print(f"\nThe server holds {len(assets)} assets "
              f"({sum(1 for a in assets if a.live_photo_video_id)} live photos linked); "
              f"albums: {', '.join(f'{k} ({v})' for k, v in sorted(albums.items()))}")
        expected = set(lib.expected.values())
        ok = {a.checksum_hex for a in assets} == expected and len(assets) == len(expected)
        print("✓ every file exactly once, matching SHA-1" if ok else "✗ server content differs")
        if violations:
            print(f"✗ {len(violations)} requests broke the OpenAPI spec: {violations[:3]}")
        return 0 if ok and not violations and codes == [0, 0, 0] else 1


if __name__ == "__main__":
    raise SystemExit(main())
