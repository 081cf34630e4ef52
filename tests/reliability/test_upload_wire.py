"""What an upload says it sent, and when it waits for the answer: a real socket on
loopback to the stand-in, which notes what of the body reached it (what the kernel
holds for it included) as it reads, reads at the pace of a slow link, or stops reading.

Bytes handed to the HTTP library used to count as sent: the kernel's socket buffers
(MBs on loopback) made the progress run ahead of the server, and the read timeout
started while they were still queued, so a slow link failed a large file that moved.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import gc
import hashlib
import logging
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from immich_backupd.immich import outgoing
from immich_backupd.immich.client import ImmichClient, UploadRequest
from immich_backupd.immich.errors import TransportError
from immich_backupd.immich.retry import RetryPolicy
from immich_backupd.pipeline.server import Retrying
from immich_standin import StandinServer
from immich_standin.library import JPEG
from immich_standin.view import server_assets

from .conftest import check_clean

MB = 1_000_000


def _photo(folder: Path, size: int) -> tuple[Path, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big.jpg"
    data = JPEG + os.urandom(size - len(JPEG))
    path.write_bytes(data)
    return path, data


def _request(path: Path, data: bytes, reports: list[tuple[float, int]],
             tries: list[float] | None = None) -> UploadRequest:
    return UploadRequest(
        path=path, size=len(data), sha1=hashlib.sha1(data).digest(),
        created_at="2024-05-01T10:00:00.000+02:00", modified_at="2024-05-01T10:00:00.000+02:00",
        filename=path.name,
        on_progress=lambda sent: reports.append((time.monotonic(), sent)),
        on_try=None if tries is None else (lambda: tries.append(time.monotonic())),
    )


def _never_ahead(reports: list[tuple[float, int]], received: list[tuple[float, int]],
                 size: int, unseen: int = 0) -> None:
    """Each report is at most what the server had received by then: its next sample
    (body bytes: the file's are fewer), or all of it after its last; give or take
    ``unseen`` bytes the server has but cannot count."""
    assert received and received[-1][1] >= size
    times = [t for t, _ in received]
    for at, sent in reports:
        i = bisect.bisect_left(times, at)
        arrived = received[i][1] if i < len(received) else received[-1][1]
        assert sent <= arrived + unseen, f"{sent} reported sent at {at - times[0]:.2f} s, " \
                                         f"{arrived} received"
    assert reports[-1][1] == size


@pytest.mark.skipif(outgoing.SIOCOUTQ is None, reason="the send queue is asked on Linux only")
async def test_a_large_upload_over_a_slow_link_succeeds_and_never_claims_more_than_arrived(
        server, tmp_path):
    """20 MB over a link of 2 MB/s with a read timeout of 1.5 s: the body's last MBs
    wait in the socket buffers for longer than that, so the timeout must start once
    they left, not once they were handed over. Every progress report is at most what
    the server had received by then (the next sample it took, body bytes: the file's
    bytes are fewer), and the reports follow the transfer, not jump to the end."""
    path, data = _photo(tmp_path, 20 * MB)
    server.faults.throttle("POST", "/api/assets", bytes_per_second=2 * MB)
    received = server.faults.record("POST", "/api/assets").received
    reports: list[tuple[float, int]] = []
    async with ImmichClient(server.api_url, server.api_key, timeout=1.5) as client:
        await client.server_version()
        result = await client.upload(_request(path, data, reports))
    assert not result.duplicate
    (asset,) = server_assets(server).values()
    assert asset.checksum_hex == hashlib.sha1(data).hexdigest()

    _never_ahead(reports, received, len(data))
    # The transfer took seconds; the reports came along (a chunk, or a tick, at a time).
    middle = [sent for _, sent in reports if 0.2 * len(data) < sent < 0.8 * len(data)]
    assert len(middle) >= 5, reports


async def test_a_server_that_stops_reading_fails_the_try_and_the_retry_succeeds(
        server, tmp_path):
    """The server reads 1 MB of a 24 MB body (more than the socket buffers on both sides
    hold), then nothing for 6 s: with a timeout of 1 s the try fails as a timeout
    (transient) well before the server reads again, and the retry uploads the file.
    (Before, the write waited for the server without a limit: the read timeout starts
    only once the body is handed over.)"""
    path, data = _photo(tmp_path, 24 * MB)
    server.faults.stop_reading("POST", "/api/assets", after_bytes=MB, seconds=6)
    reports: list[tuple[float, int]] = []
    tries: list[float] = []
    client = ImmichClient(server.api_url, server.api_key, timeout=1)
    async with client:
        await client.server_version()
        with pytest.raises(TransportError, match="nothing sent for 1 s") as failed:
            await client.upload(_request(path, data, reports, tries))
        stalled_at = time.monotonic()
        assert failed.value.retryable
        assert stalled_at - tries[0] < 5, "the try waited for the server to read again"
        assert reports and reports[-1][1] < len(data)

        retrying = Retrying(client, RetryPolicy(max_attempts=3, initial=0.1, max=0.2))
        server.faults.stop_reading("POST", "/api/assets", after_bytes=MB, seconds=6)
        result = await retrying.upload(_request(path, data, reports, tries))
    assert len(tries) == 3 and not result.duplicate
    (asset,) = server_assets(server).values()
    assert asset.checksum_hex == hashlib.sha1(data).hexdigest()


@pytest.mark.parametrize("ended_by", ["timeout", "cancel"])
async def test_a_try_that_ends_unfinished_leaves_no_connection_behind(
        server, tmp_path, ended_by):
    """A try the timeout ends (or that is cancelled: a stop) drops its connection at
    once. aiohttp only closes it, and a closed transport first sends what it holds: to a
    server that stopped reading, never. Each such try kept a socket and the MBs of body
    it held for as long as the server kept the connection (here: until it reads again)."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    real = loop.create_connection

    async def kept(*args: object, **kwargs: object) -> object:
        transport, protocol = await real(*args, **kwargs)  # type: ignore[arg-type]
        transports.append(transport)
        return transport, protocol

    loop.create_connection = kept  # type: ignore[method-assign]
    path, data = _photo(tmp_path, 24 * MB)
    server.faults.stop_reading("POST", "/api/assets", after_bytes=MB, seconds=8)
    async with ImmichClient(server.api_url, server.api_key,
                            timeout=1 if ended_by == "timeout" else 30) as client:
        await client.server_version()
        upload = asyncio.ensure_future(client.upload(_request(path, data, [])))
        if ended_by == "timeout":
            with pytest.raises(TransportError, match="nothing sent for 1 s"):
                await upload
        else:
            await asyncio.sleep(1.5)
            upload.cancel()
            with pytest.raises(asyncio.CancelledError):
                await upload
        await asyncio.sleep(0.2)
        lingering = [t for t in transports
                     if t.is_closing() and t.get_extra_info("socket").fileno() != -1]
        assert lingering == [], "a closed connection still holds its socket"


async def test_where_the_send_queue_cannot_be_asked_progress_counts_what_was_handed_on(
        server, tmp_path, monkeypatch, caplog):
    """Not Linux (here: the query switched off, as on macOS): the count is what the
    kernel took, as it was before; the upload works and the log says so, once."""
    monkeypatch.setattr(outgoing, "SIOCOUTQ", None)
    monkeypatch.setattr(outgoing, "_said_inexact", False)
    path, data = _photo(tmp_path, 3 * MB)
    reports: list[tuple[float, int]] = []
    caplog.set_level(logging.INFO, logger=outgoing.__name__)
    async with ImmichClient(server.api_url, server.api_key) as client:
        await client.server_version()
        await client.upload(_request(path, data, reports))
        (path.parent / "other.jpg").write_bytes(data[:-1] + b"x")
        other = _request(path.parent / "other.jpg", data[:-1] + b"x", reports)
        await client.upload(other)
    assert reports[-1][1] == len(data)
    said = [r for r in caplog.records if "not those that left it" in r.getMessage()]
    assert len(said) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
async def test_a_file_that_gives_nothing_fails_as_the_files_not_the_servers(
        server, tmp_path):
    """A read that hangs (a network share gone away; here a FIFO whose writer gives 60 KB
    and then nothing) fails the try after the timeout as the file's: an OSError (the
    pipeline's 'cannot read'), not a server that stopped reading, and nothing retried."""
    fifo = tmp_path / "share.jpg"
    os.mkfifo(fifo)
    data = JPEG + os.urandom(200_000 - len(JPEG))
    feed = os.open(fifo, os.O_RDWR)  # Linux: a FIFO opened read-write does not wait
    try:
        os.write(feed, data[:60_000])
        tries: list[float] = []
        retrying = Retrying(ImmichClient(server.api_url, server.api_key, timeout=1),
                            RetryPolicy(max_attempts=3, initial=0.1, max=0.2))
        async with retrying.inner as client:
            await client.server_version()
            with pytest.raises(TimeoutError, match="no data for 1 s"):
                await retrying.upload(_request(fifo, data, [], tries))
    finally:
        os.close(feed)  # the read waiting in a thread gets its end of file
    assert len(tries) == 1
    assert server_assets(server) == {}


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(outgoing.SIOCOUTQ is None, reason="the send queue is asked on Linux only")
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_over_ipv6_progress_follows_the_link_too(tmp_path):
    """The kernel's queue is asked the same way on an IPv6 connection: a slow link's
    upload succeeds, and no report is above what had arrived."""
    path, data = _photo(tmp_path, 6 * MB)
    reports: list[tuple[float, int]] = []
    with StandinServer(version="3.1.0", host="::1") as srv:
        srv.faults.throttle("POST", "/api/assets", bytes_per_second=2 * MB)
        received = srv.faults.record("POST", "/api/assets").received
        async with ImmichClient(srv.api_url, srv.api_key, timeout=1.5) as client:
            await client.server_version()
            await client.upload(_request(path, data, reports))
        check_clean(srv)
    assert srv.api_url.startswith("http://[::1]:")
    _never_ahead(reports, received, len(data))
    middle = [sent for _, sent in reports if 0.2 * len(data) < sent < 0.8 * len(data)]
    assert len(middle) >= 3, reports


def test_the_kernel_is_asked_only_what_a_socket_can_answer():
    """What is not a TCP connection (a unix socket, UDP, a closed socket) has no
    tcp_info: None, never an error. A unix socket's queue counts what its reader has
    not taken (at least the bytes, with the kernel's overhead: it counts low)."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x" * 1000)
        assert outgoing.tcp_bytes_acked(a) is None
        if outgoing.SIOCOUTQ is not None:
            assert outgoing.kernel_unsent(a) >= 1000
            assert b.recv(4096) == b"x" * 1000
            assert outgoing.kernel_unsent(a) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert outgoing.tcp_bytes_acked(udp) is None
        assert isinstance(outgoing.kernel_unsent(udp), int | None)
    closed = socket.socket()
    closed.close()
    assert outgoing.tcp_bytes_acked(closed) is None
    assert outgoing.kernel_unsent(closed) is None
    assert outgoing.tcp_bytes_acked(None) is None and outgoing.kernel_unsent(None) is None


async def test_the_answer_still_has_its_timeout_once_the_body_has_left(server, tmp_path):
    """The read timeout is the body's now (aiohttp's is off for uploads): a server that
    took the whole body and then does not answer fails the try after the timeout."""
    path, data = _photo(tmp_path, 2 * MB)
    # The hook runs in the stand-in's thread once the upload was handled, before its
    # answer: sleeping there holds the answer back.
    server.faults.on_handled("POST", "/api/assets", lambda: time.sleep(3))
    reports: list[tuple[float, int]] = []
    tries: list[float] = []
    async with ImmichClient(server.api_url, server.api_key, timeout=1) as client:
        await client.server_version()
        with pytest.raises(TransportError, match="no answer 1 s after the last byte"):
            await client.upload(_request(path, data, reports, tries))
        assert time.monotonic() - tries[0] < 2.8
    assert reports[-1][1] == len(data)  # it all left: the server has it


async def test_uploads_in_a_row_keep_their_connection(server, tmp_path):
    """The body is handed over without waiting for the kernel's queue (a timer watches
    it): a writer still waiting when the answer came would be cancelled by aiohttp, and
    the connection closed with it, costing a connect per upload."""
    loop = asyncio.get_running_loop()
    connects: list[object] = []
    real = loop.create_connection

    async def counted(*args: object, **kwargs: object) -> object:
        connects.append(args)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    loop.create_connection = counted  # type: ignore[method-assign]
    async with ImmichClient(server.api_url, server.api_key) as client:
        await client.server_version()
        for i in range(20):
            path, data = _photo(tmp_path / str(i), MB)
            await client.upload(_request(path, data, []))
    assert len(server_assets(server)) == 20
    assert len(connects) == 1


async def test_a_wait_on_the_bandwidth_cap_is_not_a_stalled_server(server, tmp_path):
    """Nothing leaves while the cap holds a chunk back: that is our wait, not the
    server's, and does not time the upload out however long it is."""
    path, data = _photo(tmp_path, 100_000)  # two chunks under a cap
    paced: list[int] = []

    async def pace(n: int) -> None:  # a cap far below the timeout's worth of bytes
        paced.append(n)
        await asyncio.sleep(1.4)

    async with ImmichClient(server.api_url, server.api_key, timeout=1) as client:
        await client.server_version()
        req = dataclasses.replace(_request(path, data, []), pace=pace)
        result = await client.upload(req)
    assert not result.duplicate and len(paced) == 2


