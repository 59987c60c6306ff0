"""A minimal benchmark service for the serving benchmark: raw ASGI, fixed thresholds.

    uvicorn bench.stub_benchmarks:app --port 8091

GET /benchmarks/{id} -> {"min_ctr": 0.02, "min_roas": 1.5}; GET /health -> 200. As cheap as a
Python HTTP server gets, so what is measured is the API's own cost of calling it.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"min_ctr": 0.02, "min_roas": 1.5}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    found = scope["path"].startswith("/benchmarks/") or scope["path"] == "/health"
    await send({"type": "http.response.start", "status": 200 if found else 404, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
