"""Fixtures for testing the Immich stand-in itself: servers and a tiny API client."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from immich_standin import StandinServer
from immich_standin.spec import spec_for_version

DATE = "2024-05-01T12:00:00.000Z"
DEFAULT: Any = object()  # "use the Api's own key"


class Api:
    """A thin aiohttp wrapper: returns ``(status, json_or_text, headers)``."""

    def __init__(self, srv: StandinServer, session: aiohttp.ClientSession) -> None:
        self.srv = srv
        self.session = session
        self.key: str | None = srv.api_key

    def headers(self, key: Any = DEFAULT, **extra: str) -> dict[str, str]:
        key = self.key if key is DEFAULT else key
        out = dict(extra)
        if key is not None:
            out["x-api-key"] = key
        return out

    async def call(
        self, method: str, path: str, *, json: Any = None, data: Any = None,
        key: Any = DEFAULT, headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        hdrs = {**self.headers(key), **(headers or {})}
        async with self.session.request(
            method, self.srv.url + "/api" + path, json=json, data=data, headers=hdrs,
            params=params,
        ) as resp:
            assert resp.headers.get("X-Correlation-ID"), "every answer has a correlation id"
            if resp.content_type == "application/json":
                body = await resp.json()
            else:
                body = await resp.text()
            return resp.status, body, resp.headers

    async def upload(
        self,
        data: bytes,
        filename: str = "IMG_0001.jpg",
        *,
        fields: list[tuple[str, str]] | None = None,
        before: list[tuple[str, str]] | None = None,
        sidecar: bytes | None = None,
        sidecar_name: str = "IMG_0001.jpg.xmp",
        checksum: str | None = None,
        key: Any = DEFAULT,
        dates: bool = True,
    ) -> tuple[int, Any, Any]:
        """Upload ``data``; ``before`` fields go before the file parts, ``fields`` after."""
        form = aiohttp.FormData()
        for name, value in before or []:
            form.add_field(name, value)
        form.add_field("assetData", data, filename=filename,
                       content_type="application/octet-stream")
        if sidecar is not None:
            form.add_field("sidecarData", sidecar, filename=sidecar_name,
                           content_type="application/xml")
        if dates:
            form.add_field("fileCreatedAt", DATE)
            form.add_field("fileModifiedAt", DATE)
        for name, value in fields or []:
            form.add_field(name, value)
        headers = {}
        if checksum is not None:
            headers["x-immich-checksum"] = checksum
        return await self.call("POST", "/assets", data=form, key=key, headers=headers)

    @staticmethod
    def sha1(data: bytes) -> str:
        return hashlib.sha1(data).hexdigest()

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        """Assert ``body`` fits the spec's response schema for this operation."""
        spec = spec_for_version(self.srv.version)
        match = spec.match(method, path.split("?")[0])
        assert match is not None
        issues = spec.validate_response(match[0], status, body)
        assert issues == [], [i.text() for i in issues]


@pytest.fixture
def srv() -> Iterator[StandinServer]:
    with StandinServer(version="3.1.0") as server:
        yield server
    assert server.state.internal_errors == []


@pytest.fixture
def srv2() -> Iterator[StandinServer]:
    with StandinServer(version="2.7.0") as server:
        yield server
    assert server.state.internal_errors == []


@pytest.fixture
async def api(srv: StandinServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(srv, session)


@pytest.fixture
async def api2(srv2: StandinServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(srv2, session)
