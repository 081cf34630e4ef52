"""A pass ended by an error says which: the outcome matches the error's exit code, and a
refused key is the only "auth" (its advice is a new key)."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.backup import OUTCOME_EXIT
from immich_backupd.errors import ExitCode, UnsupportedServerError
from immich_backupd.model import PassOutcome
from immich_backupd.pipeline.runner import _outcome_of, state_error


def test_an_error_other_than_a_refused_key_is_not_called_auth():
    unsupported = UnsupportedServerError("Immich 1.90 is older than this release supports")
    assert _outcome_of(unsupported) is PassOutcome.OFFLINE
    assert OUTCOME_EXIT[_outcome_of(unsupported)] == unsupported.exit_code
    full = state_error(Path("/s/state.sqlite3"), OSError(28, "No space left on device"))
    assert _outcome_of(full) is PassOutcome.STATE
    assert full.exit_code == ExitCode.IOERR


def test_every_outcome_a_pass_ends_with_has_an_exit_code():
    for outcome in PassOutcome:
        if outcome not in (PassOutcome.RUNNING, PassOutcome.ABORTED):  # no pass result
            assert outcome in OUTCOME_EXIT, outcome
    assert OUTCOME_EXIT[PassOutcome.STATE] == ExitCode.IOERR
