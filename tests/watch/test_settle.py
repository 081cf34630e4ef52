"""The settle rule: not open for writing and quiet for a while, on a fake clock."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from immich_backupd.watch.settle import DEFAULT_QUIET, SettleTracker, read_signature

P = Path("/lib/a.mov")


def test_unknown_or_never_observed_is_not_settled() -> None:
    t = SettleTracker()
    assert not t.is_settled(P, 100)
    t.on_event(P, "created", 0)
    assert not t.is_settled(P, 100)  # no stat yet
    assert t.settles_at(P) is None


def test_quiet_after_a_single_observation_without_events() -> None:
    t = SettleTracker()
    assert t.observe(P, 10, 1, now=5)
    assert not t.is_settled(P, 5.5)
    assert t.settles_at(P) == 5 + DEFAULT_QUIET
    assert t.is_settled(P, 6)


def test_growing_file_is_not_settled_until_it_stops() -> None:
    t = SettleTracker()
    t.observe(P, 10, 1, now=0)
    assert t.observe(P, 20, 2, now=2)
    assert not t.is_settled(P, 2.5)
    assert not t.observe(P, 20, 2, now=2.9)  # unchanged
    assert t.is_settled(P, 3.0)
    assert t.is_settled(P, 3.5, quiet=1.5)
    assert not t.is_settled(P, 3.4, quiet=1.5)


def test_open_for_writing_blocks_until_closed() -> None:
    t = SettleTracker()
    t.on_event(P, "created", 0)
    t.on_event(P, "modified", 0.1)  # a write: a writer holds it open
    t.observe(P, 10, 1, now=30)  # the writer paused: size unchanged for long
    assert not t.is_settled(P, 60)
    t.on_event(P, "closed", 61)
    assert not t.is_settled(P, 61.5)
    assert t.settles_at(P) == 62
    assert t.is_settled(P, 62)


def test_first_observation_uses_the_last_event_time() -> None:
    # Written, closed at t=1, first stat when the debounced batch comes due at t=6.
    t = SettleTracker()
    t.on_event(P, "modified", 0)
    t.on_event(P, "closed", 1)
    t.observe(P, 10, 1, now=6)
    assert t.is_settled(P, 6)


def test_explicit_open_and_close() -> None:
    t = SettleTracker()
    t.opened_for_write(P)
    t.observe(P, 1, 1, now=0)
    assert not t.is_settled(P, 10)
    t.closed(P)
    assert t.is_settled(P, 10)


def test_opened_is_activity_only() -> None:
    t = SettleTracker()
    t.observe(P, 1, 1, now=0)
    t.on_event(P, "opened", 5)  # may be a reader: not "open for writing"
    assert not t.is_settled(P, 5.5)
    assert t.is_settled(P, 6)


def test_stale_open_counts_as_closed() -> None:
    t = SettleTracker(open_timeout=600)
    t.on_event(P, "modified", 0)  # e.g. truncate(2): a write without a close
    t.observe(P, 0, 1, now=1)
    assert not t.is_settled(P, 599)
    assert t.settles_at(P) == 600
    assert t.is_settled(P, 600)
    assert not SettleTracker(open_timeout=None).is_settled(P, 1e9)


def test_no_timeout_means_open_until_closed() -> None:
    t = SettleTracker(open_timeout=None)
    t.on_event(P, "modified", 0)
    t.observe(P, 0, 1, now=1)
    assert not t.is_settled(P, 1e9)
    assert t.settles_at(P) is None


def test_deleted_forgets() -> None:
    t = SettleTracker()
    q = Path("/lib/b.jpg")
    t.observe(P, 1, 1, now=0)
    t.observe(q, 1, 1, now=5)
    assert len(t) == 2 and P in t and q in t
    assert t.is_settled(P, 5.5) and not t.is_settled(q, 5.5)
    t.on_event(q, "deleted", 6)
    assert q not in t
    t.forget(P)
    t.forget(P)  # idempotent
    assert len(t) == 0
    assert repr(t) == "SettleTracker(tracked=0, open=0)"


@given(
    st.lists(
        st.tuples(
            st.floats(0, 5, allow_nan=False),
            st.sampled_from(["modified", "closed", "created", "opened", "observe", "grow"]),
        ),
        max_size=40,
    ),
    st.floats(0.1, 3, allow_nan=False),
)
def test_property_never_settled_while_open_or_within_quiet(
    steps: list[tuple[float, str]], quiet: float
) -> None:
    t = SettleTracker(open_timeout=None)
    now, size, last_change, is_open, observed, had_event = 0.0, 0, 0.0, False, False, False
    for wait, action in steps:
        now += wait
        if action == "observe" or action == "grow":
            if action == "grow":
                size += 1
            changed = t.observe(P, size, 0, now)
            if (changed and observed) or not (observed or had_event):
                last_change = now
            observed = True
        else:
            t.on_event(P, action, now)
            last_change, had_event = now, True
            if action == "modified":
                is_open = True
            elif action == "closed":
                is_open = False
        if t.is_settled(P, now, quiet):
            assert observed and not is_open
            assert now - last_change >= quiet


def test_read_signature(tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    assert read_signature(f) is None
    f.write_bytes(b"12345")
    size, mtime_ns = read_signature(f)  # type: ignore[misc]
    assert size == 5 and mtime_ns == f.stat().st_mtime_ns
    assert read_signature(f / "below-a-file") is None


def test_attribute_change_after_close_is_activity_not_a_writer():
    """shutil.copy2 / cp -p: write, close, then set the times: settles after the quiet."""
    from immich_backupd.watch.settle import SettleTracker

    t = SettleTracker()
    p = Path("/x/a.jpg")
    t.on_event(p, "modified", 0.0)
    t.on_event(p, "closed", 0.1)
    t.on_event(p, "attrib", 0.2)
    t.observe(p, 10, 5, 0.3)
    assert not t.is_settled(p, 0.5, quiet=1.0)
    assert t.is_settled(p, 1.3, quiet=1.0)


def test_completed_only_after_a_close_or_a_move_in() -> None:
    t = SettleTracker()
    a, b, c = Path("/l/a.jpg"), Path("/l/b.jpg"), Path("/l/c.jpg")
    t.on_event(a, "created", 0.0)
    t.on_event(a, "modified", 0.1)
    assert not t.completed(a)
    t.on_event(a, "closed", 0.2)
    t.on_event(a, "attrib", 0.3)  # cp -p sets the times after the close
    assert t.completed(a)
    t.on_event(a, "modified", 0.4)  # written again
    assert not t.completed(a)
    t.on_event(b, "moved", 0.0)  # renamed into place, whole
    assert t.completed(b)
    t.on_event(c, "created", 0.0)  # a hard link: its writes may come through another name
    assert not t.completed(c)
    assert not t.completed(Path("/l/unknown.jpg"))


def test_the_verdict_holds_a_file_being_written_and_trusts_only_a_close() -> None:
    t = SettleTracker()
    assert t.verdict(P, 10, 1, now=0) == "unknown"  # no event spoke of it
    assert P not in t  # and judging it did not start tracking it
    t.on_event(P, "opened", 0)
    t.on_event(P, "modified", 0)
    assert t.verdict(P, 10, 1, now=0.1) == "hold"  # open for writing
    t.on_event(P, "closed", 1)
    assert t.verdict(P, 20, 2, now=1.1) == "hold"  # closed, not yet quiet
    assert t.verdict(P, 20, 2, now=1.1 + DEFAULT_QUIET) == "settled"
    assert P not in t  # settled: forgotten
    t.on_event(P, "created", 5)  # a hard link: created, never closed here
    assert t.verdict(P, 20, 2, now=5) == "hold"
    assert t.verdict(P, 20, 2, now=5 + DEFAULT_QUIET) == "unknown"  # its mtime decides


def test_forget_before_drops_quiet_events_but_the_open_the_recent_and_the_kept() -> None:
    t = SettleTracker(open_timeout=600)
    chmod, writing, late, held = (Path(f"/lib/{n}.jpg") for n in ("chmod", "w", "late", "h"))
    t.on_event(chmod, "attrib", 1)
    t.on_event(writing, "modified", 2)  # still open for writing
    t.on_event(held, "closed", 3)
    t.on_event(late, "created", 12)  # after the pass began: its folder may be listed
    assert t.forget_before(10, now=20, keep=lambda p: p == held) == 1
    assert chmod not in t and all(p in t for p in (writing, late, held))
    # An open write counts as closed once stale (its close was lost): forgotten then.
    assert t.forget_before(10, now=603, keep=lambda p: p == held) == 1
    assert writing not in t and len(t) == 2
