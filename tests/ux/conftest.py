"""The CLI as a new user meets it: a temporary HOME, no config, the stand-in server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from immich_standin import StandinServer
from immich_standin.library import Library, make_library

REPO = Path(__file__).resolve().parents[2]


@dataclass
class User:
    """Someone with a HOME, a photo library and the program; runs it as they would."""

    home: Path
    lib: Library
    lang: str = "C.UTF-8"

    @property
    def config(self) -> Path:
        return self.home / ".config" / "immich-backupd" / "config.yaml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "IMMICH_", "LC_")) and k not in (
                   "LANGUAGE", "LANG", "DBUS_SESSION_BUS_ADDRESS")}
        return {**env, "HOME": str(self.home), "PYTHONPATH": str(REPO), "LANG": self.lang,
                "COLUMNS": "120", **extra}

    def run(self, *args: str, input: str | None = None, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "immich_backupd", *args], input=input,
            capture_output=True, text=True, timeout=timeout, env=self.env(**env),
            cwd=self.home, check=False,
        )


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with StandinServer(version="3.1.0") as srv:
        yield srv
        assert srv.state.violations == []


@pytest.fixture
def user(tmp_path: Path) -> User:
    home = tmp_path / "home"
    home.mkdir()
    return User(home=home, lib=make_library(tmp_path / "lib", photos=4))


def key_file(user: User, key: str) -> Path:
    path = user.home / "my-key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return path


def init_flags(user: User, srv: StandinServer, key: str | None = None) -> list[str]:
    folders = [a for f in user.lib.include for a in ("--folder", str(f))]
    excludes = [a for e in user.lib.exclude for a in ("--exclude", e)]
    return ["init", "--url", srv.url, "--api-key-file",
            str(key_file(user, key if key is not None else srv.api_key)), *folders, *excludes]
