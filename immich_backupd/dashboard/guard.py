"""The dashboard's security decisions, as plain functions and a session store.

The Syncthing GUI model: loopback only, nothing without a login, and the browser's own
protections switched on:

- ``Host`` must name the address we listen on (``host_allowed``): a DNS-rebinding page
  whose name resolves to 127.0.0.1 sends its own name and is answered 421.
- A state-changing request must come from our own origin (``origin_allowed``: the
  ``Origin`` and ``Sec-Fetch-Site`` headers browsers send) and, when it rides on the
  session cookie, carry the session's CSRF token: else 403.
- The session cookie is HttpOnly and SameSite=Strict, so another site can neither read
  it nor make the browser send it.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

SESSION_COOKIE = "immich_backupd_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = 7 * 86400.0  # seconds a session lasts (sessions also end with the daemon)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def allowed_hosts(host: str, port: int, names: tuple[str, ...] = ()) -> frozenset[str]:
    """The ``Host`` values naming ``host:port``: the address itself, for loopback also
    ``localhost``, else also this machine's ``names`` (its host name). For an address
    that listens everywhere (``0.0.0.0``, ``::``) any IP address with the port is ours
    too (the ``*:port`` entry): an IP literal cannot be rebound by DNS, a name can."""
    address = ipaddress.ip_address(host)
    entries = {f"[{host}]:{port}" if ":" in host else f"{host}:{port}"}
    if address.is_loopback:
        entries.add(f"localhost:{port}")
    else:
        entries.update(f"{name.lower()}:{port}" for name in names if name)
    if address.is_unspecified:
        entries.add(f"*:{port}")
    return frozenset(entries)


def host_allowed(header: str | None, hosts: frozenset[str]) -> bool:
    if header is None:
        return False
    header = header.lower()
    if header in hosts:
        return True
    name, sep, port = header.rpartition(":")
    if not sep or f"*:{port}" not in hosts:
        return False
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return False
    return True


def origin_allowed(method: str, origin: str | None, fetch_site: str | None,
                   hosts: frozenset[str], scheme: str = "http") -> bool:
    """May a request with this method, ``Origin`` and ``Sec-Fetch-Site`` change state?

    Reading (GET) is judged by authentication alone. A change needs no foreign
    ``Origin`` (absent, as from curl, or ours: our ``scheme`` and one of our ``hosts``)
    and no cross-site fetch metadata.
    """
    if method.upper() in SAFE_METHODS:
        return True
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    if origin is None:
        return True
    prefix = f"{scheme}://"
    return origin.lower().startswith(prefix) and host_allowed(origin[len(prefix):], hosts)


def token_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing side never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass
class Session:
    csrf: str
    created: float


@dataclass
class Sessions:
    """Logged-in browsers, in memory: a restart of the daemon logs everyone out."""

    ttl: float = SESSION_TTL
    _by_id: dict[str, Session] = field(default_factory=dict)

    def create(self, now: float) -> tuple[str, Session]:
        self.expire(now)
        sid = secrets.token_urlsafe(32)
        session = self._by_id[sid] = Session(csrf=secrets.token_urlsafe(32), created=now)
        return sid, session

    def get(self, sid: str | None, now: float) -> Session | None:
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None or now - session.created > self.ttl:
            self._by_id.pop(sid, None)
            return None
        return session

    def end_all(self) -> None:
        """Log every browser out (the tokens were rotated)."""
        self._by_id.clear()

    def end(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def expire(self, now: float) -> None:
        for sid in [s for s, v in self._by_id.items() if now - v.created > self.ttl]:
            del self._by_id[sid]
