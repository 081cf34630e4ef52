"""Sidecars changed after their photo's upload: the pure verdict and what the state keeps
(migration 3, rows written with the upload, gone with the record). End to end:
tests/e2e/test_late_sidecars.py."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from immich_backupd.pipeline.sidecars import is_late, sidecar_stats, verdicts
from immich_backupd.state import (
    DB_NAME,
    SCHEMA_VERSION,
    UPLOADED,
    StateReader,
    StateStore,
    WorkerReads,
    file_row,
)
from tests.old_states import old_state


def test_late_is_a_sidecar_added_or_changed_never_one_removed() -> None:
    assert not is_late((10, 5), 10, 5)  # as it went up
    assert is_late((11, 5), 10, 5)  # size changed
    assert is_late((10, 6), 10, 5)  # time changed (an edit of the same length)
    assert is_late((10, 5), None, None)  # went up without one; one appeared since
    assert not is_late(None, 10, 5)  # removed since: nothing to send
    assert not is_late(None, None, None)


def test_verdicts_name_only_flags_that_change_and_known_photos() -> None:
    now = {"a.jpg": (1, 1), "b.jpg": (2, 2), "c.jpg": None, "d.jpg": (4, 4)}
    sent = {"a.jpg": (1, 1, 0), "b.jpg": (2, 1, 0), "c.jpg": (3, 3, 1)}  # d: not known
    assert sorted(verdicts(now, sent)) == [("b.jpg", True), ("c.jpg", False)]
    assert verdicts({"b.jpg": (2, 1)}, {"b.jpg": (2, 1, 1)}) == [("b.jpg", False)]


def test_sidecar_stats_reads_each_sidecar_once(tmp_path: Path) -> None:
    (tmp_path / "a.jpg.xmp").write_bytes(b"12345")
    st = (tmp_path / "a.jpg.xmp").stat()
    got = sidecar_stats(tmp_path, ["a.jpg", "b.jpg", "c.jpg"],
                        {"a.jpg": "a.jpg.xmp", "c.jpg": "c.xmp"}, False)
    assert got == {"a.jpg": (5, st.st_mtime_ns), "b.jpg": None, "c.jpg": None}


async def test_what_went_up_is_kept_flagged_counted_and_forgotten_with_the_photo(
        tmp_path: Path) -> None:
    # A state of schema 2 (an earlier release) with one record: migrated, not reported.
    conn = old_state(tmp_path / DB_NAME, 2)
    conn.close()
    store = await StateStore.open(tmp_path)
    photos = os.fsencode(tmp_path / "photos")
    rows = [file_row(photos, n, 10, 5, i, b"b%d" % i, b"s%d" % i, UPLOADED, f"r{i}", "A",
                     False, None) for i, n in enumerate([b"a.jpg", b"b.jpg", b"c.jpg"])]
    await store.put_rows(rows, [(photos, b"a.jpg", 7, 70), (photos, b"b.jpg", None, None)])
    reads = WorkerReads(store.path)
    assert reads.dir_sidecars(str(tmp_path / "photos")) == {
        "a.jpg": (7, 70, 0), "b.jpg": (None, None, 0)}  # c.jpg: not known
    reads.close()
    await store.set_late_sidecars([(True, photos, b"a.jpg"), (True, photos, b"b.jpg")])
    reader = StateReader(tmp_path)
    assert reader.summary()["sidecars_changed_after_upload"] == 2
    assert reader.late_sidecars(10) == [tmp_path / "photos" / "a.jpg",
                                        tmp_path / "photos" / "b.jpg"]
    reader.close()
    # Uploaded again (a new version): what went up now, not late.
    await store.put_rows(rows[:1], [(photos, b"a.jpg", 8, 80)])
    await store.forget_many([tmp_path / "photos" / "b.jpg"])  # deleted on this disk
    await store.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT name, size, mtime_ns, late FROM sidecars").fetchall() == [
        (b"a.jpg", 8, 80, 0)]
    conn.close()


def test_the_dashboard_and_the_headline_say_it_never_with_a_check_mark() -> None:
    from immich_backupd.dashboard.view import status_view
    from immich_backupd.report.status import headline

    data = {"live": None, "last_backup_at": 1.0, "last_pass": {"outcome": "complete"},
            "failed": 0, "sidecars_changed_after_upload": 2, "state": "", "headline": "",
            "backed_up": 5, "total": 5, "quota": None}
    state, line = headline(data)
    assert state == "sidecars" and "✓" not in line and "2 sidecars" in line
    data["state"], data["headline"] = state, line
    view = status_view(data, [], paused=False)
    assert view["sidecars_text"].startswith("2 photos have a sidecar (.xmp)")
    data["sidecars_changed_after_upload"] = 0
    assert headline(data) == ("complete", "✓ Backup complete")
    assert status_view(data, [], paused=False)["sidecars_text"] == ""
