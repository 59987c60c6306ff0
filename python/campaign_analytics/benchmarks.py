"""Benchmark thresholds, from a fixture file or the live HTTP service (SPEC §5).

Both sources return `Thresholds` or raise `BenchmarkUnavailable` with a message that says what
went wrong; there is no default threshold anywhere. Numbers are parsed as `Decimal`, so the
comparisons in anomalies.py use exactly the value that was written.

- `FixtureBenchmarks` reads BENCHMARK_FIXTURES_FILE. The parsed file is kept only while the
  file's (size, mtime, inode) stay the same, so an edit is seen by the next request.
- `HttpBenchmarks` calls GET {base}/benchmarks/{campaign_id} on one pooled httpx.AsyncClient,
  live for every request; one deadline bounds connect, send and the (size-capped) body read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from campaign_analytics.anomalies import Thresholds
from campaign_analytics.errors import BenchmarkUnavailable

THRESHOLD_KEYS = ("min_ctr", "min_roas")
MAX_BODY_BYTES = 64 * 1024


class BenchmarkSource(Protocol):
    mode: str

    async def thresholds(self, campaign_id: str) -> Thresholds: ...

    def pooled(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold long-lived resources (a connection pool) for the running loop while open."""
        ...

    async def health(self) -> str:
        """'fixture' or 'ok' when usable, else 'error'."""
        ...


def parse_thresholds(value: Any, where: str) -> Thresholds:
    """Check one {"min_ctr": n, "min_roas": n} object decoded with Decimal floats."""
    if not isinstance(value, dict):
        raise BenchmarkUnavailable(f"{where}: expected a JSON object, got {_json_type(value)}")
    numbers = {}
    for key in THRESHOLD_KEYS:
        if key not in value:
            raise BenchmarkUnavailable(f"{where}: key {key!r} is missing")
        number = value[key]
        # bool is an int subclass in Python, and not a number in JSON
        if isinstance(number, bool) or not isinstance(number, (int, Decimal)):
            raise BenchmarkUnavailable(f"{where}: {key} is {_json_type(number)}, not a number")
        number = Decimal(number)
        if not number.is_finite() or not math.isfinite(float(number)) or number < 0:
            raise BenchmarkUnavailable(f"{where}: {key} is {number}, not a finite number >= 0")
        numbers[key] = number
    return Thresholds(min_ctr=numbers["min_ctr"], min_roas=numbers["min_roas"])


def decode_json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BenchmarkUnavailable(f"{where}: body is not JSON ({exc})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class FixtureBenchmarks:
    mode = "fixture"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int, int], dict[str, Thresholds]] | None = None

    def _load(self) -> dict[str, Thresholds]:
        where = f"benchmark fixture {self.path}"
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise BenchmarkUnavailable(f"{where}: cannot be read ({exc.strerror})") from None
        key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            body = self.path.read_bytes()
        except OSError as exc:
            raise BenchmarkUnavailable(f"{where}: cannot be read ({exc.strerror})") from None
        document = decode_json(body, where)
        if not isinstance(document, dict):
            raise BenchmarkUnavailable(f"{where}: expected an object of campaign ids, got {_json_type(document)}")
        table = {cid: parse_thresholds(entry, f"{where}, campaign {cid!r}") for cid, entry in document.items()}
        self._cache = (key, table)
        return table

    @contextlib.asynccontextmanager
    async def pooled(self) -> AsyncIterator[None]:
        yield  # nothing to hold: the file is read per request (cached by its stat)

    async def thresholds(self, campaign_id: str) -> Thresholds:
        table = self._load()
        try:
            return table[campaign_id]
        except KeyError:
            raise BenchmarkUnavailable(
                f"benchmark fixture {self.path} has no thresholds for campaign {campaign_id!r}"
            ) from None

    async def health(self) -> str:
        try:
            self._load()
        except BenchmarkUnavailable:
            return "error"
        return "fixture"


class HttpBenchmarks:
    """The live benchmark service over HTTP.

    A pooled client belongs to one event loop. `pooled()` (entered by the app's lifespan)
    opens one on the loop that serves requests and closes it on exit; a call made on any other
    loop, e.g. by `TestClient(app)` without `with`, which runs each request on a short-lived
    loop of its own, uses a client of its own that is closed before the call returns.
    """

    mode = "http"

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "campaign-analytics",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_seconds
        self._transport = transport
        self._user_agent = user_agent
        self._pool: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"User-Agent": self._user_agent},
        )

    @contextlib.asynccontextmanager
    async def pooled(self) -> AsyncIterator[None]:
        """Keep one pooled client for the running loop until the block ends."""
        async with self._new_client() as client:
            self._pool = (asyncio.get_running_loop(), client)
            try:
                yield
            finally:
                self._pool = None

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        pool = self._pool
        if pool is not None and pool[0] is asyncio.get_running_loop():
            yield pool[1]
            return
        async with self._new_client() as client:
            yield client

    def url_for(self, campaign_id: str) -> str:
        segment = quote(campaign_id, safe="")
        if segment in (".", ".."):  # would be read as a relative path step
            segment = segment.replace(".", "%2E")
        return f"{self.base_url}/benchmarks/{segment}"

    async def thresholds(self, campaign_id: str) -> Thresholds:
        url = self.url_for(campaign_id)
        where = f"benchmark service GET {url}"
        try:
            async with asyncio.timeout(self.timeout), self._client() as client:
                status, body = await self._get(client, url, where)
        except TimeoutError:
            raise BenchmarkUnavailable(f"{where}: timed out after {self.timeout:g} s") from None
        except httpx.TimeoutException:
            raise BenchmarkUnavailable(f"{where}: timed out after {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise BenchmarkUnavailable(f"{where}: unreachable ({type(exc).__name__}: {exc})") from None
        if status == 404:
            raise BenchmarkUnavailable(f"{where}: HTTP 404, no thresholds for campaign {campaign_id!r}")
        if status >= 400:
            raise BenchmarkUnavailable(f"{where}: HTTP {status}")
        return parse_thresholds(decode_json(body, where), where)

    async def _get(self, client: httpx.AsyncClient, url: str, where: str) -> tuple[int, bytes]:
        async with client.stream("GET", url) as response:
            if response.status_code >= 400:
                return response.status_code, b""
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise BenchmarkUnavailable(f"{where}: body is larger than {MAX_BODY_BYTES} bytes")
            return response.status_code, bytes(body)

    async def health(self) -> str:
        try:
            async with asyncio.timeout(self.timeout), self._client() as client:
                response = await client.get(f"{self.base_url}/health")
        except (TimeoutError, httpx.HTTPError):
            return "error"
        return "ok" if response.status_code < 500 else "error"
