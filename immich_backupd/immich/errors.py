"""What a failed request means for a backup: retry it, stop the pass, or give up on a file.

Pure, so that the decision can be tested over every status and message without a
server. The classification follows the answers of a real Immich server (which the
in-repo stand-in, ``immich_standin``, imitates): quota and unsupported types are 400s told apart by
their message; 401 is a bad key; 403 names the missing permission.
"""

from __future__ import annotations

import re
from enum import Enum


class ErrorKind(Enum):
    TRANSIENT = "transient"  # connection, timeout, 5xx, 429: retry with backoff
    AUTH = "auth"  # 401: the key is wrong or revoked: stop, exit 77
    PERMISSION = "permission"  # 403: the key lacks a permission: stop, exit 77
    QUOTA = "quota"  # quota exceeded: stop the pass, exit 73
    UNSUPPORTED = "unsupported"  # the server refuses this file type: record, do not retry
    TOO_LARGE = "too_large"  # 413 from a proxy: fail the file, say what to change
    NOT_FOUND = "not_found"  # album or asset gone
    BAD_REQUEST = "bad_request"  # the server refused this file: fail it, retry later
    BAD_RESPONSE = "bad_response"  # not JSON or not the expected shape: treat as transient


RETRYABLE = frozenset({ErrorKind.TRANSIENT, ErrorKind.BAD_RESPONSE})

_PERMISSION_RE = re.compile(r"Missing required permission: ([\w.]+)")


def classify(status: int, message: str) -> ErrorKind:
    """Given an HTTP status and the server's message, say what kind of failure it is."""
    if status == 401:
        return ErrorKind.AUTH
    if status == 403:
        return ErrorKind.PERMISSION
    if status == 413:
        return ErrorKind.TOO_LARGE
    if status in (408, 429) or status >= 500:
        return ErrorKind.TRANSIENT
    if status == 404:
        return ErrorKind.NOT_FOUND
    lowered = message.lower()
    if "quota" in lowered and "exceeded" in lowered:
        return ErrorKind.QUOTA
    if lowered.startswith("unsupported file type"):
        return ErrorKind.UNSUPPORTED
    if "not found" in lowered:
        return ErrorKind.NOT_FOUND
    return ErrorKind.BAD_REQUEST


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160))}
MESSAGE_LIMIT = 500


def as_data(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A server-supplied string made safe to print: control characters (newlines, ANSI
    escapes) shown escaped, so a message cannot forge log lines or drive a terminal;
    and cut to ``limit`` characters. The one place server text is cleaned."""
    cleaned = text.translate(_CONTROL)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


def missing_permission(message: str) -> str | None:
    """The permission a 403 names, e.g. ``asset.upload``."""
    match = _PERMISSION_RE.search(message)
    return match.group(1) if match else None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds only; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class ApiError(Exception):
    """The server answered, but not with success."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        path: str = "",
        correlation_id: str | None = None,
        retry_after: float | None = None,
        kind: ErrorKind | None = None,
    ) -> None:
        self.status = status
        self.message = as_data(message)
        self.method = method
        self.path = path
        self.correlation_id = correlation_id
        self.retry_after = retry_after
        self.kind = kind or classify(status, self.message)
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        text = f"{where}{self.status} {self.message}".rstrip()
        if self.kind is ErrorKind.TOO_LARGE:
            text += (
                " (the server or a reverse proxy in front of it limits the request size: "
                "raise it, e.g. nginx client_max_body_size 0, or Cloudflare's 100 MB limit)"
            )
        if self.correlation_id:
            text += f" [correlation id {self.correlation_id}]"
        return text

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class TransportError(Exception):
    """No usable answer: connection refused or dropped, timeout, TLS failure."""

    def __init__(self, message: str) -> None:
        super().__init__(as_data(message))

    kind = ErrorKind.TRANSIENT
    retryable = True
    retry_after: float | None = None
