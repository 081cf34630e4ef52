"""How the command line and the running daemon agree, through files in the state folder.

``state_dir/dashboard/`` (mode 0700) holds:

- ``address.json``: ``{"url", "pid"}``, written by the daemon once it listens and removed
  when it stops; ``immich-backupd dashboard`` reads it to find the daemon.
- ``api-token``: the bearer token of ``/api/v1/`` (0600), made by the daemon on first
  start and kept across restarts; ``--api-token`` prints it. ``--rotate`` replaces it
  (``rotate_api_token``); the daemon sees the file change (``token_signature``) at the
  next request, refuses the old token from then on and ends every session.
- ``login/<sha256 of a token>``: one-time login tokens minted by the command line (0600).
  Only a process of the user who owns the state folder can write there, which is what
  makes a token worth a session. The daemon accepts a token once, within
  ``LOGIN_TTL`` seconds, and deletes its file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

DIR_NAME = "dashboard"
ADDRESS_NAME = "address.json"
API_TOKEN_NAME = "api-token"
LOGIN_DIR = "login"
LOGIN_TTL = 300.0  # seconds a printed login link stays good


def folder(state_dir: Path) -> Path:
    path = state_dir / DIR_NAME
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_address(state_dir: Path, url: str, pid: int) -> None:
    _write_private(folder(state_dir) / ADDRESS_NAME, json.dumps({"url": url, "pid": pid}))


def remove_address(state_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (state_dir / DIR_NAME / ADDRESS_NAME).unlink()


def read_address(state_dir: Path) -> dict[str, Any] | None:
    """The running daemon's ``{"url", "pid"}``, or None when none listens (no file, or
    its process is gone)."""
    try:
        data = json.loads((state_dir / DIR_NAME / ADDRESS_NAME).read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid") if isinstance(data, dict) else None
    if not isinstance(pid, int) or pid <= 0 or not isinstance(data.get("url"), str):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return data


def ensure_api_token(state_dir: Path) -> str:
    """The API token, made (0600) on first use."""
    path = folder(state_dir) / API_TOKEN_NAME
    token = read_api_token(state_dir)
    if token is None:
        token = secrets.token_urlsafe(32)
        _write_private(path, token + "\n")
    return token


def rotate_api_token(state_dir: Path) -> None:
    """Replace the API token by a new one (0600). The file is replaced, never rewritten
    in place, so its signature changes even within one clock tick."""
    _write_private(folder(state_dir) / API_TOKEN_NAME, secrets.token_urlsafe(32) + "\n")


def token_signature(state_dir: Path) -> tuple[int, int] | None:
    """What identifies the API token file's version: (inode, mtime in ns); None if absent."""
    try:
        st = (state_dir / DIR_NAME / API_TOKEN_NAME).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def read_api_token(state_dir: Path) -> str | None:
    try:
        token = (state_dir / DIR_NAME / API_TOKEN_NAME).read_text().strip()
    except OSError:
        return None
    return token or None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def mint_login_token(state_dir: Path) -> str:
    """A new one-time login token, left for the daemon in ``login/`` (0600)."""
    login = folder(state_dir) / LOGIN_DIR
    login.mkdir(exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    _write_private(login / _digest(token), "")
    return token


def consume_login_token(state_dir: Path, token: str, now: float | None = None) -> bool:
    """True once for a token minted less than ``LOGIN_TTL`` seconds ago; its file goes
    either way. Tokens found expired on the way are removed too."""
    now = time.time() if now is None else now
    login = state_dir / DIR_NAME / LOGIN_DIR
    path = login / _digest(token)
    try:
        age = now - path.stat().st_mtime
        path.unlink()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        for old in login.iterdir():
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > LOGIN_TTL:
                    old.unlink()
    return 0 <= age <= LOGIN_TTL
