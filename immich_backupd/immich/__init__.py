"""The Immich API client: the one place that knows URLs, fields and versions.

- ``versions``: which servers we support and what differs between them (pure).
- ``errors``: what an answer means for the backup: retry, stop, skip (pure).
- ``multipart``: the streamed upload body, in the order the server needs.
- ``outgoing``: that body as aiohttp writes it, counting what left the machine.
- ``client``: the HTTP calls themselves.
- ``retry``: transient failures retried around the client, with backoff and jitter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ApiError, ErrorKind, TransportError

if TYPE_CHECKING:
    from .client import ImmichClient

__all__ = ["ApiError", "ErrorKind", "ImmichClient", "TransportError"]


def __getattr__(name: str) -> Any:
    # The client (and with it aiohttp, ~0.15 s to import) only when asked for: the log
    # module needs ``errors``, and every command imports the log, including ``status``,
    # which scripts call often and which never talks to the server.
    if name == "ImmichClient":
        from .client import ImmichClient

        return ImmichClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
