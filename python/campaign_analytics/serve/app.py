"""The app factory: `create_app()`, its lifespan and the one error handler.

    create_app(settings=None, *, benchmark_transport=None)
      at once:  load the published build (building it first, in a child process, when none
                answers for the current inputs and SQL); the app is ready without a lifespan
      lifespan: (when the server runs it) one pooled benchmark client for its event loop
      routes:   routes/rollups.py (the read API) and routes/explorer.py (the page and its data)
      handler:  CampaignAnalyticsError -> {"detail": ...} with the error's own status

Settings are read when `create_app()` is called, never at import.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from campaign_analytics import __version__
from campaign_analytics.errors import CampaignAnalyticsError, ConfigError
from campaign_analytics.http import logs
from campaign_analytics.http.install import install_http, printable  # ops
from campaign_analytics.serve.benchmarks import BenchmarkSource, FixtureBenchmarks, HttpBenchmarks
from campaign_analytics.serve.routes import explorer, rollups
from campaign_analytics.serve.service import Service
from campaign_analytics.settings import Settings

log = logging.getLogger("campaign_analytics")


def create_app(
    settings: Settings | None = None, *, benchmark_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """A ready app: settings read now (from the environment when none are given), the rollups
    loaded now (built first in a child process when none answer for the inputs and SQL).

    The lifespan, when the server runs it, only adds what belongs to its event loop: a pooled
    client for the live benchmark service, closed again at shutdown. Without it each benchmark
    call opens and closes a client of its own.
    """
    config = settings or Settings.from_env()
    # Logging first: what the start-up says (a build made now, the build served) is shown
    # however the process was started, plain `uvicorn app:app` included.
    logs.configure(config.log_format, config.log_level, access_log=config.access_log)
    benchmarks: BenchmarkSource
    if config.benchmark_fixtures_file is not None:
        benchmarks = FixtureBenchmarks(config.benchmark_fixtures_file)
    else:
        benchmarks = HttpBenchmarks(
            config.benchmark_api_base,
            config.benchmark_timeout_seconds,
            transport=benchmark_transport,
            user_agent=f"campaign-analytics/{__version__}",
        )
    service = Service.start(config, benchmarks)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with benchmarks.pooled():
            yield

    app = FastAPI(
        title="campaign-analytics",
        version=__version__,
        description="Campaign, creator and daily rollups of creator-marketing metrics.",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry hooks look up three global providers on every
        # request even when none is configured: 5 us, 3-4 % of a read request end to end
        # (DECISIONS.md, the tricks table). This service reports through its own /metrics
        # and access log instead.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.service = service
    app.add_exception_handler(CampaignAnalyticsError, _domain_error)  # type: ignore[arg-type]  # starlette types handlers for Exception
    app.include_router(rollups.router)
    app.include_router(explorer.router)  # /campaigns, /campaigns/{id}/daily, the page at /
    app.mount("/static", explorer.static_files(), name="static")
    install_http(app, config)  # ops: logging, middleware, /metrics, offline docs
    return app


async def _domain_error(request: Request, exc: CampaignAnalyticsError) -> JSONResponse:
    if exc.status_code == 502:  # ops: a 502's cause in the log
        log.warning("request %s answered 502: %s", getattr(request.state, "request_id", "-"), printable(exc.detail))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def create_app_for_server() -> FastAPI:
    """`create_app()` for a server process (`uvicorn app:app`, `campaign-analytics serve`): a
    start-up that cannot serve ends the process with one line saying what is missing and how
    to fix it (exit code 1, no traceback) instead of serving 503s. An app made by
    `create_app()` itself (tests, embedding) answers 503 while nothing is loaded."""
    try:
        app = create_app()
    except ConfigError as exc:
        raise SystemExit(f"campaign-analytics: {exc.detail}") from None
    service: Service = app.state.service
    if service.store is None:
        raise SystemExit(
            f"campaign-analytics: nothing to serve: {service.load_error}. Point DATA_DIR at a folder of "
            "valid input files (e.g. data/visible), or publish a build into ROLLUP_DIR with "
            "`campaign-analytics build`."
        )
    return app
