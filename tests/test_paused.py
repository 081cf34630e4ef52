"""The kept pause (state/paused.py) and how the status lines put it first."""

from __future__ import annotations

from immich_backupd.report.status import headline
from immich_backupd.report.statusline import idle_problem
from immich_backupd.state.paused import PAUSED_NAME, paused_since, save_paused


def test_the_pause_is_kept_in_the_state_folder_until_resumed(tmp_path):
    assert paused_since(tmp_path) is None
    assert save_paused(tmp_path, True, 1234.5)
    assert paused_since(tmp_path) == 1234.5
    assert save_paused(tmp_path, False, 2000.0)
    assert paused_since(tmp_path) is None and not (tmp_path / PAUSED_NAME).exists()
    assert save_paused(tmp_path, False, 2001.0)  # resuming twice is fine


def test_a_pause_file_without_a_time_still_pauses(tmp_path):
    (tmp_path / PAUSED_NAME).write_text("garbled")
    assert paused_since(tmp_path) == (tmp_path / PAUSED_NAME).stat().st_mtime


def test_a_state_folder_that_cannot_be_written_keeps_the_pause_in_memory_only(tmp_path):
    missing = tmp_path / "gone"  # no such folder: the write fails
    assert save_paused(missing, True, 1.0) is False
    assert paused_since(missing) is None


def test_paused_comes_first_in_the_idle_line_and_in_status():
    line = idle_problem(folders="a folder", held={"charging": 2}, settling=1, cloud=3,
                        paused=True)
    assert line is not None and "paused" in line
    assert idle_problem(folders=None, held={}, settling=0, cloud=0) is None
    data = {"live": None, "paused": True, "last_stop": None, "failed": 2,
            "folder_problems": [], "last_pass": None}
    state, text = headline(data)
    assert state == "paused" and text.startswith("⏸ ") and "paused" in text
