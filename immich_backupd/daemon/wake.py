"""When the daemon's loop wakes next: the earliest of its deadlines, as a plain function.

The loop sleeps until this moment (or until an event: a change, a signal, the conditions
allowing held files). Time is passed in, so the decision is tested without a clock.
"""

from __future__ import annotations


def next_wake(now: float, *, next_rescan: float, changes_due: float | None = None,
              pass_wanted: bool = False, retry_at: float | None = None) -> float:
    """The earliest moment something is due.

    ``next_rescan``: the periodic full pass. ``changes_due``: when the debounced changes
    are due (None: none queued). ``pass_wanted``: a full pass is asked for and waits only
    for ``retry_at`` (at start, on SIGUSR1, after a failed pass). ``retry_at``: after a
    failed pass ("trying again in 15 s") nothing runs before it, and the pass that
    failed runs again at it, not at the next deadline after it.
    """
    deadlines = [next_rescan]
    if changes_due is not None:
        deadlines.append(changes_due)
    if pass_wanted:
        deadlines.append(now)
    if retry_at is not None:
        deadlines = [max(d, retry_at) for d in deadlines]
    return min(deadlines)
