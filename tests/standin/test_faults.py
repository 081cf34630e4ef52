"""Fault injection: statuses, rate limits, proxy 413, drops, latency, throttle, down."""

from __future__ import annotations

import socket
import time

import aiohttp
import pytest

from immich_standin import StandinServer


async def test_status_for_the_next_n_requests(api, srv):
    srv.faults.fail("GET", "/api/users/me", 503, times=2)
    got = [(await api.call("GET", "/users/me"))[0] for _ in range(3)]
    assert got == [503, 503, 200]
    assert srv.state.counters.faults_injected == 2
    assert [r.status for r in srv.state.requests[-3:]] == [503, 503, 200]


async def test_fault_on_upload_reads_and_validates_but_creates_nothing(api, srv):
    srv.faults.fail("POST", "/api/assets", 500)
    status, body, headers = await api.upload(b"img", dates=False)
    assert status == 500 and body["correlationId"] == headers["X-Correlation-ID"]
    assert srv.state.assets == {}
    assert any("fileCreatedAt" in v for v in srv.state.violations)
    status, _, _ = await api.upload(b"img")
    assert status == 201


async def test_proxy_pages_for_502_and_504(api, srv):
    srv.faults.fail("POST", "/api/assets", 502)
    status, body, _ = await api.upload(b"img")
    assert status == 502 and "Bad Gateway" in body


async def test_rate_limit_with_retry_after(api, srv):
    srv.faults.rate_limit("POST", "/api/assets/bulk-upload-check", retry_after=3)
    status, _, headers = await api.call(
        "POST", "/api/assets/bulk-upload-check".removeprefix("/api"),
        json={"assets": [{"id": "a", "checksum": "00"}]},
    )
    assert status == 429 and headers["Retry-After"] == "3"


async def test_413_from_a_proxy_without_reading_the_body(api, srv):
    srv.faults.payload_too_large()
    status, body, headers = await api.upload(b"x" * 2_000_000)
    assert status == 413 and "413 Request Entity Too Large" in body
    assert headers.get("Connection") == "close"
    assert srv.state.counters.upload_requests == 0


async def test_drop_mid_body(api, srv):
    srv.faults.drop("POST", "/api/assets", after_bytes=100_000)
    with pytest.raises(aiohttp.ClientError):
        await api.upload(b"d" * 1_000_000)
    assert srv.state.assets == {}
    assert "dropped" in srv.state.requests[-1].note
    status, _, _ = await api.upload(b"d" * 1_000_000)
    assert status == 201


async def test_drop_without_body(api, srv):
    # times=None: aiohttp retries an idempotent request once after a disconnect.
    rule = srv.faults.drop("GET", "/api/server/*", times=None)
    with pytest.raises(aiohttp.ClientError):
        await api.call("GET", "/server/ping")
    srv.faults.remove(rule)
    assert (await api.call("GET", "/server/ping"))[0] == 200


async def test_latency_and_throttle(api, srv):
    srv.faults.latency("GET", "/api/server/ping", 0.3, times=1)
    started = time.monotonic()
    await api.call("GET", "/server/ping")
    assert time.monotonic() - started >= 0.3
    srv.faults.throttle("POST", "/api/assets", bytes_per_second=1_000_000)
    started = time.monotonic()
    status, _, _ = await api.upload(b"t" * 600_000)
    assert status == 201 and time.monotonic() - started >= 0.5


async def test_random_rate_is_seeded():
    def run() -> list[int]:
        with StandinServer(seed=42) as srv:
            srv.faults.fail("GET", "/api/server/ping", 500, times=None, rate=0.5)
            out = []
            for _ in range(12):
                try:
                    import urllib.request

                    with urllib.request.urlopen(srv.url + "/api/server/ping") as r:
                        out.append(r.status)
                except urllib.error.HTTPError as exc:
                    out.append(exc.code)
            return out

    first, second = run(), run()
    assert first == second and set(first) == {200, 500}


async def test_down_close_and_refuse(api, srv):
    srv.faults.set_down("close")
    with pytest.raises(aiohttp.ClientError):
        await api.call("GET", "/server/ping")
    srv.faults.set_down("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2)
    srv.faults.set_down(None)
    assert (await api.call("GET", "/server/ping"))[0] == 200
    srv.faults.set_down(True)
    with pytest.raises(aiohttp.ClientError):
        await api.call("GET", "/server/ping")
    srv.faults.clear()
    assert (await api.call("GET", "/server/ping"))[0] == 200
