"""Per-request plumbing shared by the handlers: errors, auth, body reading.

Errors are raised as :class:`ApiError` and rendered like Immich does (NestJS style:
``message``, ``error``, ``statusCode``, ``correlationId``). Validation errors differ by
server generation: v2 (class-validator) sends ``message`` as a list of strings, v3 (zod)
sends ``message: "Validation failed"`` plus a structured ``errors`` list.

Request bodies are read through :class:`BodyStream`, which is where fault injection
throttles the link or drops the connection part-way.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import secrets
import socket
import string
import struct
import termios
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .faults import FaultPlan
from .spec import Issue, Operation, Spec
from .state import ApiKey, StandinState, User

JSON_BODY_LIMIT = 10 * 1024 * 1024
# Upload bodies are read in 1 MiB steps: fewer awaits and syscalls per large file.
READ_CHUNK = 1024 * 1024
# Response key: send the answer, half-close, discard the body briefly, then close.
CLOSE_UNDER_CLIENT = web.ResponseKey("standin_close_under_client", bool)


class ApiError(Exception):
    """An error answer; ``close`` makes the server close the connection afterwards."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        *,
        errors: list[dict[str, Any]] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.message = message
        self.errors = errors
        self.close = close


class ConnectionDropped(Exception):
    """The transport was aborted on purpose (fault) or lost; nothing can be answered."""


class BodyCutShort(Exception):
    """The client stopped sending before the body was complete."""


def new_correlation_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


#: The receive buffer of a connection whose body stops being read (see
#: _narrow_receive_buffer).
STALLED_RECEIVE_BUFFER = 256 * 1024


