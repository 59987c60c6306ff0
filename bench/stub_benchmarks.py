"""A minimal benchmark service for the serving benchmark: raw ASGI, fixed thresholds.

    uvicorn bench.stub_benchmarks:app --port 8091            # no caching headers
    uvicorn bench.stub_benchmarks:app_max_age --port 8091    # Cache-Control: max-age=N
    uvicorn bench.stub_benchmarks:app_etag --port 8091       # ETag + no-cache: 304 on If-None-Match

GET /benchmarks/{id} -> {"min_ctr": 0.02, "min_roas": 1.5}; GET /health -> 200. As cheap as a
Python HTTP server gets, so what is measured is the API's own cost of calling it. N is
STUB_MAX_AGE (default 60 seconds).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

BODY = b'{"min_ctr": 0.02, "min_roas": 1.5}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
ETAG = b'"stub-1"'

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def make_app(extra: list[tuple[bytes, bytes]], etag: bytes | None = None) -> App:
    headers = HEADERS + extra + ([(b"etag", etag)] if etag else [])
    not_modified = [h for h in headers if h[0] != b"content-length"] + [(b"content-length", b"0")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        found = scope["path"].startswith("/benchmarks/") or scope["path"] == "/health"
        if found and etag is not None and (b"if-none-match", etag) in scope["headers"]:
            await send({"type": "http.response.start", "status": 304, "headers": not_modified})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200 if found else 404, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})

    return app


app = make_app([])
app_max_age = make_app([(b"cache-control", f"max-age={int(os.environ.get('STUB_MAX_AGE', '60'))}".encode())])
app_etag = make_app([(b"cache-control", b"no-cache")], etag=ETAG)
