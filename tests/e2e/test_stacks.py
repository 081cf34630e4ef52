"""Stacks in the pass (issue 18): a RAW+JPEG pair and a burst become one stack each on the
stand-in, once across passes, also when the JPEG was on the server before or the RAW
arrives in a later pass, and never across folders."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from pathlib import Path

from immich_backupd.state import DB_NAME
from immich_standin.samples import apple_maker_note, heic_with_exif, jpeg_with_exif, tiff_exif

from .conftest import Setup, check_clean, write_config


def photo(path: Path) -> str:
    """Write a small file unique to its path; return its SHA-1 hex."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\xff\xd8\xff\xe0" + str(path).encode() * 40
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def stack_setup(tmp: Path, server, **stacks: bool) -> tuple[Setup, Path]:
    lib = tmp / "lib"
    lib.mkdir()
    config = stack_setup_config(tmp, server, lib, **stacks)
    return Setup(tmp=tmp, lib=None, config=config, state_dir=tmp / "state"), lib  # type: ignore[arg-type]


def stack_setup_config(tmp: Path, server, lib: Path, **stacks: bool) -> Path:
    """(Re)write the config: ``lib`` backed up, no albums, ``backup.stacks`` as given."""
    backup: dict = {"album_sync": False}
    if stacks:
        backup["stacks"] = stacks
    return write_config(tmp, server, None, albums={"include": [str(lib)]}, **backup)


def stacks_on(server) -> list[list[str]]:
    """Every stack on the server as the checksums of its members, the primary first."""
    with server.state.lock:
        ids = list(server.state.stacks)
    out = [[a.checksum_hex for a in server.state.stack_members(i)] for i in ids]
    return sorted(out)


def once(setup: Setup) -> None:
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr


def test_a_pair_and_a_burst_are_stacked_once_across_passes_never_across_folders(
        server, tmp_path):
    setup, lib = stack_setup(tmp_path, server, raw_jpeg=True, bursts=True)
    jpg, raw = photo(lib / "IMG_1234.JPG"), photo(lib / "IMG_1234.CR2")
    photo(lib / "other" / "IMG_1234.CR2")  # same name, another folder: no stack
    cover = photo(lib / "IMG_20231014_183246_BURST001_COVER.jpg")
    second = photo(lib / "IMG_20231014_183246_BURST002.jpg")
    photo(lib / "single.jpg")
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "2 stacks would be made (or made again with new files)." in dry.stdout, dry.stdout
    once(setup)
    assert stacks_on(server) == sorted([[jpg, raw], [cover, second]])
    assert server.state.counters.stacks_created == 2
    once(setup)  # nothing new: nothing sent again (the server would replace the stack)
    assert server.state.counters.stacks_created == 2
    assert not [r for r in server.state.requests if r.path.endswith("/stacks")][2:]
    # A third frame of the burst arrives: the burst's stack is made again with it.
    third = photo(lib / "IMG_20231014_183246_BURST003.jpg")
    once(setup)
    assert stacks_on(server) == sorted([[jpg, raw], [cover, second, third]])
    assert server.state.counters.stacks_created == 3
    check_clean(server)


def test_a_raw_arriving_later_is_stacked_with_the_jpeg_already_on_the_server(
        server, tmp_path):
    setup, lib = stack_setup(tmp_path, server)  # the defaults: raw_jpeg on, bursts off
    jpg = photo(lib / "IMG_0001.JPG")
    data = (lib / "IMG_0001.JPG").read_bytes()
    # Already on the server before the first pass (uploaded by the phone app).
    server.state.seed_asset(server.user.id, data, "IMG_0001.JPG")
    [photo(lib / f"IMG_20231014_183246_BURST00{i}.jpg") for i in (1, 2)]
    once(setup)
    assert stacks_on(server) == []  # a JPEG alone, and bursts are off by default
    raw = photo(lib / "IMG_0001.DNG")
    once(setup)
    assert stacks_on(server) == [[jpg, raw]]
    assert server.state.counters.stacks_created == 1


def test_stacks_off_sends_no_stack(server, tmp_path):
    setup, lib = stack_setup(tmp_path, server, raw_jpeg=False, bursts=False)
    photo(lib / "IMG_1.JPG")
    photo(lib / "IMG_1.CR2")
    once(setup)
    assert len(server.state.assets) == 2
    assert stacks_on(server) == []


