"""What each command costs to start: `status` and `failed` are called often by scripts
and never talk to the server, so they must not import the HTTP client (aiohttp alone
takes ~0.15 s to import) nor the file watcher."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from immich_backupd.cli import main
rc = main(["--config", sys.argv[1], sys.argv[2]])
heavy = [m for m in ("aiohttp", "watchdog", "yarl") if m in sys.modules]
print("RESULT", rc, ",".join(heavy))
"""


@pytest.mark.parametrize("command", ["status", "failed"])
def test_local_commands_do_not_import_the_http_client(tmp_path: Path, command: str) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "server": {"url": "http://127.0.0.1:9", "api_key": "k" * 40},
        "state_dir": str(tmp_path / "state"), "albums": {"include": [str(photos)]}}))
    config.chmod(0o600)
    out = subprocess.run([sys.executable, "-c", PROBE, str(config), command],
                         capture_output=True, text=True, timeout=60, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
    _, rc, heavy = [*line.split(" "), ""][:3]
    assert rc == "0", out.stdout + out.stderr
    assert heavy == "", f"{command} imported {heavy}"


def test_the_client_is_still_importable_from_the_package() -> None:
    from immich_backupd.immich import ImmichClient
    from immich_backupd.immich.client import ImmichClient as Direct

    assert ImmichClient is Direct