class BodyStream:
    """Reads a request body chunk by chunk, applying throttle/drop/stop-reading faults
    and noting what reached the server where asked (see faults.py)."""

    def __init__(
        self,
        request: web.Request,
        bytes_per_second: int = 0,
        drop_after: int | None = None,
        *,
        stop_after: int | None = None,
        stop_seconds: float = 0.0,
        records: list[list[tuple[float, int]]] | None = None,
    ) -> None:
        self.request = request
        self.bytes_per_second = bytes_per_second
        self.drop_after = drop_after
        self.stop_after = stop_after
        self.stop_seconds = stop_seconds
        self.records = records or []
        self.received = 0
        if bytes_per_second:
            _narrow_receive_buffer(request, min(max(bytes_per_second // 10, 4096), 256 * 1024))
        elif stop_after is not None:
            _narrow_receive_buffer(request, STALLED_RECEIVE_BUFFER)
        self._note()

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        raise ConnectionDropped(f"dropped after {self.received} body bytes")

    async def read(self) -> bytes:
        """Next chunk, or ``b""`` at the end of the body."""
        size = READ_CHUNK
        if self.bytes_per_second:
            size = max(1024, min(READ_CHUNK, self.bytes_per_second // 20))
        if self.drop_after is not None:
            if self.received >= self.drop_after:
                self._abort()
            size = min(size, self.drop_after - self.received)
        if self.stop_after is not None:
            if self.received >= self.stop_after:
                self.stop_after = None
                await asyncio.sleep(self.stop_seconds)
            else:
                size = min(size, self.stop_after - self.received)
        try:
            chunk = await self.request.content.read(size)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection lost, bad chunked encoding, ...
            raise BodyCutShort(str(exc) or type(exc).__name__) from exc
        self.received += len(chunk)
        self._note()
        if not chunk:
            if self.drop_after is not None:
                self._abort()
            return b""
        if self.bytes_per_second:
            await asyncio.sleep(len(chunk) / self.bytes_per_second)
        return chunk

    def _note(self) -> None:
        """Add (now, bytes of the body that reached this machine) to each record: what
        aiohttp took from the socket, and what the kernel still holds for it."""
        if not self.records:
            return
        now = time.monotonic()
        got = self.request.content.total_bytes + _socket_backlog(self.request)
        for record in self.records:
            record.append((now, got))

    async def drain(self, limit: int | None = None) -> int:
        """Read and discard the rest; stop after ``limit`` bytes. Returns bytes read."""
        total = 0
        while True:
            chunk = await self.read()
            if not chunk:
                return total
            total += len(chunk)
            if limit is not None and total > limit:
                return total


def _socket_backlog(request: web.Request) -> int:
    """Bytes that reached this machine on the request's connection that aiohttp has not
    taken yet: in the kernel, and (HTTPS) in the TLS layer's buffer, not yet decrypted
    (counted as they are: a record is a little larger than what it carries)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if transport is None or sock is None:
        return 0
    held = 0
    if transport.get_extra_info("ssl_object") is not None:
        held = transport.get_read_buffer_size()  # type: ignore[attr-defined]
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return held
    return held + int(struct.unpack("i", raw)[0])


def _narrow_receive_buffer(request: web.Request, size: int) -> None:
    """Let the kernel hold at most about ``size`` bytes of the body ahead of the reader.
    A throttled body is a slow link, which never delivers MBs ahead: a tenth of a second
    of it. A body that stops being read (``stop_reading``): STALLED_RECEIVE_BUFFER, what
    the buffer has when its reader stalls early; left alone, it grows on loopback with
    the reading before the stall up to tcp_rmem's maximum (32 MB on some machines) and
    takes in a test's whole body. Set on the connection, it stays for its later
    requests."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


@dataclass
class RequestContext:
    request: web.Request
    state: StandinState
    spec: Spec
    version: str
    correlation_id: str
    plan: FaultPlan
    op: Operation | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    key: ApiKey | None = None
    user: User | None = None
    note: str = ""
    _body: BodyStream | None = None

    @property
    def major(self) -> int:
        """The behaviour generation (2 or 3), not the reported version."""
        return 2 if self.spec.version.startswith("2.") else 3

    @property
    def label(self) -> str:
        return f"{self.request.method} {self.request.path}"

    def body(self) -> BodyStream:
        if self._body is None:
            terminal = self.plan.terminal
            drop = terminal.after_bytes if terminal and terminal.kind == "drop" else None
            stop = self.plan.stop_reading
            records: list[list[tuple[float, int]]] = []
            for rule in self.plan.recorders:
                rule.bodies.append(this_body := [])
                records += [rule.received, this_body]
            self._body = BodyStream(
                self.request, self.plan.bytes_per_second, drop,
                stop_after=stop.after_bytes if stop is not None else None,
                stop_seconds=stop.seconds if stop is not None else 0.0,
                records=records,
            )
        return self._body

    def violation(self, text: str) -> None:
        self.state.add_violation(f"{self.label}: {text}")

    def validation_error(self, issues: list[Issue], *, record: bool = True) -> ApiError:
        """Record the issues as violations and build the version-specific 400."""
        if record:
            for issue in issues:
                self.violation(issue.text())
        if self.major == 2:
            return ApiError(400, [i.v2_message() for i in issues])
        return ApiError(400, "Validation failed", errors=[i.v3_dict() for i in issues])

    def require_user(self) -> User:
        assert self.user is not None, "handler needs an authenticated request"
        return self.user

    async def json_body(self) -> Any:
        """Read, parse and validate a JSON body against the operation's schema."""
        stream = self.body()
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await stream.read()
            if not chunk:
                break
            size += len(chunk)
            if size > JSON_BODY_LIMIT:
                self.violation(f"JSON body larger than {JSON_BODY_LIMIT} bytes")
                raise ApiError(500, "Internal server error", close=True)
            chunks.append(chunk)
        raw = b"".join(chunks)
        ctype = self.request.content_type
        if ctype != "application/json":
            # body-parser ignores other types: the DTO then sees an empty object.
            self.violation(f"Content-Type {ctype!r} instead of application/json")
            body: Any = {}
        elif not raw.strip():
            body = {}
        else:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                self.violation(f"malformed JSON body: {exc}")
                raise ApiError(400, f"Unexpected token in JSON: {exc}") from exc
        assert self.op is not None
        issues = self.spec.validate_json_body(self.op, body)
        if issues:
            raise self.validation_error(issues)
        return body


def json_response(
    ctx: RequestContext,
    data: Any,
    status: int = 200,
    *,
    close: bool = False,
    close_under_client: bool = False,
) -> web.Response:
    """A JSON answer; ``close`` adds ``Connection: close`` (the unread body is drained
    first), ``close_under_client`` closes the connection while the client may still be
    sending (see :func:`close_under_client`)."""
    resp = web.json_response(data, status=status)
    resp.headers["X-Correlation-ID"] = ctx.correlation_id
    if close or close_under_client:
        resp.force_close()
    if close_under_client:
        resp[CLOSE_UNDER_CLIENT] = True
    return resp


async def close_under_client(
    request: web.Request, resp: web.StreamResponse, linger: float
) -> None:
    """Send ``resp`` now, then close the connection without reading the body.

    Like the real server's early duplicate answer: the client sees the answer and then
    end-of-stream (FIN) while it may still be sending; after ``linger`` seconds of
    discarding what it sends, the socket is closed (a client still writing then gets
    EPIPE/ECONNRESET).
    """
    await resp.prepare(request)
    await resp.write_eof()
    transport = request.transport
    if transport is not None and transport.can_write_eof():
        transport.write_eof()
    try:
        async with asyncio.timeout(linger):
            while not request.content.at_eof():
                await request.content.readany()
    except (TimeoutError, Exception):
        pass
    request.protocol.force_close()


async def answer_then_drain(
    request: web.Request, resp: web.StreamResponse, *, idle: float = 5.0, total: float = 30.0
) -> None:
    """Send ``resp`` before the body was read, then read and discard the body.

    This is what Node and nginx do after an early answer (401, 403, a proxy's 413), so
    the client receives the answer instead of a reset. A client that stops sending for
    ``idle`` seconds, or takes longer than ``total``, gets the connection closed.
    """
    await resp.prepare(request)
    await resp.write_eof()
    try:
        async with asyncio.timeout(total):
            while not request.content.at_eof():
                async with asyncio.timeout(idle):
                    await request.content.readany()
    except (TimeoutError, Exception):
        request.protocol.force_close()


def error_response(ctx: RequestContext, err: ApiError) -> web.Response:
    body: dict[str, Any] = {
        "message": err.message,
        "error": reason(err.status),
        "statusCode": err.status,
        "correlationId": ctx.correlation_id,
    }
    if err.errors is not None:
        body["errors"] = err.errors
    return json_response(ctx, body, err.status, close=err.close)
