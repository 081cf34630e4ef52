"""`once --dry-run`: what a pass would upload and put in albums, while the server gets
only read requests (no POST, PUT or DELETE) and the state stays as it was."""

from __future__ import annotations

import sqlite3

from .conftest import Setup, check_clean, write_config


def writes(server) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.state.requests
            if r.method not in ("GET", "HEAD", "OPTIONS")]


def dump(state_dir) -> list[str]:
    conn = sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_first_dry_run_lists_everything_and_writes_nothing(server, make_setup):
    setup = make_setup(server)
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    expected = setup.lib.expected
    listed = [line for line in proc.stdout.splitlines() if line.startswith("  + ")]
    assert len(listed) == len(expected), proc.stdout
    for path in expected:
        assert any(str(path) in line or path.name in line for line in listed), path
    assert f"{len(expected)} to check with the server and upload" in proc.stdout
    assert "Dry run: nothing was uploaded" in proc.stdout
    assert "would get files" in proc.stdout and "new:" in proc.stdout
    assert writes(server) == []
    assert not (setup.state_dir / "state.sqlite3").exists()
    assert server.state.assets == {}


def test_after_a_backup_only_the_new_file_is_listed_and_the_state_is_unchanged(
        server, make_setup):
    setup = make_setup(server)
    assert setup.run("once").returncode == 0
    new = setup.lib.include[0] / "new-photo.jpg"
    new.write_bytes(b"\xff\xd8\xff\xe0 a new photo" * 100)
    before = dump(setup.state_dir)
    requests_before = len(server.state.requests)
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    listed = [line for line in proc.stdout.splitlines() if line.startswith("  + ")]
    assert len(listed) == 1 and "new-photo.jpg" in listed[0], proc.stdout
    assert f"{len(setup.lib.expected)} backed up" in proc.stdout
    assert not [r for r in server.state.requests[requests_before:]
                if r.method not in ("GET", "HEAD")]
    assert dump(setup.state_dir) == before
    # And the real pass then does what the dry run said.
    assert setup.run("once").returncode == 0
    assert server.state.counters.created == len(setup.lib.expected) + 1
    check_clean(server)


def test_an_include_folder_not_there_is_said_as_once_says_it(server, make_setup):
    """A USB disk listed in albums.include but not plugged in: ``once`` says it waits for
    it (and exits 1), and the dry run says the same line where it had said nothing on
    its output (an OS error in the log) and counted the rest as the whole backup."""
    setup = make_setup(server)
    usb = setup.tmp / "usb" / "DCIM"
    config = write_config(setup.tmp, server, None, albums={
        "include": [*(str(p) for p in setup.lib.include),
                    {"path": str(usb), "album": "USB", "tags": ["USB"]}],
        "exclude": setup.lib.exclude})
    setup = Setup(tmp=setup.tmp, lib=setup.lib, config=config, state_dir=setup.state_dir)
    line = f"⏸ Waiting for {usb} (not mounted)"
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert line in proc.stdout.splitlines(), proc.stdout
    assert "cannot read" not in proc.stderr and "Errno" not in proc.stderr, proc.stderr
    proc = setup.run("once")
    assert proc.returncode == 1 and line in proc.stdout.splitlines(), proc.stdout
    assert writes(server)  # the rest was backed up


def test_stacks_and_tags_the_key_may_not_make_are_not_promised(server, tmp_path):
    """A key without stack.create and the tag permissions: ``once`` backs up without
    stacks and tags (and logs why). The dry run read the key's permissions and still said
    "1 stack would be made" and listed the tags; it now says none will be."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("IMG_1.JPG", "IMG_1.CR2"):
        (lib / name).write_bytes(b"\xff\xd8\xff\xe0" + name.encode() * 200)
    key = server.state.create_api_key(server.user.id, [
        "asset.upload", "asset.read", "user.read", "album.read", "album.create",
        "albumAsset.create", "asset.update"])
    config = write_config(tmp_path, server, None, api_key=key,
                          albums={"include": [{"path": str(lib), "tags": ["Family"]}]})
    setup = Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                  state_dir=tmp_path / "state")
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "1 stack would be made, but the API key lacks stack.create: none will be." in lines
    assert "The API key lacks tag.create, tag.asset: no tag will be set or taken off." in lines
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert not server.state.stacks and not server.state.tags  # as the dry run said
    # With every permission, the dry run promises them again, and no limit is said.
    (tmp_path / "api-key").write_text(server.api_key + "\n")
    (lib / "IMG_2.JPG").write_bytes(b"\xff\xd8\xff\xe0" + b"2" * 300)
    (lib / "IMG_2.CR2").write_bytes(b"\xff\xd8\xff\xe0" + b"3" * 300)
    proc = setup.run("once", "--dry-run")
    assert "1 stack would be made (or made again with new files)." in proc.stdout
    assert "lacks" not in proc.stdout


def test_one_photo_and_one_video_are_counted_in_the_singular(server, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"a" * 300)
    (lib / "b.mp4").write_bytes(b"\0\0\0\x18ftypisom" + b"b" * 300)
    config = write_config(tmp_path, server, None, albums={"include": [str(lib)]})
    setup = Setup(tmp=tmp_path, lib=None, config=config,  # type: ignore[arg-type]
                  state_dir=tmp_path / "state")
    proc = setup.run("once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "2 to check with the server and upload (1 photo, 1 video, " in proc.stdout
