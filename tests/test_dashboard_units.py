"""The dashboard's decisions without a server: tokens, sessions, Host/Origin, languages."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from immich_backupd.dashboard import guard, tokens
from immich_backupd.dashboard.server import accept_languages


def test_a_login_token_works_once_and_only_while_fresh(tmp_path):
    token = tokens.mint_login_token(tmp_path)
    login = tmp_path / tokens.DIR_NAME / tokens.LOGIN_DIR
    (only,) = login.iterdir()
    assert stat.S_IMODE(only.stat().st_mode) == 0o600 and token not in only.name
    assert not tokens.consume_login_token(tmp_path, "guessed")
    now = only.stat().st_mtime
    assert tokens.consume_login_token(tmp_path, token, now=now + 10)
    assert not tokens.consume_login_token(tmp_path, token, now=now + 10)  # once
    late = tokens.mint_login_token(tmp_path)
    minted = next(login.iterdir()).stat().st_mtime
    assert not tokens.consume_login_token(tmp_path, late, now=minted + tokens.LOGIN_TTL + 1)


def test_the_api_token_is_private_and_kept(tmp_path):
    first = tokens.ensure_api_token(tmp_path)
    path = tmp_path / tokens.DIR_NAME / tokens.API_TOKEN_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tokens.ensure_api_token(tmp_path) == first == tokens.read_api_token(tmp_path)


def test_the_address_is_found_only_while_its_process_lives(tmp_path):
    tokens.write_address(tmp_path, "http://127.0.0.1:1", os.getpid())
    assert tokens.read_address(tmp_path) == {"url": "http://127.0.0.1:1", "pid": os.getpid()}
    tokens.write_address(tmp_path, "http://127.0.0.1:1", 2**22 + 12345)  # no such pid
    assert tokens.read_address(tmp_path) is None
    tokens.remove_address(tmp_path)
    assert tokens.read_address(tmp_path) is None


def test_host_and_origin():
    hosts = guard.allowed_hosts("127.0.0.1", 8484)
    assert hosts == {"127.0.0.1:8484", "localhost:8484"}
    assert guard.host_allowed("LOCALHOST:8484", hosts)
    assert not guard.host_allowed("attacker.example:8484", hosts)
    assert not guard.host_allowed("127.0.0.1:8485", hosts) and not guard.host_allowed(None, hosts)
    assert guard.allowed_hosts("::1", 1) == {"[::1]:1", "localhost:1"}
    ok = guard.origin_allowed
    assert ok("GET", "http://evil.example", "cross-site", hosts)  # reading: auth decides
    assert ok("POST", None, None, hosts)  # curl, a script
    assert ok("POST", "http://127.0.0.1:8484", "same-origin", hosts)
    assert not ok("POST", "http://evil.example", None, hosts)
    assert not ok("POST", "http://127.0.0.1:9999", None, hosts)  # another port: another site
    assert not ok("POST", None, "same-site", hosts)
    assert not ok("DELETE", None, "cross-site", hosts)


def test_tokens_and_sessions():
    assert guard.bearer("Bearer abc") == "abc" and guard.bearer("bearer  abc ") == "abc"
    assert guard.bearer("Basic abc") is None and guard.bearer(None) is None
    assert guard.token_equal("a", "a") and not guard.token_equal("a", "b")
    assert not guard.token_equal("", "") and not guard.token_equal(None, "a")
    sessions = guard.Sessions(ttl=100)
    sid, session = sessions.create(now=0)
    assert sessions.get(sid, now=50) is session and session.csrf
    assert sessions.get("other", now=50) is None
    assert sessions.get(sid, now=101) is None  # expired, and gone
    sid, _ = sessions.create(now=200)
    sessions.end(sid)
    assert sessions.get(sid, now=200) is None


def test_accept_language_order():
    assert accept_languages("de-DE,de;q=0.9,en;q=0.8") == ["de-DE", "de", "en"]
    assert accept_languages("en;q=0.5, de") == ["de", "en"]
    assert accept_languages("fr;q=0, *;q=0.1") == []
    assert accept_languages(None) == []


def test_folder_tally_counts_files_below_each_folder() -> None:
    from immich_backupd.dashboard.folders import tally
    rows = [(Path("/p/a"), "uploaded", 3), (Path("/p/a/deep/er"), "failed", 2),
            (Path("/p/b"), "duplicate", 1), (Path("/p/ab"), "uploaded", 7),
            (Path("/q"), "uploaded", 5)]
    got = tally(rows, [Path("/p/a"), Path("/p/b"), Path("/p/c")])
    assert got == {Path("/p/a"): {"total": 5, "backed_up": 3},
                   Path("/p/b"): {"total": 1, "backed_up": 1},
                   Path("/p/c"): {"total": 0, "backed_up": 0}}


def test_folder_edit_bodies_are_checked() -> None:
    from immich_backupd.config.edit import FolderEdit, FolderList, ListOp
    from immich_backupd.dashboard.folders import parse_folder_edit
    good = {"list": "exclude", "op": "add", "entry": " /p/x "}
    assert parse_folder_edit(good) == FolderEdit(FolderList.EXCLUDE, ListOp.ADD, "/p/x")
    for bad in (None, [], {**good, "list": "other"}, {**good, "op": "toggle"},
                {**good, "entry": ""}, {**good, "entry": "a\nb"}, {**good, "entry": 3},
                {**good, "extra": 1}, {"list": "include", "op": "add"}):
        assert parse_folder_edit(bad) is None, bad


def test_only_readable_subfolders_are_offered(tmp_path: Path) -> None:
    from immich_backupd.dashboard.folders import readable_subfolders
    for name in ("b", "a", "locked"):
        (tmp_path / name).mkdir()
    (tmp_path / "file.jpg").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "locked").chmod(0)
    try:
        got = [p.name for p in readable_subfolders(tmp_path)]
        expected = ["a", "b"] if not os.access(tmp_path / "locked", os.R_OK) else \
            ["a", "b", "locked"]  # root reads everything
        assert got == expected
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_settings_toggles_are_the_configs_booleans() -> None:
    from dataclasses import replace

    from immich_backupd.config import BackupSettings, Metered, parse_settings
    from immich_backupd.config.edit import ValueEdit
    from immich_backupd.dashboard.toggles import KEYS, parse_toggle, toggles
    settings = parse_settings("server: {url: https://x.example, api_key: " + "k" * 30 +
                              "}\nalbums: {include: [/]}\n")
    settings = replace(settings, backup=replace(BackupSettings(), require_charging=True,
                                                metered=Metered(photos=False, videos=True)))
    got = {t["key"]: t["value"] for t in toggles(settings)}
    assert list(got) == list(KEYS)
    assert got["backup.require_charging"] is True and got["backup.album_sync"] is True
    assert (got["backup.metered.photos"], got["backup.metered.videos"]) == (False, True)
    assert parse_toggle({"key": "backup.metered.videos", "value": False}) == \
        ValueEdit(("backup", "metered", "videos"), False)
    for bad in (None, {"key": "backup.concurrency", "value": True},
                {"key": "backup.album_sync", "value": "false"},
                {"key": "backup.album_sync"}, {"key": "backup.album_sync", "value": 1, "x": 2}):
        assert parse_toggle(bad) is None, bad
