"""The debouncer: when a pass is due and what it covers, on a fake clock (no sleeping)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from immich_backupd.watch.debounce import Batch, Debouncer

A = Path("/lib/a.jpg")
B = Path("/lib/b.jpg")


def covers(batch: Batch, path: Path) -> bool:
    """Whether a pass over ``batch`` looks at ``path``, as the daemon turns a batch into
    the pass's targets (its paths, and the trees below its folders to rescan)."""
    if batch.full_rescan or path in batch.paths:
        return True
    return any(p in batch.dirs_to_rescan for p in path.parents)


def test_nothing_pending_is_never_due() -> None:
    d = Debouncer(5, 50)
    assert d.next_deadline() is None
    assert not d.due(1e9)
    batch = d.take(0)
    assert not batch
    assert batch == Batch()


def test_due_trigger_delay_after_the_last_change() -> None:
    d = Debouncer(5, 50)
    d.add(A, 100)
    assert d.next_deadline() == 105
    d.add(B, 103)
    assert d.next_deadline() == 108
    assert not d.due(107.9)
    assert d.due(108)
    batch = d.take(108)
    assert batch.paths == {A, B}
    assert not batch.full_rescan and not batch.dirs_to_rescan
    assert d.next_deadline() is None and d.pending == 0
    assert d.last_taken == 108


def test_max_delay_caps_a_never_ending_stream() -> None:
    d = Debouncer(5, 50)
    t = 0.0
    while t < 49:
        d.add(Path(f"/lib/{t}.jpg"), t)
        assert not d.due(t)
        t += 1
    d.add(A, 49.5)
    assert d.next_deadline() == 50
    assert d.due(50)


def test_late_event_with_an_earlier_time_does_not_move_the_deadline_back() -> None:
    d = Debouncer(5, 50)
    d.add(A, 10)
    d.add(B, 8)  # hopped over from the watcher thread late
    assert d.next_deadline() == 15


def test_duplicate_paths_are_one() -> None:
    d = Debouncer(1, 2)
    for t in range(3):
        d.add(A, t * 0.1)
    assert d.pending == 1
    assert d.take(5).paths == {A}


def test_busy_folder_collapses_into_a_folder_rescan() -> None:
    d = Debouncer(1, 10, max_per_dir=3)
    busy = Path("/lib/busy")
    for i in range(4):
        d.add(busy / f"{i}.jpg", 0)
    d.add(B, 0)
    d.add(busy / "later.jpg", 0)  # covered by the rescan, not stored
    d.add(busy / "sub" / "deep.jpg", 0)  # below it: covered too
    assert d.pending == 1
    batch = d.take(1)
    assert batch.dirs_to_rescan == {busy}
    assert batch.paths == {B}
    assert covers(batch, busy / "sub" / "deep.jpg")
    assert not batch.full_rescan


def test_nested_collapsed_folders_keep_the_outer_one_and_drop_covered_paths() -> None:
    d = Debouncer(1, 10, max_per_dir=2)
    inner = Path("/lib/x/y")
    for i in range(3):
        d.add(inner / f"{i}.jpg", 0)
    d.add(Path("/lib/x/keep.jpg"), 0)
    for i in range(3):
        d.add(Path(f"/lib/x/{i}.jpg"), 0)
    batch = d.take(1)
    assert batch.dirs_to_rescan == {Path("/lib/x")}
    assert batch.paths == frozenset()


def test_too_many_paths_become_a_full_rescan() -> None:
    d = Debouncer(1, 10, max_paths=5, max_per_dir=100)
    for i in range(6):
        d.add(Path(f"/lib/d{i}/x.jpg"), i)
    assert d.pending == 0  # memory stays flat
    d.add(A, 6)
    batch = d.take(7)
    assert batch.full_rescan and not batch.paths and not batch.dirs_to_rescan
    assert covers(batch, Path("/anything"))
    assert not d.take(8)


def test_request_full_rescan_arms_the_timer() -> None:
    d = Debouncer(5, 50)
    d.request_full_rescan(10)
    assert d.next_deadline() == 15
    d.add(A, 12)  # swallowed by the rescan, but still debounces it
    assert d.next_deadline() == 17
    assert d.take(17).full_rescan


@pytest.mark.parametrize(
    ("trigger", "maximum", "kw"),
    [(-1, 5, {}), (5, 4, {}), (1, 2, {"max_paths": 0}), (1, 2, {"max_per_dir": 0})],
)
def test_invalid_settings(trigger: float, maximum: float, kw: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Debouncer(trigger, maximum, **kw)


def test_repr_shows_state() -> None:
    d = Debouncer(5, 50)
    d.add(A, 1)
    assert repr(d) == "Debouncer(pending=1, dirs=0, full_rescan=False, deadline=6)"


# --- properties ----------------------------------------------------------------------------

names = st.sampled_from(["a", "b", "c", "dir1", "dir2"])
paths = st.lists(names, min_size=1, max_size=4).map(lambda parts: Path("/lib", *parts))
delays = st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 100, allow_nan=False)).map(
    sorted
)
# A step: wait some time, then add a path, request a rescan, or take what is due.
steps = st.lists(
    st.tuples(
        st.floats(0, 30, allow_nan=False),
        st.one_of(paths, st.just("take"), st.just("full")),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(delays=delays, steps=steps, max_paths=st.integers(1, 8), per_dir=st.integers(1, 4))
def test_properties_deadline_quiet_and_nothing_lost(
    delays: list[float],
    steps: list[tuple[float, Path | str]],
    max_paths: int,
    per_dir: int,
) -> None:
    trigger, maximum = delays
    d = Debouncer(trigger, maximum, max_paths=max_paths, max_per_dir=per_dir)
    now = 0.0
    first: float | None = None
    uncovered: list[Path] = []  # added since the last take
    for wait, action in steps:
        now += wait
        if action == "take":
            if d.due(now):
                batch = d.take(now)
                lost = [p for p in uncovered if not covers(batch, p)]
                assert not lost
                uncovered, first = [], None
            continue
        if action == "full":
            d.request_full_rescan(now)
        else:
            assert isinstance(action, Path)
            d.add(action, now)
            uncovered.append(action)
        if first is None:
            first = now
        deadline = d.next_deadline()
        assert deadline is not None
        # never later than max_delay after the first pending change ...
        assert deadline <= first + maximum
        # ... and a quiet period of trigger_delay always makes it due
        assert d.due(now + trigger)
        # not due before the deadline
        assert not d.due(deadline - 1e-3)
    batch = d.take(now)
    assert all(covers(batch, p) for p in uncovered)
