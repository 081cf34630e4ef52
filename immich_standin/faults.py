"""Fault injection, switched on and off by tests while the server runs.

A backup daemon lives with flaky servers and proxies: 5xx answers, rate limits, a proxy's
413 page, connections dropped in the middle of an upload, slow links, a server that is
simply gone. Each :class:`FaultRule` matches requests by method and path (a glob on the
full path, e.g. ``/api/assets`` or ``/api/albums/*``) and applies to the next ``times``
matching requests, or to a seeded-random share of them (``rate``).

Kinds of rule:

* ``status``   - answer ``status`` with a body (JSON like Immich, or a proxy's HTML page);
                 ``read_body`` says whether the body is read (a server error) or not
                 (a proxy refusing at once; the connection is then closed).
* ``drop``     - read ``after_bytes`` of the body, then abort the TCP connection.
* ``lost_answer`` - handle the request for real (an upload is stored), then abort the
                 connection instead of answering: the client never hears the outcome.
* ``hook``     - call ``callback`` (in the server's thread) as the request arrives, or once
                 it was handled: before the answer is sent, or ``seconds`` after it went
                 out. Tests use
                 it to act at an exact point, e.g. to kill the client right then.
* ``latency``  - wait ``seconds`` before handling (combines with other rules).
* ``throttle`` - read the body at ``bytes_per_second`` (combines with other rules): a slow
                 link, so the connection's receive buffer is made small too (else the
                 kernel would take MBs ahead of the reader that a slow link never carries).
* ``stop_reading`` - read ``after_bytes`` of the body, then nothing for ``seconds`` (a
                 server or proxy that stalls), then go on (combines with other rules);
                 the receive buffer is kept small (256 KiB) so that the kernel does not
                 take in the body the server does not read.
* ``record``   - note what of the body reached the server as it is read: (time.monotonic(),
                 bytes) in ``received`` (and per request in ``bodies``), counting what
                 the kernel holds for the reader too (Linux), i.e. what left the client
                 (combines with other rules). Over HTTPS the TLS layer's buffer counts
                 too, but not the record OpenSSL is reading: up to 16 KiB fewer than
                 arrived.

:meth:`Faults.set_down` simulates an offline server: ``mode="close"`` accepts and aborts
every connection at once, ``mode="refuse"`` stops listening so connects are refused.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

NGINX_413 = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
PROXY_PAGES = {
    502: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>nginx</center></body></html>",
    504: "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway "
    "Time-out</h1></center><hr><center>nginx</center></body></html>",
}


TERMINAL = ("status", "drop", "lost_answer")


@dataclass
class FaultRule:
    # "status" | "drop" | "lost_answer" | "hook" | "latency" | "throttle" | "stop_reading"
    # | "record"
    kind: str
    method: str | None = None  # None matches any method
    path: str = "*"
    times: int | None = 1  # None = every matching request (subject to ``rate``)
    rate: float | None = None  # probability per matching request
    status: int = 500
    body: str | None = None  # None: an Immich-style JSON error body
    content_type: str = "application/json"
    retry_after: str | None = None
    read_body: bool = True
    after_bytes: int = 0
    seconds: float = 0.0
    bytes_per_second: int = 0
    skip: int = 0  # let this many matching requests through first
    callback: Callable[[], None] | None = None  # hook
    after_answer: bool = False  # hook: call ``seconds`` after the answer, not before
    at_arrival: bool = False  # hook: call as the request arrives, before handling it
    hits: int = 0
    id: int = 0
    extra_headers: dict[str, str] = field(default_factory=dict)
    # record: (time.monotonic(), body bytes received) samples, of every request it
    # matched; and the same, one list per request, in the order they came
    received: list[tuple[float, int]] = field(default_factory=list)
    bodies: list[list[tuple[float, int]]] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class FaultPlan:
    """What to do to one request: the combined effect of the rules that fired."""

    latency: float = 0.0
    bytes_per_second: int = 0
    terminal: FaultRule | None = None
    hooks: list[FaultRule] = field(default_factory=list)
    stop_reading: FaultRule | None = None
    recorders: list[FaultRule] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return (not self.latency and not self.bytes_per_second and self.terminal is None
                and not self.hooks and self.stop_reading is None and not self.recorders)


class Faults:
    """The registry of active fault rules; thread-safe, usable from tests."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._next_id = 1
        self.down_mode: str | None = None
        # Set by the server so that "refuse" can stop/restart listening.
        self._on_down_change: Callable[[str | None], None] | None = None

    # ------------------------------------------------------------- adding rules
    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def fail(
        self,
        method: str | None,
        path: str,
        status: int = 500,
        *,
        times: int | None = 1,
        rate: float | None = None,
        body: str | None = None,
        content_type: str = "application/json",
        retry_after: float | str | None = None,
        read_body: bool = True,
    ) -> FaultRule:
        """Answer ``status`` to matching requests (after reading the body by default)."""
        if body is None and status in PROXY_PAGES:
            body, content_type = PROXY_PAGES[status], "text/html"
        return self.add(FaultRule(
            kind="status", method=method, path=path, status=status, times=times, rate=rate,
            body=body, content_type=content_type, read_body=read_body,
            retry_after=None if retry_after is None else str(retry_after),
        ))

    def rate_limit(
        self, method: str | None, path: str, retry_after: float | str = 1, *,
        times: int | None = 1, rate: float | None = None,
    ) -> FaultRule:
        """429 Too Many Requests with a ``Retry-After`` header (seconds)."""
        return self.fail(
            method, path, 429, times=times, rate=rate, retry_after=retry_after,
            body='{"message":"Too Many Requests","statusCode":429}', read_body=False,
        )

    def payload_too_large(
        self, method: str | None = "POST", path: str = "/api/assets", *,
        times: int | None = 1, rate: float | None = None,
    ) -> FaultRule:
        """A reverse proxy's 413 HTML page, sent without reading the body."""
        return self.fail(
            method, path, 413, times=times, rate=rate, body=NGINX_413,
            content_type="text/html", read_body=False,
        )

    def drop(
        self, method: str | None, path: str, after_bytes: int = 0, *,
        times: int | None = 1, rate: float | None = None,
    ) -> FaultRule:
        """Read ``after_bytes`` of the body, then abort the connection (no answer)."""
        return self.add(FaultRule(
            kind="drop", method=method, path=path, after_bytes=after_bytes, times=times,
            rate=rate,
        ))

    def lose_answer(
        self, method: str | None, path: str, *, times: int | None = 1,
        rate: float | None = None,
    ) -> FaultRule:
        """Handle the request (an upload is stored), then abort without answering."""
        return self.add(FaultRule(
            kind="lost_answer", method=method, path=path, times=times, rate=rate,
        ))

    def on_handled(
        self, method: str | None, path: str, callback: Callable[[], None], *,
        after_answer: float | None = None, skip: int = 0, times: int | None = 1,
    ) -> FaultRule:
        """Call ``callback`` when a matching request has been handled: before its answer
        is sent (``after_answer=None``), or that many seconds after it was sent."""
        return self.add(FaultRule(
            kind="hook", method=method, path=path, callback=callback, skip=skip, times=times,
            after_answer=after_answer is not None, seconds=after_answer or 0.0,
        ))

    def on_request(
        self, method: str | None, path: str, callback: Callable[[], None], *,
        skip: int = 0, times: int | None = 1,
    ) -> FaultRule:
        """Call ``callback`` as a matching request arrives, before its body is read."""
        return self.add(FaultRule(
            kind="hook", method=method, path=path, callback=callback, skip=skip, times=times,
            at_arrival=True,
        ))

    def latency(
        self, method: str | None, path: str, seconds: float, *,
        times: int | None = None, rate: float | None = None,
    ) -> FaultRule:
        return self.add(FaultRule(
            kind="latency", method=method, path=path, seconds=seconds, times=times, rate=rate,
        ))

    def throttle(
        self, method: str | None, path: str, bytes_per_second: int, *,
        times: int | None = None, rate: float | None = None,
    ) -> FaultRule:
        """Read request bodies no faster than ``bytes_per_second`` (a slow link)."""
        return self.add(FaultRule(
            kind="throttle", method=method, path=path, bytes_per_second=bytes_per_second,
            times=times, rate=rate,
        ))

    def stop_reading(
        self, method: str | None, path: str, after_bytes: int, seconds: float, *,
        times: int | None = 1,
    ) -> FaultRule:
        """Read ``after_bytes`` of matching bodies, then nothing for ``seconds``."""
        return self.add(FaultRule(
            kind="stop_reading", method=method, path=path, after_bytes=after_bytes,
            seconds=seconds, times=times,
        ))

    def record(self, method: str | None, path: str, *, times: int | None = 1) -> FaultRule:
        """Note, as matching bodies are read, what of them reached the server: the
        rule's ``received`` fills with (time.monotonic(), bytes) samples."""
        return self.add(FaultRule(kind="record", method=method, path=path, times=times))

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r.id != rule.id]

    def clear(self) -> None:
        """Remove all rules and bring the server back up."""
        with self._lock:
            self._rules.clear()
        self.set_down(None)

    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    # ------------------------------------------------------------------- down
    def set_down(self, mode: str | bool | None = "close") -> None:
        """Take the server "offline": ``"close"``, ``"refuse"``; ``None``/False = up."""
        if mode is True:
            mode = "close"
        if mode is False:
            mode = None
        if mode not in (None, "close", "refuse"):
            raise ValueError(f"unknown down mode {mode!r}")
        with self._lock:
            self.down_mode = mode
        if self._on_down_change is not None:
            self._on_down_change(mode)

    # ---------------------------------------------------------------- matching
    def plan_for(self, method: str, path: str) -> FaultPlan:
        """Consume the rules that fire for this request and combine them."""
        plan = FaultPlan()
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method, path):
                    continue
                if rule.kind in TERMINAL and plan.terminal is not None:
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.hits += 1
                if rule.kind == "hook":
                    plan.hooks.append(rule)
                elif rule.kind == "latency":
                    plan.latency += rule.seconds
                elif rule.kind == "throttle":
                    plan.bytes_per_second = rule.bytes_per_second
                elif rule.kind == "stop_reading":
                    plan.stop_reading = rule
                elif rule.kind == "record":
                    plan.recorders.append(rule)
                else:
                    plan.terminal = rule
        return plan
