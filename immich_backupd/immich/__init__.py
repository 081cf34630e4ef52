"""The Immich API client: the one place that knows URLs, fields and versions.

- ``versions``: which servers we support and what differs between them (pure).
- ``errors``: what an answer means for the backup: retry, stop, skip (pure).
- ``multipart``: the streamed upload body, in the order the server needs.
- ``client``: the HTTP calls themselves.
- ``retry``: transient failures retried around the client, with backoff and jitter.
"""

from .client import ImmichClient
from .errors import ApiError, ErrorKind, TransportError

__all__ = ["ApiError", "ErrorKind", "ImmichClient", "TransportError"]