def test_a_key_without_stack_create_backs_up_everything_and_says_why_no_stacks(
        server, tmp_path):
    setup, lib = stack_setup(tmp_path, server, raw_jpeg=True, bursts=True)
    key = server.state.create_api_key(server.user.id, [
        "asset.upload", "asset.read", "user.read", "album.read", "album.create",
        "albumAsset.create", "asset.update"])
    (tmp_path / "api-key").write_text(key + "\n")
    jpg, raw = photo(lib / "IMG_1.JPG"), photo(lib / "IMG_1.CR2")
    photo(lib / "plain" / "a.jpg")
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert len(server.state.assets) == 3
    assert stacks_on(server) == []
    assert "no stacks: the API key lacks a permission" in proc.stderr
    # Both switches are on: turning off raw_jpeg alone would not be enough.
    assert ("give it stack.create, or set backup.stacks.raw_jpeg: false and "
            "backup.stacks.bursts: false") in proc.stderr
    # The key gets the permission: the pair is stacked without any file changing.
    (tmp_path / "api-key").write_text(server.api_key + "\n")
    once(setup)
    assert stacks_on(server) == [[jpg, raw]]


def test_a_stack_the_server_refused_is_made_in_the_next_pass_without_new_files(
        server, tmp_path):
    setup, lib = stack_setup(tmp_path, server)
    jpg, raw = photo(lib / "IMG_7.JPG"), photo(lib / "IMG_7.ARW")
    server.faults.fail("POST", "/api/stacks", 400, times=1)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "tried again next pass" in proc.stderr
    assert stacks_on(server) == [] and len(server.state.assets) == 2
    once(setup)  # nothing changed on disk: the folder was kept as pending
    assert stacks_on(server) == [[jpg, raw]]
    once(setup)
    assert server.state.counters.stacks_created == 1


APPLE_BURST = "6C0F2A5E-3B1D-4F8A-9C7E-2D4B8A1F0E93"
OTHER_BURST = "0B7D1C4E-9A2F-4E3B-8D6C-5F1A2B3C4D5E"


def iphone(path: Path, burst: str | None, seed: int) -> str:
    """Write an iPhone photo (HEIC or JPEG by its name) whose maker note carries
    ``burst`` (None: taken alone); return its SHA-1 hex."""
    rng = random.Random(seed)
    tiff = tiff_exif("2024:05:01 10:30:00", "+02:00", little_endian=False,
                     maker_note=apple_maker_note(burst))
    image = rng.randbytes(3000)
    data = heic_with_exif(tiff, image) if path.suffix == ".HEIC" else jpeg_with_exif(tiff, image)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def test_an_apple_burst_is_stacked_once_by_the_id_inside_its_files(server, tmp_path):
    """Three frames of one iPhone burst (names like any photo's): the first frame was on
    the server before (the phone app), the second goes up in the first pass, the third
    arrives later. One stack, the first frame on top, remade once with the third; the
    same id in another folder and a photo taken alone stay out."""
    setup, lib = stack_setup(tmp_path, server, bursts=True)
    first = iphone(lib / "IMG_0101.HEIC", APPLE_BURST, 1)
    server.state.seed_asset(server.user.id, (lib / "IMG_0101.HEIC").read_bytes(),
                            "IMG_0101.HEIC")
    second = iphone(lib / "IMG_0102.HEIC", APPLE_BURST, 2)
    iphone(lib / "IMG_0104.HEIC", None, 4)
    iphone(lib / "other" / "IMG_0105.JPG", APPLE_BURST, 5)
    once(setup)
    assert stacks_on(server) == [[first, second]]
    once(setup)  # nothing new: nothing sent again
    assert server.state.counters.stacks_created == 1
    third = iphone(lib / "IMG_0103.JPG", APPLE_BURST, 3)
    once(setup)
    assert stacks_on(server) == [[first, second, third]]
    assert server.state.counters.stacks_created == 2
    check_clean(server)


def test_frames_backed_up_before_their_burst_ids_were_read_are_read_once(server, tmp_path):
    """Bursts off (or an earlier release): frames go up without their ids. Switched on,
    the next pass that backs up a file of the folder reads the others' headers once,
    and the whole burst is stacked."""
    setup, lib = stack_setup(tmp_path, server, bursts=False)
    frames = [iphone(lib / f"IMG_020{i}.JPG", APPLE_BURST, 20 + i) for i in (1, 2)]
    once(setup)
    assert stacks_on(server) == []
    stack_setup_config(tmp_path, server, lib, bursts=True)
    frames.append(iphone(lib / "IMG_0203.JPG", APPLE_BURST, 23))
    once(setup)
    assert stacks_on(server) == [frames]
    conn = sqlite3.connect(setup.state_dir / DB_NAME)
    assert conn.execute("SELECT count(*) FROM files WHERE burst=?",
                        (APPLE_BURST,)).fetchone()[0] == 3
    conn.close()
    once(setup)
    assert server.state.counters.stacks_created == 1