async def test_an_upload_leaves_no_cycle_holding_its_bytes(server, tmp_path):
    """A pass collects cycles seldom (gctune.py): an upload body kept alive by a cycle
    holds the file's kept bytes, a GB of RSS over a first backup of 1 GB. With the
    collector off, nothing of an upload outlives it."""
    path, data = _photo(tmp_path, MB)
    async with ImmichClient(server.api_url, server.api_key) as client:
        await client.server_version()
        gc.collect()
        gc.disable()
        try:
            req = dataclasses.replace(_request(path, data, []), data=data,
                                      mtime_ns=path.stat().st_mtime_ns)
            await client.upload(req)
            del req
            left = [o for o in gc.get_objects() if isinstance(o, outgoing.UploadBody)]
        finally:
            gc.enable()
    assert left == []


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("cert")
    pem, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(pem), "-days", "2", "-subj", "/CN=immich-standin",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return pem, key


def _tls(cert: tuple[Path, Path]) -> tuple[Path, ssl.SSLContext]:
    """The certificate to trust, and the stand-in's TLS context serving it."""
    pem, key = cert
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(pem, key)
    return pem, server_side


@pytest.mark.skipif(outgoing.SIOCOUTQ is None, reason="the send queue is asked on Linux only")
async def test_over_https_progress_never_claims_more_than_arrived(cert, tmp_path):
    """The TLS layer keeps the socket's transport, and what that one buffers (up to a
    chunk, encrypted), to itself: the count is the kernel's acknowledged bytes less what
    TLS records add, so it stays at or under what the server received here too."""
    pem, server_side = _tls(cert)
    path, data = _photo(tmp_path, 8 * MB)
    reports: list[tuple[float, int]] = []
    with StandinServer(version="3.1.0", ssl_context=server_side) as srv:
        srv.faults.throttle("POST", "/api/assets", bytes_per_second=2 * MB)
        received = srv.faults.record("POST", "/api/assets").received
        trust = ssl.create_default_context(cafile=str(pem))
        async with ImmichClient(srv.api_url, srv.api_key, ssl_context=trust) as client:
            await client.server_version()
            await client.upload(_request(path, data, reports))
        check_clean(srv)
    # The server's count misses the record OpenSSL is reading (taken from the TLS
    # layer's buffer, not decrypted yet): up to a record. Counted as over plain TCP,
    # the client ran up to 0.86 MB ahead.
    _never_ahead(reports, received, len(data), unseen=outgoing.TLS_RECORD + 256)
    middle = [sent for _, sent in reports if 0.2 * len(data) < sent < 0.8 * len(data)]
    assert len(middle) >= 3, reports


