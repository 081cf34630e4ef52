"""The daemon's wake decision: the earliest of its deadlines (``daemon.wake.next_wake``)."""

from __future__ import annotations

from immich_backupd.daemon.wake import next_wake


def test_idle_wakes_for_the_rescan_or_the_changes_whichever_first():
    assert next_wake(100.0, next_rescan=3700.0) == 3700.0
    assert next_wake(100.0, next_rescan=3700.0, changes_due=102.0) == 102.0
    assert next_wake(100.0, next_rescan=150.0, changes_due=200.0) == 150.0


def test_a_failed_pass_is_tried_again_at_its_retry_not_at_the_next_rescan():
    # The server was down: "trying again in 15 s", the next rescan an hour away.
    assert next_wake(100.0, next_rescan=3700.0, pass_wanted=True, retry_at=115.0) == 115.0


def test_nothing_runs_before_the_retry():
    assert next_wake(100.0, next_rescan=3700.0, changes_due=101.0, retry_at=115.0) == 115.0
    assert next_wake(100.0, next_rescan=110.0, retry_at=115.0) == 115.0


def test_a_retry_with_nothing_to_retry_does_not_wake():
    assert next_wake(100.0, next_rescan=3700.0, retry_at=115.0) == 3700.0


def test_a_wanted_pass_without_a_retry_is_due_now_and_a_past_retry_does_not_delay():
    assert next_wake(100.0, next_rescan=3700.0, pass_wanted=True) == 100.0
    assert next_wake(100.0, next_rescan=3700.0, pass_wanted=True, retry_at=90.0) == 100.0
