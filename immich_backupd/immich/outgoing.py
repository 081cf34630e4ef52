"""An upload body that knows how much of itself has left the machine.

Bytes handed to the HTTP library are not sent: they may wait in the transport's buffer,
then in the kernel's socket send queue (several MB on loopback or a LAN). Counting them
as sent made the progress bar show 100 % (and a rate far too high at the start) while
MBs were still queued, and aiohttp's ``sock_read`` timeout, which it starts once the
body is handed over, ran while they still had to go out: a large video on a slow uplink
could time out although it was moving. And while the body was being written no timeout
ran at all: a server that stopped reading held the upload for ever.

So :class:`UploadBody` (an ``aiohttp.Payload``) counts as sent what the transport was
given minus what its buffer and the kernel's send queue still hold. On Linux the kernel
says how much of the socket's data the peer has not acknowledged (``SIOCOUTQ``): what is
counted has reached the server's machine. Over TLS, the TLS layer keeps the transport
under it (and what that buffers: up to a chunk, encrypted) to itself; there the kernel's
count of the connection's acknowledged bytes (``tcp_info``) bounds it, less what TLS
records add (see :class:`SentMeter`). Elsewhere (macOS, BSD) none of this is asked: the
count is what the kernel took, as before (logged once).

The request's timeouts are :meth:`UploadBody.guard`'s (the request is sent without
``sock_read``):
- while the body leaves: nothing left for ``timeout`` seconds (the server or a proxy
  stopped reading, the link is gone) fails it; time spent waiting on our own bandwidth
  cap does not count;
- once all of it left (the kernel's queue empty): the answer has ``timeout`` seconds.
Either is a :class:`TransportError`: transient, retried like any other; the try's
connection is dropped (:meth:`UploadBody.cut`), as when the try is cancelled. The
body's writer is never held back for this (aiohttp would close a connection whose
writer it had to cancel when the answer came first): a timer looks at the queue instead.
While the body waits for the file's next chunk the same limit holds, and its expiry is
the file's failure, not the server's: a :class:`TimeoutError` (an ``OSError``: a read on
a network share gone away hangs) left in ``MultipartBody.error`` for the caller.

``on_progress`` gets file bytes (the multipart heads and fields not counted), never more
than the server's machine has received (Linux), never decreasing within a try (a retry
is a new body, counted from 0): after each chunk (one ``ioctl``), every :data:`TICK`
seconds while a write waits, and while the tail drains.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractStreamWriter

from .errors import TransportError
from .multipart import MultipartBody

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Linux: the unacknowledged bytes of a TCP socket (SIOCOUTQ is TIOCOUTQ there,
#: asm-generic/sockios.h). Not asked elsewhere: the same number is a tty's on macOS.
SIOCOUTQ = 0x5411 if sys.platform.startswith("linux") else None
#: How often, while the body is written, what left is looked at (progress, the stall
#: check): a write may wait seconds for a full send queue. At most a quarter of the
#: timeout.
TICK = 0.5
#: Once the body is handed over, the queue is looked at from every millisecond
#: (loopback drains in microseconds) up to this, by the rate it drains at.
MAX_POLL = 0.1

#: Linux: where ``tcpi_bytes_acked`` lies in ``struct tcp_info`` (4.1 on; it only grows).
TCPI_BYTES_ACKED = 120
#: TLS: the most plaintext a record carries, and the most a record adds to it (header,
#: explicit nonce, MAC or tag, a CBC suite's padding): a bound, to count low.
TLS_RECORD = 16384
TLS_RECORD_OVERHEAD = 90

_said_inexact = False


def tcp_bytes_acked(sock: Any) -> int | None:
    """All bytes of the connection its peer acknowledged (Linux 4.1 on: ``tcp_info``),
    or None where that cannot be asked."""
    if SIOCOUTQ is None or sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, ValueError, AttributeError):
        return None
    if len(raw) < TCPI_BYTES_ACKED + 8:
        return None
    return int(struct.unpack_from("Q", raw, TCPI_BYTES_ACKED)[0])


def kernel_unsent(sock: Any) -> int | None:
    """Bytes written to ``sock`` that its peer has not acknowledged (queued or in
    flight), or None where that cannot be asked (not Linux, no socket, closed)."""
    if SIOCOUTQ is None or sock is None:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return None
    return int(struct.unpack("i", raw)[0])


class SentMeter:
    """What of the body bytes handed to ``writer`` (``written``, counted by the caller,
    in ``writes`` writes) left the machine.

    Plain TCP: what was written, less the transport's buffer and the kernel's queue.
    TLS: the TLS layer keeps the transport under it, and that one's buffer, to itself;
    so the kernel's count of the connection's bytes the peer acknowledged since the body
    began is used too (Linux ``tcp_info``), less the request's head and the most the TLS
    records can add to what they carry: never more than the server received, a little
    less (under 1 %).
    """

    def __init__(self, writer: AbstractStreamWriter) -> None:
        self.writer = writer
        self.transport = transport = writer.transport
        self.sock = transport.get_extra_info("socket") if transport is not None else None
        # Whether the kernel's queue is known: else the count is what it took.
        self.exact = kernel_unsent(self.sock) is not None
        # TLS: the connection's acknowledged bytes when the body began (those queued
        # then included: they were not ours).
        self.acked_from: int | None = None
        if self.exact and transport is not None and transport.get_extra_info("ssl_object"):
            acked, queued = tcp_bytes_acked(self.sock), kernel_unsent(self.sock)
            if acked is None or queued is None:
                self.exact = False
            else:
                self.acked_from = acked + queued
        # The request's head goes out with the first chunk and counts in output_size.
        self.output_from = writer.output_size
        self.written = 0
        self.writes = 0
        self.sent = 0  # never decreases
        self.queued: int | None = None  # still on this machine, when last measured

    def look(self) -> tuple[int, int] | None:
        """(bytes still on this machine, body bytes known to have left), or None once
        the connection is closing: unknowable then."""
        transport = self.transport
        if not isinstance(transport, asyncio.WriteTransport) or transport.is_closing():
            return None
        queued = transport.get_write_buffer_size()
        if not self.exact:
            return queued, self.written - queued
        in_kernel = kernel_unsent(self.sock)
        if in_kernel is None:
            return None
        queued += in_kernel
        if self.acked_from is None:
            return queued, self.written - queued
        acked = tcp_bytes_acked(self.sock)
        if acked is None:
            return None
        cipher = acked - self.acked_from
        head = self.writer.output_size - self.output_from - self.written
        # Every byte handed over was acknowledged only once at least as many went.
        queued = max(queued, self.written + head - cipher)
        records = cipher // TLS_RECORD + self.writes + 2
        left = cipher - records * TLS_RECORD_OVERHEAD - head
        return queued, min(self.written - queued, left)

    def measure(self) -> int:
        """Body bytes that left (``sent``); ``queued`` is set to what is still here."""
        seen = self.look()
        self.queued = None if seen is None else seen[0]
        if seen is not None:
            self.sent = max(self.sent, seen[1])
        return self.sent


class UploadBody(aiohttp.Payload):
    """The multipart body as aiohttp writes it, counting what left (see the module)."""

    def __init__(self, body: MultipartBody, on_progress: Callable[[int], None] | None,
                 timeout: float) -> None:
        super().__init__(body, content_type=body.content_type)
        self.body = body
        self.length = len(body)
        self.on_progress = on_progress
        self.timeout = timeout
        self.meter: SentMeter | None = None  # of the write under way
        self.handed_over = False  # all of it given to the transport
        self.reading = False  # waiting for the body's next chunk (the file, or the cap)
        self.reported = 0
        self.watch: _Watch | None = None

    @property
    def size(self) -> int:
        return self.length

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed upload body has no text form")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter,
                                content_length: int | None) -> None:
        self.meter = meter = SentMeter(writer)
        self.handed_over = False
        if not meter.exact:
            _say_inexact()
        chunks = self.body.stream()
        while True:
            # Left set when the wait ends otherwise: the try is over, and guard() asks.
            self.reading = True
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                self.reading = False
                break
            self.reading = False
            await writer.write(chunk)
            meter.written += len(chunk)
            meter.writes += 1
            self.report(meter.measure())
        self.handed_over = True
        if self.watch is not None:
            self.watch.look_now()

    def report(self, body_sent: int) -> None:
        """Tell ``on_progress`` the file bytes within the first ``body_sent`` bytes."""
        if self.on_progress is None:
            return
        sent = self.body.file_bytes_within(body_sent)
        if sent > self.reported:
            self.reported = sent
            self.on_progress(sent)

    async def guard(self, request: Awaitable[T], what: str) -> T:
        """Await ``request`` (the one sending this body) under the module's timeouts;
        their expiry is a :class:`TransportError` naming ``what`` (with a
        :class:`TimeoutError` in ``MultipartBody.error`` when the body was waiting for
        the file). A try that expires or is cancelled loses its connection (:meth:`cut`)."""
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                self.watch = watch = _Watch(asyncio.get_running_loop(), deadline, self)
                try:
                    return await request
                finally:
                    watch.stop()
                    # No cycle left: a pass collects cycles seldom (gctune.py), and
                    # this one would hold the file's kept bytes (1 GB of RSS over a
                    # first backup of 1,000 files of 1 MB, before it was broken).
                    self.watch = None
        except TimeoutError:
            if deadline.expired():
                self.cut()
                if self.reading and self.body.error is None:  # the file's fault
                    self.body.error = TimeoutError(
                        errno.ETIMEDOUT, f"no data for {self.timeout:g} s")
                raise TransportError(f"{what}: {watch.expired_text()}") from None
            raise
        except asyncio.CancelledError:
            self.cut()
            raise

    def cut(self) -> None:
        """Drop the connection of a try that ends unfinished (timed out, cancelled) at
        once. aiohttp closes it, and a transport that is closed waits to send what it
        holds first: from a server that stopped reading that is never, and each such
        try would keep a socket and up to MBs of body open for as long as the server
        keeps the connection."""
        transport = self.meter.transport if self.meter is not None else None
        if transport is not None:
            transport.abort()


class _Watch:
    """The timer that looks at what left: reports it, pushes the deadline on while the
    body leaves, and gives the answer its time once all of it left."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: asyncio.Timeout,
                 upload: UploadBody) -> None:
        self.loop, self.deadline, self.upload = loop, deadline, upload
        self.tick = min(TICK, upload.timeout / 4)
        self.seen = 0
        self.drain_from: tuple[float, int] | None = None  # (time, sent) when handed over
        self.answering = False  # all of it left: the deadline is the answer's
        self.handle: asyncio.TimerHandle | None = loop.call_later(self.tick, self.look)

    def look_now(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.look()

    def look(self) -> None:
        self.handle = None
        if self.deadline.expired():  # the try is ending: its deadline cannot move now
            return
        upload, meter = self.upload, self.upload.meter
        now = self.loop.time()
        if meter is None:  # connecting: the first deadline holds
            self.handle = self.loop.call_later(self.tick, self.look)
            return
        sent = meter.measure()
        upload.report(sent)
        if sent > self.seen or upload.body.pacing:
            self.seen = sent
            self.deadline.reschedule(now + upload.timeout)
        if not upload.handed_over:
            self.handle = self.loop.call_later(self.tick, self.look)
            return
        if self.drain_from is None:
            self.drain_from = (now, sent)
        unsent = meter.queued
        if not unsent:  # all of it left (or the connection closed): the answer's turn
            self.answering = True
            self.deadline.reschedule(now + upload.timeout)
            return
        since, at = self.drain_from
        rate = (sent - at) / max(now - since, 1e-3)
        # Look about twice before it should be out at the rate it drains at.
        wait = unsent / rate / 2 if rate > 0 else MAX_POLL
        self.handle = self.loop.call_later(min(max(wait, 0.001), MAX_POLL), self.look)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def expired_text(self) -> str:
        if self.answering:
            return f"no answer {self.upload.timeout:g} s after the last byte went out"
        if self.upload.meter is None:
            return "timed out"
        return f"nothing sent for {self.upload.timeout:g} s (the server stopped reading)"


def _say_inexact() -> None:
    global _said_inexact
    if not _said_inexact:
        _said_inexact = True
        log.info("upload progress counts the bytes handed to the system, not those that "
                 "left it: this system does not say what its socket still holds")