def test_bursts_switched_on_stack_a_library_backed_up_before_without_a_new_file(
        server, tmp_path):
    """A library backed up with bursts off, then bursts on and nothing new: the next pass
    reads the headers of the photos backed up before, once, in every folder, and stacks
    their bursts; the pass after it reads nothing and sends no stack."""
    setup, lib = stack_setup(tmp_path, server, bursts=False)
    first = [iphone(lib / "2023" / f"IMG_030{i}.HEIC", APPLE_BURST, 30 + i) for i in (1, 2, 3)]
    second = [iphone(lib / "2024" / f"IMG_040{i}.JPG", OTHER_BURST, 40 + i) for i in (1, 2)]
    iphone(lib / "2024" / "IMG_0409.JPG", None, 49)  # taken alone
    photo(lib / "2024" / "IMG_0410.CR2")  # a RAW: no burst id is read from it
    once(setup)
    assert stacks_on(server) == []
    uploads = server.state.counters.upload_requests
    stack_setup_config(tmp_path, server, lib, bursts=True)
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "6 photos backed up before to look at for iPhone bursts" in dry.stdout, dry.stdout
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert "read the burst ids of 6 photos backed up before: 5 frames of an iPhone burst in 2 " \
           "folders" in proc.stderr, proc.stdout + proc.stderr
    # The first frame by name on top; the server keeps the others in no set order.
    assert sorted([s[0], *sorted(s[1:])] for s in stacks_on(server)) == sorted(
        [f[0], *sorted(f[1:])] for f in (first, second))
    assert server.state.counters.upload_requests == uploads  # nothing went up again
    conn = sqlite3.connect(setup.state_dir / DB_NAME)
    unread = conn.execute("SELECT name FROM files WHERE burst IS NULL").fetchall()
    conn.close()
    assert unread == [(b"IMG_0410.CR2",)]
    proc = setup.run("once")  # all read: nothing is read again, no stack sent again
    assert proc.returncode == 0, proc.stderr
    assert "read the burst ids" not in proc.stderr, proc.stderr
    dry = setup.run("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "for iPhone burst" not in dry.stdout, dry.stdout
    assert server.state.counters.stacks_created == 2
    # Off again, a frame goes up unread; on again, with nothing new, it is read and the
    # burst stacked again with it.
    stack_setup_config(tmp_path, server, lib, bursts=False)
    second.append(iphone(lib / "2024" / "IMG_0403.JPG", OTHER_BURST, 43))
    once(setup)
    stack_setup_config(tmp_path, server, lib, bursts=True)
    once(setup)
    assert server.state.counters.stacks_created == 3
    assert sorted([s[0], *sorted(s[1:])] for s in stacks_on(server)) == sorted(
        [f[0], *sorted(f[1:])] for f in (first, second))
    check_clean(server)


def stack_posts(server) -> int:
    return len([r for r in server.state.requests
                if r.method == "POST" and r.path.endswith("/stacks")])


def user_changes_the_cover(server, checksum: str) -> str:
    """In Immich, the user puts another member on top of the only stack (PUT /stacks/{id}
    does the same); return the stack's id."""
    with server.state.lock:
        (stack,) = server.state.stacks.values()
        stack.primary_asset_id = next(a.id for a in server.state.stack_members(stack.id)
                                      if a.checksum_hex == checksum)
        return stack.id


def test_a_renamed_folder_keeps_its_stack_and_the_cover_the_user_chose(server, tmp_path):
    """The files of a stack move to another folder, unchanged: the state knows their
    server ids and their stack, so nothing is sent again (the server would replace the
    stack, dropping what the user changed in it)."""
    setup, lib = stack_setup(tmp_path, server)
    jpg, raw = photo(lib / "2024" / "IMG_1.JPG"), photo(lib / "2024" / "IMG_1.CR2")
    once(setup)
    assert stacks_on(server) == [[jpg, raw]] and stack_posts(server) == 1
    stack_id = user_changes_the_cover(server, raw)
    (lib / "2024").rename(lib / "2024 Rome")
    once(setup)
    assert stack_posts(server) == 1
    assert list(server.state.stacks) == [stack_id] and stacks_on(server) == [[raw, jpg]]
    # A file joining the renamed folder's group later has the stack made again, once.
    (lib / "2024 Rome" / "IMG_1.HEIC").write_bytes(b"\xff\xd8\xff\xe1" + b"heic" * 50)
    once(setup)
    once(setup)
    assert stack_posts(server) == 2 and len(server.state.stacks) == 1


def test_a_lost_state_asks_the_server_and_sends_no_stack_that_exists(server, tmp_path):
    setup, lib = stack_setup(tmp_path, server)
    jpg, raw = photo(lib / "IMG_2.JPG"), photo(lib / "IMG_2.NEF")
    once(setup)
    stack_id = user_changes_the_cover(server, raw)
    shutil.rmtree(setup.state_dir)  # the state lost: every file is found on the server
    once(setup)
    assert stack_posts(server) == 1
    assert list(server.state.stacks) == [stack_id] and stacks_on(server) == [[raw, jpg]]
    asked = [r for r in server.state.requests if r.method == "GET" and "/assets/" in r.path]
    assert asked  # GET /assets/{id}: its stack
    once(setup)  # found once, remembered: not asked again
    assert stack_posts(server) == 1
    assert len([r for r in server.state.requests
                if r.method == "GET" and "/assets/" in r.path]) == len(asked)
    # A pair found on the server unstacked is still stacked.
    photo(lib / "IMG_3.JPG"), photo(lib / "IMG_3.NEF")
    shutil.rmtree(setup.state_dir)
    once(setup)
    assert stack_posts(server) == 2 and len(server.state.stacks) == 2


def test_switching_stacks_on_stacks_the_named_groups_backed_up_before(server, tmp_path):
    """raw_jpeg and bursts switched on for a library backed up without them: the next
    pass stacks the pairs and the named bursts of every folder, with no new file."""
    setup, lib = stack_setup(tmp_path, server, raw_jpeg=False, bursts=False)
    jpg, raw = photo(lib / "a" / "IMG_1.JPG"), photo(lib / "a" / "IMG_1.CR2")
    frames = [photo(lib / "b" / f"20231207_101605_00{i}.jpg") for i in (1, 2)]
    once(setup)
    assert stacks_on(server) == []
    stack_setup_config(tmp_path, server, lib, raw_jpeg=True, bursts=False)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert stacks_on(server) == [[jpg, raw]]
    stack_setup_config(tmp_path, server, lib, raw_jpeg=True, bursts=True)
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert stacks_on(server) == sorted([[jpg, raw], frames])
    # The lines say which is which: no iPhone burst among them, the named one stacked.
    assert "backed up before: 0 frames of an iPhone burst in 0 folders" in proc.stderr
    assert ("the stack settings changed: 4 files backed up before grouped by name, "
            "2 folders with stacks to make or keep") in proc.stderr
    once(setup)
    assert server.state.counters.stacks_created == 2


def test_a_key_without_asset_read_leaves_files_found_on_the_server_unstacked(
        server, tmp_path):
    """Whether files the server had are stacked already cannot be asked: they are not
    stacked (that could replace a stack), the log says why, and the next pass with the
    permission asks and stacks."""
    setup, lib = stack_setup(tmp_path, server)
    jpg, raw = photo(lib / "IMG_4.JPG"), photo(lib / "IMG_4.NEF")
    for name in ("IMG_4.JPG", "IMG_4.NEF"):
        server.state.seed_asset(server.user.id, (lib / name).read_bytes(), name)
    key = server.state.create_api_key(server.user.id, [
        "asset.upload", "user.read", "album.read", "album.create", "albumAsset.create",
        "asset.update", "stack.create"])
    (tmp_path / "api-key").write_text(key + "\n")
    proc = setup.run("once")
    assert proc.returncode == 0, proc.stderr
    assert stack_posts(server) == 0
    assert "give it asset.read" in proc.stderr
    (tmp_path / "api-key").write_text(server.api_key + "\n")
    once(setup)  # the folder was kept as pending
    assert stacks_on(server) == [[jpg, raw]] and stack_posts(server) == 1


def test_switching_raw_jpeg_on_leaves_a_pair_the_user_stacked_in_immich(server, tmp_path):
    setup, lib = stack_setup(tmp_path, server, raw_jpeg=False)
    jpg, raw = photo(lib / "IMG_5.JPG"), photo(lib / "IMG_5.ORF")
    once(setup)
    with server.state.lock:  # the user stacks them in Immich, the RAW on top
        ids = {a.checksum_hex: a.id for a in server.state.assets.values()}
    stack = server.state.create_stack(server.user.id, [ids[raw], ids[jpg]])
    stack_setup_config(tmp_path, server, lib, raw_jpeg=True)
    once(setup)
    once(setup)
    assert stack_posts(server) == 0
    assert list(server.state.stacks) == [stack.id] and stacks_on(server) == [[raw, jpg]]
