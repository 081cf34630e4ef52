"""report.status.last_stop and the headline it gives: never "✓" after a run that
stopped short (issue 15). Pure: the state's rows and meta as plain data."""

from __future__ import annotations

import json

from immich_backupd.errors import AuthError, ServerUnavailableError, UnsupportedServerError
from immich_backupd.report.status import headline, last_stop, stop_record

DONE = {"outcome": "complete", "started_at": 10.0, "finished_at": 20.0}


def stop_of(last_pass=DONE, stop=None, running=False, room=None):
    return last_stop(last_pass, stop, running=running, room=room, state_dir="/s")


def head(stop, **over):
    data = {"live": None, "failed": 0, "last_pass": DONE, "last_backup_at": 20.0,
            "pending": 0, "last_stop": stop, **over}
    return headline(data)


def test_a_finished_pass_and_no_stop_leave_the_tick():
    assert stop_of() is None
    assert head(None) == ("complete", "✓ Backup complete")
    assert stop_of({**DONE, "outcome": "partial"}) is None
    assert stop_of(None) is None


def test_a_run_that_could_not_start_is_newer_than_any_pass():
    for exc, reason in ((AuthError("x"), "auth"), (ServerUnavailableError("x"), "offline"),
                        (UnsupportedServerError("x"), "unsupported")):
        record = json.loads(stop_record(exc, 30.0))
        assert record == {"reason": reason, "at": 30.0}
        stop = stop_of(stop=record)
        assert stop == {"reason": reason, "at": 30.0}
        state, line = head(stop)
        assert state == reason and line.startswith("✗ ") and "✓" not in line
    assert stop_of(stop=None) is None  # "null": emptied when a pass started


def test_a_pass_that_ended_on_the_key_the_server_or_the_state():
    for outcome in ("auth", "offline", "state"):
        assert stop_of({**DONE, "outcome": outcome}) == {"reason": outcome, "at": 20.0}
    assert head(stop_of({**DONE, "outcome": "auth"}))[1].startswith(
        "✗ The server refused the API key")


def test_a_pass_row_still_running_is_cut_off_unless_a_pass_runs():
    cut = {"outcome": "running", "started_at": 10.0, "finished_at": None}
    assert stop_of(cut) == {"reason": "interrupted", "at": 10.0}
    assert head(stop_of(cut))[0] == "interrupted"
    assert stop_of(cut, running=True) is None
    assert stop_of(stop={"reason": "auth", "at": 1.0}, running=True) is None


def test_the_state_folder_comes_first_and_is_named():
    for room, words in (("read-only", "read-only disk"), ("full", "is full"),
                        ("not-writable", "cannot be written")):
        stop = stop_of(room=room, running=True)
        assert stop == {"reason": "state", "detail": room, "path": "/s", "at": None}
        state, line = head(stop)
        assert state == "state" and "/s" in line and words in line


def test_a_pass_at_work_still_comes_first():
    live = {"state": "scanning", "daemon": True, "seen": 3}
    assert head({"reason": "auth", "at": 1.0}, live=live)[0] == "scanning"


def test_the_idle_line_says_what_is_not_backed_up_in_order():
    from immich_backupd.report.statusline import idle_problem

    def line(folders=None, held=None, settling=0, cloud=0):
        return idle_problem(folders=folders, held=held or {}, settling=settling, cloud=cloud)

    assert line() is None
    assert line(cloud=2) == "2 files are only in the cloud (not on this disk)"
    assert line(settling=1, cloud=2) == (
        "1 file is still being written; it goes up with the next pass after it settles")
    assert line(held={"videos": 3}, settling=1) == "3 videos wait for an unmetered network"
    assert line("Waiting for /mnt/usb (not mounted)", {"videos": 3}) == (
        "Waiting for /mnt/usb (not mounted)")


def test_being_written_comes_from_the_daemon_or_the_last_pass():
    from immich_backupd.report.status import being_written

    assert being_written(None, ["/p/a.jpg"]) == {"count": 1, "files": ["/p/a.jpg"]}
    assert being_written({"daemon": True, "held": 2}, ["/p/a.jpg"]) == {"count": 2,
                                                                         "files": []}
    assert being_written({"daemon": True, "held": 0}, []) == {"count": 0, "files": []}
    waiting = headline({"live": None, "failed": 0, "last_pass": DONE, "last_backup_at": 1.0,
                        "being_written": {"count": 2, "files": []}})
    assert waiting == ("waiting", "⏸ 2 files are still being written; they go up with the "
                       "next pass after they settle")
