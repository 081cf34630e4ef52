"""The keep budget: bytes held between hashing and uploading stay bounded."""

from __future__ import annotations

import pytest

from immich_backupd.pipeline.budget import ByteBudget


def test_byte_budget_takes_what_fits_and_refuses_over_giving():
    budget = ByteBudget(10)
    assert budget.try_take(6) and not budget.try_take(5) and budget.try_take(4)
    assert budget.held == 10
    budget.give_back(10)
    assert budget.held == 0 and budget.try_take(10)
    with pytest.raises(RuntimeError):
        budget.give_back(11)
