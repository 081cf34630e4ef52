"""The daemon's decisions (daemon/policy.py), without a daemon: what each error makes it
wait for, and when the files still being written are looked at again."""

from __future__ import annotations

from pathlib import Path

import pytest

from immich_backupd.daemon.policy import (
    AUTH_RETRY,
    LOCK_RETRY,
    QUOTA_RETRY,
    SERVER_RETRY_MAX,
    after_error,
    events_kept,
    held_due,
    need_for,
    pass_reason,
    targets_for,
)
from immich_backupd.errors import (
    AuthError,
    LockHeldError,
    QuotaExceededError,
    ServerUnavailableError,
    StateError,
    UnsupportedServerError,
)
from immich_backupd.pipeline.runner import ScanTargets


def test_an_absent_server_is_waited_for_longer_each_time_up_to_the_cap():
    waits, server_wait = [], 15.0
    for _ in range(8):
        w = after_error(ServerUnavailableError("down"), server_wait, pass_ran=False)
        assert w is not None and w.state == "waiting" and w.error == "down"
        waits.append(w.delay)
        server_wait = w.server_wait
    assert waits == [15, 30, 60, 120, 240, 480, 900, 900]
    assert server_wait == SERVER_RETRY_MAX


def test_a_held_lock_waits_without_an_error_and_keeps_the_server_wait():
    w = after_error(LockHeldError("held"), 60.0, pass_ran=False)
    assert w is not None
    assert (w.state, w.delay, w.error, w.server_wait) == ("waiting", LOCK_RETRY, None, 60.0)
    assert w.waiting_for == "Waiting for another backup run to finish"


@pytest.mark.parametrize(("exc", "alert"), [(AuthError("no"), "auth"),
                                            (QuotaExceededError("full"), "quota"),
                                            (StateError("broken"), None)])
def test_refused_before_the_pass_is_an_error_retried_slowly_and_alerted(exc, alert):
    w = after_error(exc, 15.0, pass_ran=False)
    assert w is not None
    assert (w.state, w.delay, w.error, w.alert) == ("error", AUTH_RETRY, str(exc), alert)


def test_a_pass_that_ran_alerts_nothing_itself_and_waits_by_its_error():
    quota = after_error(QuotaExceededError("full"), 15.0, pass_ran=True)
    auth = after_error(AuthError("no"), 15.0, pass_ran=True)
    assert quota is not None and (quota.delay, quota.alert) == (QUOTA_RETRY, None)
    assert auth is not None and (auth.delay, auth.alert) == (AUTH_RETRY, None)
    assert after_error(UnsupportedServerError("old"), 15.0, pass_ran=True) is None
    assert after_error(StateError("x"), 15.0, pass_ran=True) is None
    server = after_error(ServerUnavailableError("gone"), 15.0, pass_ran=True)
    assert server is not None and server.state == "waiting"


def test_held_files_come_back_at_the_first_that_may_have_settled():
    assert held_due(100.0, [130.0, None, 120.0], 50.0, 5.0) == 115.0
    assert held_due(100.0, [None], 8.0, 5.0) == 103.0
    assert held_due(100.0, [], None, 5.0) == 100.0  # nothing known: at once
    assert held_due(100.0, [90.0], None, 5.0) == 100.0  # never in the past


def test_a_partial_pass_looks_at_the_folders_of_changed_files_and_changed_trees(tmp_path):
    (tmp_path / "new").mkdir()
    folders, trees = targets_for([tmp_path / "a" / "x.jpg", tmp_path / "new"],
                                 [tmp_path / "b"], [tmp_path / "c" / "y.mp4"], Path.is_dir)
    assert folders == {tmp_path / "a", tmp_path / "c"}
    assert trees == {tmp_path / "new", tmp_path / "b"}


def test_the_conditions_must_allow_what_is_held():
    assert need_for({Path("a"): "video"}) == "videos"
    assert need_for({Path("a"): "image"}) == "photos"
    assert need_for({Path("a"): "image", Path("b"): "video"}) == "any"


def test_charger_count_counts_changed_photos_and_videos_only_while_waiting_for_power():
    from immich_backupd.daemon.policy import charger_count

    changed = [Path("/p/IMG_1.jpg"), Path("/p/VID_2.mp4"), Path("/p/notes.txt"),
               Path("/p/2024"), Path("/p/IMG_1.jpg")]  # a folder, a repeat
    assert charger_count(True, changed) == 2
    assert charger_count(False, changed) == 0
    assert charger_count(True, []) == 0


def test_events_kept_after_a_pass_are_the_held_files_and_those_it_did_not_look_at() -> None:
    a, b, c = Path("/lib/a/1.jpg"), Path("/lib/b/2.jpg"), Path("/lib/t/deep/3.mov")
    partial = ScanTargets(folders=frozenset({Path("/lib/a")}),
                          trees=frozenset({Path("/lib/t")}))
    keep = events_kept([a], {}, partial)
    assert keep(a) and keep(b) and not keep(c) and not keep(Path("/lib/a/4.jpg"))
    everything = events_kept([], {c: "video"}, None)
    assert everything(c) and not everything(a) and not everything(b)


def test_the_pass_line_says_one_folder_in_the_singular():
    one = ScanTargets(frozenset({Path("/a")}), frozenset())
    two = ScanTargets(frozenset({Path("/a")}), frozenset({Path("/b")}))
    assert pass_reason(None, one, None) == "1 folder changed"
    assert pass_reason(None, two, frozenset({"video", "image"})) == (
        "2 folders changed, only image, video")
    assert pass_reason("rescan", None, None) == "rescan"
