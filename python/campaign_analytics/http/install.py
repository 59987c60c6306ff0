"""The HTTP layer around the API's routes, installed by `create_app()` in one call.

install_http(app, settings)
  middleware   RequestLogMiddleware (request id, nosniff, access log, metrics)
               -> CORSMiddleware (only when CORS_ALLOW_ORIGINS is set)
               -> HttpCachingMiddleware (HEAD, ETag, 304, Cache-Control) -> the routes
  GET /metrics Prometheus text format (metrics.py)
  /docs, /redoc offline (openapi_docs.py), and the schema's headers and status codes

(Logging is set up by `create_app()` before anything else, logs.configure(); service.py
announces each build it starts serving: one INFO line and the build's metrics.)
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware

from campaign_analytics.http import metrics
from campaign_analytics.http.middleware import HttpCachingMiddleware, RequestLogMiddleware, printable
from campaign_analytics.http.openapi_docs import document, install_docs
from campaign_analytics.settings import Settings

__all__ = ["install_http", "printable"]

log = logging.getLogger("campaign_analytics")

# Answers that depend on live thresholds are revalidated every time (their ETag still saves
# the body); every other read answer is fixed for its build.
REVALIDATE_SUFFIXES = ("/anomalies",)


def install_http(app: FastAPI, settings: Settings) -> None:
    install_docs(app)
    document(app)
    multiprocess_dir = settings.prometheus_multiproc_dir

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.exposition(multiprocess_dir)
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    fresh = f"public, max-age={settings.cache_max_age_seconds}".encode()

    def cache_control(route: str) -> bytes:
        return b"no-cache" if route.endswith(REVALIDATE_SUFFIXES) else fresh

    # add_middleware puts each one outside the ones before it
    app.add_middleware(HttpCachingMiddleware, cache_control=cache_control)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "X-Build-Id", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestLogMiddleware, log_requests=settings.access_log, count_requests=settings.metrics_enabled)