async def test_over_https_without_tcp_info_the_count_is_what_the_kernel_took(
        cert, tmp_path, monkeypatch, caplog):
    """A kernel before 4.1 has a shorter tcp_info, without the acknowledged bytes (here:
    the field looked for past its end): over TLS the count falls back to what was
    handed on, as where the queue cannot be asked, said once; the upload works."""
    monkeypatch.setattr(outgoing, "TCPI_BYTES_ACKED", 4096)
    monkeypatch.setattr(outgoing, "_said_inexact", False)
    caplog.set_level(logging.INFO, logger=outgoing.__name__)
    pem, server_side = _tls(cert)
    path, data = _photo(tmp_path, 3 * MB)
    reports: list[tuple[float, int]] = []
    with StandinServer(version="3.1.0", ssl_context=server_side) as srv:
        trust = ssl.create_default_context(cafile=str(pem))
        async with ImmichClient(srv.api_url, srv.api_key, ssl_context=trust) as client:
            await client.server_version()
            result = await client.upload(_request(path, data, reports))
        check_clean(srv)
    assert not result.duplicate and reports[-1][1] == len(data)
    assert [s for _, s in reports] == sorted(s for _, s in reports)
    said = [r for r in caplog.records if "not those that left it" in r.getMessage()]
    assert len(said) == 1
