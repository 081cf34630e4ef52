"""What the stand-in server holds, as tests compare it: by checksum and by album name.

Shared by the e2e and reliability suites. Each view asserts the two invariants every
test relies on: no content stored twice, no album created twice.
"""

from __future__ import annotations

from typing import Any

from immich_standin import StandinServer


def server_assets(srv: StandinServer) -> dict[str, Any]:
    """checksum hex → asset, asserting no checksum is stored twice."""
    with srv.state.lock:
        assets = list(srv.state.assets.values())
    by_sum: dict[str, Any] = {}
    for asset in assets:
        assert asset.checksum_hex not in by_sum, f"{asset.original_file_name} stored twice"
        by_sum[asset.checksum_hex] = asset
    return by_sum


def server_albums(srv: StandinServer) -> dict[str, set[str]]:
    """album name → checksums of its assets, asserting names are unique."""
    with srv.state.lock:
        albums = list(srv.state.albums.values())
        assets = dict(srv.state.assets)
    out: dict[str, set[str]] = {}
    for album in albums:
        assert album.name not in out, f"album {album.name!r} created twice"
        out[album.name] = {assets[i].checksum_hex for i in album.asset_ids}
    return out
