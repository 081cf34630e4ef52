"""An in-repo Immich stand-in server for testing backup clients.

A real aiohttp server on loopback that behaves like Immich (the vendored v2.7.0 or
v3.1.0 OpenAPI spec in ``openapi/``, plus what the real server does that a spec does
not say, described where it is done: api_assets.py, api_stacks.py, ...)
for what a backup client uses: server info, ``/users/me``, ``/api-keys/me``,
``POST /assets``, ``POST /assets/bulk-upload-check``, ``GET``/``PUT /assets/{id}``,
albums, stacks (``state.stacks``; see api_stacks.py for what real servers do when a
stack is made again) and the job queues. It is strict on
purpose: every request is validated against the spec of the emulated version and each
failure is recorded in ``state.violations`` (a list of readable strings), so client
tests can end with ``assert srv.state.violations == []``.

In a test::

    from immich_standin import StandinServer

    with StandinServer(version="3.1.0") as srv:
        srv.url          # "http://127.0.0.1:PORT"   (the API is under srv.api_url)
        srv.api_key      # key of the default admin user, permission "all"
        srv.user         # that user (srv.set_quota(bytes) sets its quota)
        srv.state        # StandinState: assets, albums, counters, requests, violations
        srv.faults       # Faults: srv.faults.fail("POST", "/api/assets", 503, times=2)
        user, key = srv.add_user(["asset.upload", "user.read"], quota=10_000)

The server runs in a background thread with its own event loop, so it works from sync
and asyncio tests alike. Useful state helpers: ``seed_asset(owner_id, data, filename,
trashed=...)``, ``trash_asset(id)``, ``find_asset_by_checksum(hex_or_b64, user_id)``,
``albums_named(name)``, ``create_stack(owner_id, ids)``,
``create_api_key(user_id, permissions)``, ``snapshot()``; counters in ``state.counters``
(created, duplicates, early_duplicates, upload_requests, bulk_checks, bulk_items_checked,
stacks_created, ...); multipart fields the spec does not know in
``state.unknown_fields``; the request log (secrets stripped) in ``state.requests``.

Versions: ``"2.x"`` behaves like the v2.7 spec (deviceAssetId/deviceId required,
``/assets/exist``), anything else like v3.1; ``"1.106.0"`` or ``"4.0.0"`` report that
version from ``/server/version`` so that a client's version gate can be tested.

As a subprocess (``python -m immich_standin --port 0 [--version V] [--api-key K]
[--quota BYTES] [--permissions a,b] [--ready-file P] [--state-dump P]``) it prints one
JSON line ``{"url": ..., "api_key": ..., "version": ...}`` once listening; state is
readable at ``GET /_standin/state`` (no auth) and dumped to ``--state-dump`` on exit
and on SIGUSR1.
"""

from .faults import FaultRule, Faults
from .server import StandinCore, StandinServer
from .state import Album, ApiKey, Asset, Counters, StandinState, User

__all__ = [
    "Album",
    "ApiKey",
    "Asset",
    "Counters",
    "FaultRule",
    "Faults",
    "StandinCore",
    "StandinServer",
    "StandinState",
    "User",
]
