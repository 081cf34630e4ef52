"""The README, followed step by step by a new user, against the stand-in server.

Steps 3-6 of the README and "Reading what it does": init (its prompts driven through
stdin), check, once, status, failed, retry, install-service. Asserts on what the user
sees, not only on exit codes.
"""

from __future__ import annotations

import json
import re
import stat

from immich_backupd.config import load_settings

from .conftest import User


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_readme_walkthrough(server, user: User, tmp_path):
    n = len(user.lib.expected)

    # 3. init: answers typed at the prompts (here: through stdin).
    answers = "\n".join([server.url, server.api_key, *map(str, user.lib.include), "", ""])
    proc = user.run("init", input=answers)
    assert proc.returncode == 0, proc.stderr
    seen = proc.stdout + proc.stderr
    assert server.api_key not in seen, "init must never print the API key"
    assert "Immich server address" in proc.stdout and "API key" in proc.stdout
    assert "✓ Immich 3.1.0" in proc.stdout
    assert "immich-backupd check" in proc.stdout  # says what comes next
    assert mode(user.config) == 0o600
    key = user.config.parent / "api-key"
    assert mode(key) == 0o600 and key.read_text().strip() == server.api_key
    settings = load_settings(user.config, env={"HOME": str(user.home)})
    assert settings.server.url == server.url
    assert list(settings.albums.include) == list(user.lib.include)
    assert "docs/configuration.md" in user.config.read_text()  # commented for humans

    # The user edits the config to leave some folders out, as its comments show.
    text = user.config.read_text()
    assert "  exclude: []\n" in text
    text = text.replace("  exclude: []\n", "  exclude:\n" + "".join(
        f"    - {json.dumps(e)}\n" for e in user.lib.exclude))
    # (and, for the test's sake, retries that do not take minutes)
    text = text.replace("  album_sync: true\n", "  album_sync: true\n"
                        "  retry: {max_attempts: 2, initial: 10ms, max: 50ms}\n")
    user.config.write_text(text)

    # init again: refused, nothing changed.
    before = user.config.read_text()
    proc = user.run("init", input=answers)
    assert proc.returncode == 2 and "already exists" in proc.stderr and "--force" in proc.stderr
    assert user.config.read_text() == before

    # 4. check: every item ok.
    proc = user.run("check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "✓ Config" in out and "Immich 3.1.0" in out
    assert re.search(r"✓ API key .*all permissions", out)
    for folder in user.lib.include:
        assert re.search(rf"✓ Folder .*{re.escape(folder.name)}: \d+ photos? and \d+ videos?",
                         out), out
    assert "✓ State folder" in out and "writable" in out
    assert "Charging" in out and "Network" in out
    assert "✓ All good" in out and "Traceback" not in proc.stderr

    # status before the first backup: says what to do.
    proc = user.run("status")
    assert proc.returncode == 0
    assert proc.stdout.startswith("No backup yet") and "immich-backupd once" in proc.stdout

    # 5. once: the first backup, then again (nothing to do).
    proc = user.run("once")
    assert proc.returncode == 0, proc.stderr
    assert f"✓ Backup complete: {n} uploaded" in proc.stdout
    assert f"{n} of {n} files backed up" in proc.stdout
    proc = user.run("once")
    assert proc.returncode == 0 and "0 uploaded" in proc.stdout

    # Reading what it does: status.
    proc = user.run("status")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "✓ Backup complete"
    assert f"{n:,} of {n:,} backed up" in proc.stdout
    assert "Last backup: just now" in proc.stdout
    assert f"Server: {server.url} · Immich 3.1.0 · " in proc.stdout and "used" in proc.stdout
    assert "Backed up folders" in proc.stdout
    per_folder = {}
    for folder in user.lib.include:
        (line,) = [x for x in lines if x.strip().startswith("✓") and str(folder) in x]
        got, total = re.search(r"(\d+) of (\d+)$", line).groups()
        assert got == total
        per_folder[str(folder)] = int(total)
    assert sum(per_folder.values()) == n
    data = json.loads(user.run("status", "--json").stdout)
    assert data["state"] == "complete" and data["backed_up"] == data["total"] == n
    assert {f["path"]: f["total"] for f in data["folders"]} == per_folder
    for old_key in ("running", "pid", "counts", "failed", "last_backup_at", "last_pass",
                    "server", "albums", "include", "exclude", "live", "daemon"):
        assert old_key in data  # the keys scripts already read stay

    # failed: none yet. Then new photos while the server refuses uploads.
    assert "No failed uploads" in user.run("failed").stdout
    camera = user.lib.include[0] / "New"
    camera.mkdir()
    src = next(p for p in user.lib.expected if p.suffix.lower() == ".jpg")
    for i in range(3):
        (camera / f"NEW_{i}.jpg").write_bytes(src.read_bytes() + bytes([i]) * 64)
    server.faults.fail("POST", "/api/assets", 500, times=None)
    proc = user.run("once")
    assert proc.returncode == 1
    assert "immich-backupd failed" in proc.stdout

    proc = user.run("status")
    assert proc.stdout.splitlines()[0] == "✗ 3 uploads failed"
    assert "immich-backupd failed" in proc.stdout
    proc = user.run("failed")
    assert proc.returncode == 0
    header, *rows = proc.stdout.split("\n\n")[0].splitlines()
    assert header.split() == ["FILE", "REASON", "ATTEMPTS", "NEXT", "TRY"]
    assert len(rows) == 3 and all("NEW_" in r and "500" in r for r in rows)
    assert "3 uploads failed." in proc.stdout and "retry --all" in proc.stdout

    # retry one, then all: each says what changed.
    server.faults.clear()
    one = camera / "NEW_0.jpg"
    proc = user.run("retry", str(one))
    assert proc.stdout.splitlines()[0] == f"will retry: {one}"
    assert "1 file will be retried on the next pass." in proc.stdout
    proc = user.run("retry", "--all")
    assert "3 files will be retried on the next pass." in proc.stdout
    assert "immich-backupd once" in proc.stdout  # no daemon runs: says how to go now
    proc = user.run("once")
    assert proc.returncode == 0 and "3 uploaded" in proc.stdout
    assert user.run("status").stdout.startswith("✓ Backup complete")

    # 6. install-service into a unit folder of our own.
    units = tmp_path / "units"
    proc = user.run("install-service", "--user", "--dir", str(units))
    assert proc.returncode == 0, proc.stderr
    unit = units / "immich-backupd.service"
    assert f"✓ Wrote {unit}" in proc.stdout
    assert "systemctl --user enable --now immich-backupd" in proc.stdout
    assert "journalctl --user -u immich-backupd -p warning" in proc.stdout
    text = unit.read_text()
    assert str(user.config) in text and " run" in text
    proc = user.run("install-service", "--user", "--dir", str(units))
    assert proc.returncode == 0 and "already up to date" in proc.stdout


def test_init_without_questions_and_its_refusals(server, user: User):
    from .conftest import init_flags

    proc = user.run(*init_flags(user, server))
    assert proc.returncode == 0, proc.stderr
    assert server.api_key not in proc.stdout + proc.stderr
    assert not (user.config.parent / "api-key").exists()  # the given key file is used
    settings = load_settings(user.config, env={"HOME": str(user.home)})
    assert settings.server.key_source == "api_key_file"
    assert mode(user.config) == 0o600

    # a rejected key: said, nothing written (with --force over the good config)
    before = user.config.read_text()
    proc = user.run(*init_flags(user, server, key="wrong-key"), "--force")
    assert proc.returncode == 77
    assert "rejected the API key" in proc.stderr and "nothing written" in proc.stderr
    assert "wrong-key" not in proc.stdout + proc.stderr
    assert user.config.read_text() == before

    # a key lacking a permission: each missing one named
    weak = server.create_api_key(["asset.upload", "user.read"])
    proc = user.run(*init_flags(user, server, key=weak), "--force")
    assert proc.returncode == 77
    assert "album.read" in proc.stderr and "album.create" in proc.stderr
    assert weak not in proc.stdout + proc.stderr

    # the server down
    proc = user.run("init", "--force", "--url", "http://127.0.0.1:9", "--api-key-file",
                    str(user.home / "my-key"), "--folder", str(user.lib.include[0]))
    assert proc.returncode == 69 and "cannot reach the Immich server" in proc.stderr

    # --force with good answers replaces it
    proc = user.run(*init_flags(user, server), "--force", "--state-dir",
                    str(user.home / "state"))
    assert proc.returncode == 0, proc.stderr
    assert load_settings(user.config, env={"HOME": str(user.home)}).state_dir == \
        user.home / "state"


def test_init_prompts_end_of_input_is_a_usage_error(user: User):
    proc = user.run("init", input="")
    assert proc.returncode == 2 and "--url" in proc.stderr
    assert not user.config.exists()
