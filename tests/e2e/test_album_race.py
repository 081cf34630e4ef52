"""Two configs on the same folders, run at the same time: each album is created once
(album names are not unique on the server; issue 15, point 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from immich_standin import StandinServer
from immich_standin.library import make_library

from .conftest import REPO, check_clean, server_albums, write_config


def test_two_configs_racing_on_one_folder_create_each_album_once(tmp_path):
    with StandinServer(version="3.1.0") as srv:
        lib = make_library(tmp_path / "lib", photos=6)
        # Creating an album takes a while: both passes are in that window together.
        srv.faults.latency("POST", "/api/albums", 1.0)
        configs = []
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            configs.append(write_config(home, srv, lib))
        env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C", "LANGUAGE": ""}
        env["HOME"] = str(tmp_path)  # the same user: one lock folder
        env.pop("XDG_RUNTIME_DIR", None)
        procs = [subprocess.Popen(
            [sys.executable, "-m", "immich_backupd", "--config", str(c), "once"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=c.parent) for c in configs]
        try:
            outs = [p.communicate(timeout=120) for p in procs]
        finally:
            for p in procs:
                p.kill()
        assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
        names = [a.name for a in srv.state.albums.values()]
        assert sorted(names) == sorted(set(names)) == sorted(lib.albums)
        assert server_albums(srv) == lib.albums  # every file in its one album
        assert srv.state.counters.albums_created == len(lib.albums)
        for c in configs:  # and both states say so
            proc = subprocess.run(
                [sys.executable, "-m", "immich_backupd", "--config", str(c), "status",
                 "--json"], capture_output=True, text=True, env=env, check=False)
            data = json.loads(proc.stdout)
            assert data["backed_up"] == data["total"] == len(lib.expected)
        check_clean(srv)
