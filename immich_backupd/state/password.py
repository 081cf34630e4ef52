"""The dashboard's password, kept hashed in the state folder.

``state_dir/dashboard/password`` (0600) holds one line, ``scrypt$N$r$p$salt$hash`` (salt
and hash in URL-safe base64): never the password. ``immich-backupd dashboard
--set-password`` writes it; the daemon checks a login against it (``verify``), reading
the file each time, so a new password holds at once. A dashboard listening beyond
loopback is served only when this file exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

DIR_NAME = "dashboard"  # the same folder as dashboard.tokens
PASSWORD_NAME = "password"
# scrypt's cost: 16 MiB and ~50 ms a try here, which also slows guessing.
N, R, P = 2**14, 8, 1
MIN_LENGTH = 8


def password_path(state_dir: Path) -> Path:
    return state_dir / DIR_NAME / PASSWORD_NAME


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of ``password`` (a fresh random salt unless given)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    enc = base64.urlsafe_b64encode
    return f"scrypt${N}${R}${P}${enc(salt).decode()}${enc(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Does ``password`` match the stored form? False for a malformed one."""
    try:
        kind, n, r, p, salt, digest = stored.strip().split("$")
        if kind != "scrypt":
            return False
        want = base64.urlsafe_b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.urlsafe_b64decode(salt),
                             n=int(n), r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def has_password(state_dir: Path) -> bool:
    try:
        return bool(password_path(state_dir).read_text().strip())
    except OSError:
        return False


def verify(state_dir: Path, password: str) -> bool:
    """Does ``password`` match the one set? False when none is set."""
    try:
        stored = password_path(state_dir).read_text()
    except OSError:
        return False
    return check_password(password, stored)


def set_password(state_dir: Path, password: str) -> None:
    """Keep ``password``, hashed, in place of any earlier one (0600, atomically)."""
    folder = state_dir / DIR_NAME
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = password_path(state_dir)
    tmp = path.with_name(f".{PASSWORD_NAME}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(hash_password(password) + "\n")
    os.replace(tmp, path)
