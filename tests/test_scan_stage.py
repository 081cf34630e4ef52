"""The scan stage (pipeline/scanning.py): a real folder tree, a real SQLite state, the
hash and record stages behind it. No server process."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from immich_backupd.config import parse_settings
from immich_backupd.hashing.hasher import Hasher
from immich_backupd.media import kinds as media
from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from immich_backupd.pipeline.hash import HashStage, KeptBytes
from immich_backupd.pipeline.plan import END
from immich_backupd.pipeline.record import Recorder
from immich_backupd.pipeline.scanning import Hold, PassScope, ScanStage
from immich_backupd.pipeline.settling import SettleQueue
from immich_backupd.report.progress import Progress, Reporter
from immich_backupd.scan.folder_problems import ProblemKind
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.state import (
    FAILED,
    UPLOADED,
    FileRecord,
    StateStore,
    WorkerReads,
    file_row,
    split_path,
)

OLD = 1_600_000_000  # an mtime long settled


def photo(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8" + body)
    os.utime(path, (OLD, OLD))
    return path


class Pass:
    """The parts a scan stage needs, real, for one tree."""

    def __init__(self, tmp_path: Path, roots: list[Path]) -> None:
        inc = "".join(f"\n    - {r}" for r in roots)
        self.settings = parse_settings(
            f"server:\n  url: http://127.0.0.1:9\n  api_key: k\nstate_dir: {tmp_path / 's'}\n"
            f"albums:\n  include:{inc}\n", env={"HOME": str(tmp_path)})

    async def __aenter__(self) -> Pass:
        self.store = await StateStore.open(self.settings.state_dir)
        self.reads = WorkerReads(self.store.path)
        self.hasher = Hasher(1)
        self.stop = asyncio.Event()
        kept = KeptBytes(self.stop.is_set)
        self.rec = Recorder(self.store, Progress(), Reporter(), give_back=kept.give_back)
        hash_stage = HashStage(self.hasher, self.reads, self.rec, kept,
                               stopping=self.stop.is_set)
        self.verdicts: dict[str, Hold] = {}
        self.stage = ScanStage(
            self.settings, AlbumRules.from_settings(self.settings.albums),
            DEFAULT_MEDIA_TYPES, self.reads, self.rec, hash_stage, stop=self.stop,
            settling=SettleQueue(self.settings.backup.settle_time), clock=lambda: OLD + 10**6,
            scope=PassScope(hold=lambda p, st: self.verdicts.get(p.name, Hold.UNKNOWN)))
        self.found = self.stage.result
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.hasher.close()
        self.reads.close()
        await self.store.close()

    async def scan(self) -> tuple[list, list]:
        """Run the stage; what reached the hash queue and the check queue."""
        hash_q: asyncio.Queue[object] = asyncio.Queue()
        check_q: asyncio.Queue[object] = asyncio.Queue()
        await self.stage.run(hash_q, check_q, n_workers=2)
        drained = [hash_q.get_nowait() for _ in range(hash_q.qsize())]
        assert drained[-2:] == [END, END]  # one end marker per hash worker
        checks = [check_q.get_nowait() for _ in range(check_q.qsize())]
        return drained[:-2], checks


def names(groups: list) -> list[str]:
    return sorted(c.path.name for g in groups for u in g for c in u.members)


async def test_new_small_photos_are_hashed_by_the_scanner(tmp_path):
    lib = tmp_path / "lib"
    photo(lib / "2024" / "a.jpg", b"a" * 100)
    photo(lib / "2024" / "b.jpg", b"b" * 100)
    async with Pass(tmp_path, [lib]) as p:
        to_hash, to_check = await p.scan()
        assert to_hash == [] and names(to_check) == ["a.jpg", "b.jpg"]
        assert to_check[0][0].members[0].blake3 is not None  # hashed on the way
        assert (p.rec.progress.seen, p.rec.progress.planned) == (2, 2)


async def test_larger_photos_go_to_the_hash_workers(tmp_path):
    lib = tmp_path / "lib"
    photo(lib / "big.jpg", os.urandom(1 << 20))
    async with Pass(tmp_path, [lib]) as p:
        to_hash, to_check = await p.scan()
        assert names(to_hash) == ["big.jpg"] and to_check == []
        assert to_hash[0][0].members[0].blake3 is None  # the workers hash it


async def test_a_file_backed_up_as_it_is_is_only_counted(tmp_path):
    lib = tmp_path / "lib"
    done = photo(lib / "done.jpg", b"done")
    st = done.stat()
    async with Pass(tmp_path, [lib]) as p:
        await p.store.put(FileRecord(path=done, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                     ino=st.st_ino, status=UPLOADED, remote_id="a",
                                     sha1=b"s" * 20, blake3=b"b" * 32))
        to_hash, to_check = await p.scan()
        assert to_hash == [] and to_check == []
        assert (p.rec.progress.seen, p.rec.progress.backed_up) == (1, 1)


async def test_held_files_wait_and_records_of_deleted_files_are_gone(tmp_path):
    lib = tmp_path / "lib"
    photo(lib / "writing.jpg", b"w")
    async with Pass(tmp_path, [lib]) as p:
        await p.store.put(FileRecord(path=lib / "deleted.jpg", size=1, mtime_ns=1, ino=1,
                                     status=UPLOADED, remote_id="x"))
        p.verdicts["writing.jpg"] = Hold.HOLD
        to_hash, to_check = await p.scan()
        assert to_hash == [] and to_check == []
        assert p.found.held == [lib / "writing.jpg"]
        assert p.found.gone == [lib / "deleted.jpg"]


async def test_an_empty_include_folder_with_backed_up_files_is_not_mounted(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    async with Pass(tmp_path, [lib]) as p:
        await p.store.put(FileRecord(path=lib / "x.jpg", size=1, mtime_ns=1, ino=1,
                                     status=UPLOADED, remote_id="x"))
        await p.scan()
        assert [pr.kind for pr in p.found.folder_problems] == [ProblemKind.MISSING]
        assert p.found.gone == []  # nothing of it taken for deleted


async def test_a_stop_ends_the_walk_without_planning(tmp_path):
    lib = tmp_path / "lib"
    photo(lib / "a.jpg", b"a")
    async with Pass(tmp_path, [lib]) as p:
        p.stop.set()
        to_hash, to_check = await p.scan()
        assert to_hash == [] and to_check == []


@pytest.mark.parametrize("n", [3])
async def test_every_folder_is_walked(tmp_path, n):
    lib = tmp_path / "lib"
    for i in range(n):
        photo(lib / f"d{i}" / f"p{i}.jpg", bytes([i]) * 10)
    async with Pass(tmp_path, [lib]) as p:
        _, to_check = await p.scan()
        assert names(to_check) == [f"p{i}.jpg" for i in range(n)]


async def backed_up(p: Pass, *paths: Path) -> None:
    """Record ``paths`` as on the server, as they are now (remote id: the name)."""
    for path in paths:
        st = path.stat()
        await p.store.put(FileRecord(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                     ino=st.st_ino, status=UPLOADED, remote_id=path.name,
                                     sha1=b"s" * 20, blake3=b"b" * 32))


def count_pairings(monkeypatch) -> list[int]:
    """Count the calls of ``media.live_photo_pairs``, under every name a module of
    immich_backupd has for it."""
    calls = [0]
    real = media.live_photo_pairs

    def counted(files):
        calls[0] += 1
        return real(files)

    for name, module in list(sys.modules.items()):
        if name.startswith("immich_backupd") and (
                getattr(module, "live_photo_pairs", None) is real):
            monkeypatch.setattr(module, "live_photo_pairs", counted)
    return calls


async def test_the_unchanged_half_of_a_changed_live_photo_is_not_stated_again(
        tmp_path, monkeypatch):
    """One change rule, stats kept: the walk's stat of the unchanged video serves the
    plan, which links the edited still to it; the folder's pairs are found once."""
    lib = tmp_path / "lib"
    still = photo(lib / "IMG_1.HEIC", b"still")
    video = photo(lib / "IMG_1.MOV", b"video")
    async with Pass(tmp_path, [lib]) as p:
        await backed_up(p, still, video)
        photo(still, b"still, edited")
        stats: list[str] = []
        real_stat = os.stat

        def counted_stat(path, *args, **kwargs):
            stats.append(os.fsdecode(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", counted_stat)
        pairings = count_pairings(monkeypatch)
        _, to_check = await p.scan()
        monkeypatch.undo()
        [[unit]] = to_check
        assert [c.path.name for c in unit.members] == ["IMG_1.HEIC"]
        assert (unit.is_live_pair, unit.live_video_id) == (True, "IMG_1.MOV")
        assert str(video) not in stats
        assert pairings[0] == 1
        assert (p.rec.progress.seen, p.rec.progress.backed_up) == (2, 1)


async def test_a_folder_where_nothing_changed_looks_for_no_pairs(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    async with Pass(tmp_path, [lib]) as p:
        await backed_up(p, photo(lib / "IMG_1.HEIC", b"s"), photo(lib / "IMG_1.MOV", b"v"))
        pairings = count_pairings(monkeypatch)
        assert await p.scan() == ([], [])
        assert pairings[0] == 0


async def test_two_stills_and_a_video_are_not_paired_when_one_still_is_unchanged(tmp_path):
    """The pairs are the whole folder's, as on the first pass (which could not tell
    which still the video belongs to): not the changed files' alone."""
    lib = tmp_path / "lib"
    async with Pass(tmp_path, [lib]) as p:
        await backed_up(p, photo(lib / "IMG_1.HEIC", b"s"))
        photo(lib / "IMG_1.JPG", b"j")
        photo(lib / "IMG_1.MOV", b"v")
        _, to_check = await p.scan()
        units = [u for g in to_check for u in g]
        assert sorted(c.path.name for u in units for c in u.members) == [
            "IMG_1.JPG", "IMG_1.MOV"]
        assert not any(u.is_live_pair or c.hidden for u in units for c in u.members)


async def test_the_unchanged_half_listed_with_its_pair_is_still_checked_for_a_late_sidecar(
        tmp_path):
    """The still, unchanged, is planned as done with its edited video: its sidecar,
    changed since the upload, is noticed as late, as for any photo not sent again."""
    lib = tmp_path / "lib"
    still = photo(lib / "IMG_1.HEIC", b"still")
    video = photo(lib / "IMG_1.MOV", b"video")
    side = lib / "IMG_1.HEIC.xmp"
    side.write_bytes(b"<x:xmpmeta/>")
    async with Pass(tmp_path, [lib]) as p:
        rows, sent = [], []
        for path in (still, video):
            st = path.stat()
            folder, name = split_path(path)
            rows.append(file_row(folder, name, st.st_size, st.st_mtime_ns, st.st_ino,
                                 b"b" * 32, b"s" * 20, UPLOADED, path.name, None, False,
                                 None))
        folder, name = split_path(still)
        sent.append((folder, name, 3, 3))  # not the sidecar beside it now
        await p.store.put_rows(rows, sent)
        photo(video, b"video, trimmed")
        await p.scan()
        assert [(s.path, s.late) for s in p.found.late_sidecars] == [(still, True)]


def count_state_rows(monkeypatch) -> list[int]:
    """Count the rows the state's connections opened from now on read (the worker
    threads' reads connect on first use): every row of every statement they run."""
    rows = [0]
    real = sqlite3.connect

    def counted(*args, **kwargs):
        conn = real(*args, **kwargs)

        def row(cursor, values):
            rows[0] += 1
            return tuple(values)

        conn.row_factory = row
        return conn

    monkeypatch.setattr(sqlite3, "connect", counted)
    return rows


async def test_a_changed_folder_has_its_rows_read_once(tmp_path, monkeypatch):
    """Each folder's rows are read once: the few columns the walk compares, for all of
    them; then the full record of only what changed, not the whole folder again."""
    lib = tmp_path / "lib"
    n = 40
    async with Pass(tmp_path, [lib]) as p:
        await backed_up(p, *[photo(lib / f"IMG_{i:03d}.jpg", b"%d" % i) for i in range(n)])
        edited = photo(lib / "IMG_000.jpg", b"edited")
        photo(lib / "new.jpg", b"new")
        rows = count_state_rows(monkeypatch)
        _, to_check = await p.scan()
        monkeypatch.undo()
        units = {c.path.name: c for g in to_check for u in g for c in u.members}
        assert sorted(units) == ["IMG_000.jpg", "new.jpg"]
        assert units["IMG_000.jpg"].record.path == edited  # planned with its record
        assert units["new.jpg"].record is None
        assert (p.rec.progress.seen, p.rec.progress.backed_up) == (n + 1, n - 1)
        # The folder's n light rows, the edited file's record, the hash stage's look for
        # a moved file: not the folder's n rows a second time.
        assert rows[0] <= n + 5, rows[0]


async def test_a_folder_of_new_files_reads_no_full_rows(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    async with Pass(tmp_path, [lib]) as p:
        for i in range(5):
            photo(lib / "new" / f"{i}.jpg", b"%d" % i)
        statements: list[str] = []
        real = sqlite3.connect

        def traced(*args, **kwargs):
            conn = real(*args, **kwargs)
            conn.set_trace_callback(statements.append)
            return conn

        monkeypatch.setattr(sqlite3, "connect", traced)
        _, to_check = await p.scan()
        monkeypatch.undo()
        assert len([c for g in to_check for u in g for c in u.members]) == 5
        # Nothing known there: the light read finds no record, and no read of records by
        # folder follows (the hash stage's look for moved files asks by inode).
        by_folder = [s for s in statements if "WHERE d.path" in s]
        assert by_folder == [], by_folder


async def test_records_gone_and_kept_beside_a_changed_file(tmp_path):
    """With something changed in the folder: the records of files no longer there are
    gone (on the server or not), a failed file still there is planned with its record."""
    lib = tmp_path / "lib"
    async with Pass(tmp_path, [lib]) as p:
        kept, changed = photo(lib / "kept.jpg", b"k"), photo(lib / "changed.jpg", b"c")
        await backed_up(p, kept, changed)
        failed = photo(lib / "failed.jpg", b"f")
        for path, status in ((lib / "deleted.jpg", UPLOADED), (lib / "lost.jpg", FAILED),
                             (failed, FAILED)):
            await p.store.put(FileRecord(path=path, size=1, mtime_ns=1, ino=1, status=status,
                                         error="x" if status == FAILED else None))
        photo(changed, b"changed again")
        _, to_check = await p.scan()
        units = {c.path.name: c for g in to_check for u in g for c in u.members}
        assert sorted(units) == ["changed.jpg", "failed.jpg"]
        assert units["failed.jpg"].record.status == FAILED
        assert sorted(p.found.gone) == [lib / "deleted.jpg", lib / "lost.jpg"]
