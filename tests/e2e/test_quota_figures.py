"""The quota as the server has it now, not as the pass guessed it (issue 15, point 5)."""

from __future__ import annotations

from immich_standin import StandinServer

from .conftest import check_clean, server_assets


def test_the_quota_message_quotes_the_servers_figures(make_setup):
    """Another device uploads while the pass runs: the pass's estimate is stale, the
    server refuses, and the message gives the server's usage, not the estimate."""
    with StandinServer(quota=60_000) as srv:
        setup = make_setup(srv, concurrency=1)
        srv.faults.on_handled("POST", "/api/assets", lambda: srv.state.seed_asset(
            srv.user.id, b"\xff\xd8" + b"p" * 30_000, "phone.jpg"))
        proc = setup.run("once")
        assert proc.returncode == 73, proc.stderr
        usage = srv.user.quota_usage_in_bytes
        assert f"quota exceeded on the server: {usage:,} of 60,000 bytes used" in proc.stderr
        status = setup.json("status")
        assert status["server"]["quota"] == {"size": 60_000, "usage": usage}
        check_clean(srv)


def test_a_quota_raised_during_the_pass_lets_it_go_on(make_setup):
    """The estimate says full, the server (its admin raised the quota) has room: the
    pass asks before it stops, and goes on."""
    with StandinServer(quota=20_000) as srv:
        setup = make_setup(srv, concurrency=1)
        srv.faults.on_handled("POST", "/api/assets", lambda: srv.set_quota(None))
        proc = setup.run("once")
        assert proc.returncode == 0, proc.stderr
        assert set(server_assets(srv)) == set(setup.lib.expected.values())
        check_clean(srv)
