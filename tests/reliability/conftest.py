"""Fixtures of the reliability suites: a stand-in that must stay clean, and a tree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from immich_standin import StandinServer


def check_clean(srv: StandinServer) -> None:
    assert srv.state.violations == [], "requests not valid per the OpenAPI spec"
    assert srv.state.internal_errors == [], "the stand-in itself failed"


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with StandinServer(version="3.1.0", api_key="SeCrEtKeY-" + "k" * 24) as srv:
        yield srv
        check_clean(srv)
