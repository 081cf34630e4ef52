"""state/preview.py: the upgraded copy of an older state that a dry run reads."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest

from immich_backupd import i18n
from immich_backupd.cli.once import UPGRADE_WORTH_SAYING, _upgraded_line
from immich_backupd.state import DB_NAME, SCHEMA_VERSION, UPLOADED, split_path, user_version
from immich_backupd.state.preview import UpgradedCopy, schema_of, upgraded_copy
from tests.old_states import old_state


def test_the_copy_is_upgraded_and_removed_while_the_state_is_only_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / DB_NAME
    conn = old_state(path, 1)
    d, n = split_path(tmp_path / "photos" / "a.jpg")
    conn.execute("INSERT INTO files(dir, name, size, mtime_ns, ino, status, remote_id, "
                 "updated_at) VALUES (?,?,10,5,1,?,'r1',0)", (d, n, UPLOADED))
    conn.close()
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with upgraded_copy(path) as copy:
        assert copy.from_schema == 1 and copy.size == copy.path.stat().st_size
        assert copy.path.parent.parent == tmp_path / "tmp"
        with sqlite3.connect(copy.path) as read:
            assert user_version(read) == SCHEMA_VERSION
            assert read.execute("SELECT f.remote_id FROM files f JOIN dirs d ON d.id=f.dir "
                                "WHERE d.path=? AND f.name=?", (d, n)).fetchall() == [("r1",)]
        read.close()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert schema_of(path) == 1
    assert list((tmp_path / "tmp").iterdir()) == []
    # Removed too when the block ends in an exception.
    with pytest.raises(RuntimeError), upgraded_copy(path):
        raise RuntimeError
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_newer_release_s_state_is_refused_before_any_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / DB_NAME
    old_state(path, SCHEMA_VERSION).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(sqlite3.DatabaseError, match="newer than this release"):
        schema_of(path)
    with pytest.raises(sqlite3.DatabaseError, match="newer than this release"), \
            upgraded_copy(path):
        pass
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_line_gives_size_and_time_only_for_a_large_or_slow_copy() -> None:
    size, seconds = UPGRADE_WORTH_SAYING
    with i18n.scoped(i18n.for_languages(["en"])):
        small = _upgraded_line(UpgradedCopy(Path("x"), 6, size - 1, seconds / 2))
        assert "schema 6" in small and "upgraded copy" in small and "copy:" not in small
        assert _upgraded_line(UpgradedCopy(Path("x"), 6, size, 0.1)).endswith(
            "(The copy: 50 MB, made in 0s.)")
        assert "made in 3s" in _upgraded_line(UpgradedCopy(Path("x"), 6, 1000, 3.2))
    with i18n.scoped(i18n.for_languages(["de"])):
        german = _upgraded_line(UpgradedCopy(Path("x"), 6, size, 3.2))
    assert "Schema 6" in german and german.endswith("(Die Kopie: 50 MB, erstellt in 3s.)")
