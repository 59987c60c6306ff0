"""The read-only HTTP API: `create_app()`, its lifespan, the one error handler, the routes.

    create_app(settings=None, *, benchmark_transport=None)
      lifespan: load the published build (building it first, in a child process, when none
                answers for the current inputs and SQL) and open one pooled httpx client
      routes:   thin; they ask the store and the benchmark source, which raise domain errors
      handler:  CampaignAnalyticsError -> {"detail": ...} with the error's own status

Settings are read when `create_app()` is called, never at import.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import Field, TypeAdapter, ValidationError

from campaign_analytics import __version__, explorer
from campaign_analytics.benchmarks import BenchmarkSource, FixtureBenchmarks, HttpBenchmarks
from campaign_analytics.errors import CampaignAnalyticsError, RollupUnavailable
from campaign_analytics.manifest import find_published, is_current
from campaign_analytics.schemas import (
    CampaignAnomalies,
    CampaignPerformance,
    ErrorDetail,
    HealthReport,
    Liveness,
    TopCreators,
)
from campaign_analytics.settings import Settings
from campaign_analytics.store import RollupStore

log = logging.getLogger("campaign_analytics")

JSON_BYTES = b"application/json"
BUILD_HEADER = b"x-build-id"  # the build a read answer came from


@dataclass
class Service:
    """Everything a request needs, made once in the lifespan."""

    settings: Settings
    benchmarks: BenchmarkSource
    store: RollupStore | None
    load_error: str | None = None

    def rollups(self) -> RollupStore:
        if self.store is None:
            raise RollupUnavailable(f"no rollups are loaded: {self.load_error}")
        return self.store


def create_app(
    settings: Settings | None = None, *, benchmark_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    config = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            benchmarks: BenchmarkSource
            if config.benchmark_fixtures_file is not None:
                benchmarks = FixtureBenchmarks(config.benchmark_fixtures_file)
            else:
                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=benchmark_transport,
                        timeout=config.benchmark_timeout_seconds,
                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                        headers={"User-Agent": f"campaign-analytics/{__version__}"},
                    )
                )
                benchmarks = HttpBenchmarks(client, config.benchmark_api_base, config.benchmark_timeout_seconds)
            store, error = await anyio.to_thread.run_sync(load_rollups, config)
            app.state.service = Service(config, benchmarks, store, error)
            # The loaded rollups are millions of long-lived objects that never change; left to
            # the cyclic GC, every full collection walks them all (pauses of tens of ms, seen as
            # p99 spikes). Freezing moves everything alive now out of the collector's sight.
            gc.collect()
            gc.freeze()
            yield

    app = FastAPI(
        title="campaign-analytics",
        version=__version__,
        description="Campaign, creator and daily rollups of creator-marketing metrics.",
        lifespan=lifespan,
    )
    app.add_exception_handler(CampaignAnalyticsError, _domain_error)  # type: ignore[arg-type]
    app.include_router(router)
    app.include_router(explorer.router)  # /campaigns, /campaigns/{id}/daily, the page at /
    # Routes are matched in order and FastAPI puts its docs routes first; every request to the
    # API would test those patterns before its own. Move them to the end.
    docs = [r for r in app.router.routes if getattr(r, "include_in_schema", True) is False]
    app.router.routes[:] = [r for r in app.router.routes if r not in docs] + docs
    return app


def load_rollups(settings: Settings) -> tuple[RollupStore | None, str | None]:
    """The published build for the current inputs, built first if there is none."""
    published = find_published(settings.rollup_dir)
    if published is None or not is_current(published, settings.data_dir):
        problem = _build_in_child(settings)
        if problem is not None:
            log.error("start-up build failed: %s", problem)
        published = find_published(settings.rollup_dir)
        if published is None:
            return None, problem or f"nothing published in {settings.rollup_dir}"
        if problem is not None:
            log.warning("serving the previous build %s, which does not match the inputs", published.build_id)
    try:
        store = RollupStore.load(published)
    except RollupUnavailable as exc:
        log.error("%s", exc)
        return None, exc.detail
    log.info("serving build %s (%d campaigns) from %s", store.build_id, len(store), published.path)
    return store, None


def _build_in_child(settings: Settings) -> str | None:
    """Run the batch build as its own process: the server never holds the build's memory, and
    the serve side does not import the build code. Returns the failure message, if any."""
    package_parent = Path(__file__).resolve().parents[1]
    command = [
        sys.executable,
        "-m",
        "campaign_analytics",
        "build",
        "--data-dir",
        str(settings.data_dir.resolve()),
        "--out",
        str(settings.rollup_dir.resolve()),
        "--dataset",
        settings.dataset,
        "--if-stale",
    ]
    done = subprocess.run(command, cwd=package_parent, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    log.info("%s", done.stdout.strip())
    return None


async def _domain_error(request: Request, exc: CampaignAnalyticsError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


# --- routes --------------------------------------------------------------------------------
#
# The read routes are the hot path, so they are kept lean (each saving below was measured with
# the serving benchmark): the service comes from `request.app.state` rather than a `Depends`
# (about 20 us a request), ids are read from `request.path_params` rather than declared as
# parameters (about 10 us; `openapi_extra` documents them), bodies are prepared bytes sent with
# precomputed headers, and /creators/top reads its query itself: canonical values take a fast
# path, anything else is validated by the same pydantic rules FastAPI would apply and fails
# with FastAPI's own 422.


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


class PreparedJSON(Response):
    """A 200 JSON body that is already bytes, with precomputed headers (no header munging)."""

    def __init__(self, body: bytes, build_id: bytes | None = None) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON_BYTES)]
        if build_id is not None:
            self.raw_headers.append((BUILD_HEADER, build_id))


# The liveness answer, made once: as lean as a response gets, so it is a fair baseline.
LIVEZ = PreparedJSON(b'{"status":"alive"}')
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Unknown campaign"},
    503: {"model": ErrorDetail, "description": "No rollups loaded"},
}
router = APIRouter()


@router.get("/livez", response_model=Liveness)
async def livez() -> Response:
    """Liveness only: answers while the process serves, checks nothing else."""
    return LIVEZ


_CAMPAIGN_PATH = {
    "parameters": [
        {"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "string", "title": "Campaign Id"}}
    ]
}


@router.get(
    "/campaigns/{campaign_id:path}/performance",
    response_model=CampaignPerformance,
    responses=ERRORS,
    openapi_extra=_CAMPAIGN_PATH,
)
async def campaign_performance(request: Request) -> Response:
    """A campaign's totals with CTR, CVR and ROAS."""
    store = service_of(request).rollups()
    return PreparedJSON(store.performance(request.path_params["campaign_id"]), store.build_id_header)


_LIMIT = TypeAdapter(Annotated[int, Field(ge=1, le=100)])
_TOP_PARAMETERS = [
    {
        "name": "campaign_id",
        "in": "query",
        "required": True,
        "description": "the campaign whose creators are ranked",
        "schema": {"type": "string", "title": "Campaign Id"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "how many creators, best first",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10, "title": "Limit"},
    },
]


def top_query(request: Request) -> tuple[str, int]:
    """`campaign_id` (required) and `limit` (1..100, default 10), or FastAPI's 422."""
    query = request.query_params  # parsed once per request by FastAPI already
    campaign_id = query.get("campaign_id")
    raw_limit = query.get("limit")
    errors: list[dict[str, Any]] = []
    if campaign_id is None:
        errors.append({"type": "missing", "loc": ("query", "campaign_id"), "msg": "Field required", "input": None})
    if raw_limit is None:
        limit = 10
    elif raw_limit.isascii() and raw_limit.isdigit() and 1 <= (limit := int(raw_limit)) <= 100:
        pass  # the common case, without pydantic
    else:
        try:
            limit = _LIMIT.validate_python(raw_limit, strict=False)
        except ValidationError as exc:
            errors += [{**e, "loc": ("query", "limit")} for e in exc.errors(include_url=False)]
    if errors:
        raise RequestValidationError(errors)
    return str(campaign_id), limit


@router.get(
    "/creators/top",
    response_model=TopCreators,
    responses=ERRORS,
    openapi_extra={"parameters": _TOP_PARAMETERS},
)
async def top_creators(request: Request) -> Response:
    """A campaign's creators: conversions desc, then clicks desc, then creator_id ascending."""
    campaign_id, limit = top_query(request)
    if "format" in request.query_params:  # ?format=csv (or json): explorer.py answers
        return explorer.top_creators_export(request, campaign_id, limit)
    store = service_of(request).rollups()
    return PreparedJSON(store.top_creators(campaign_id, limit), store.build_id_header)


@router.get(
    "/campaigns/{campaign_id:path}/anomalies",
    response_model=CampaignAnomalies,
    responses={**ERRORS, 502: {"model": ErrorDetail, "description": "Benchmark service failed"}},
    openapi_extra=_CAMPAIGN_PATH,
)
async def campaign_anomalies(request: Request) -> Response:
    """Days below the campaign's live benchmark thresholds, and which rules they break."""
    campaign_id: str = request.path_params["campaign_id"]
    service = service_of(request)
    store = service.rollups()
    entry = store.campaign(campaign_id)  # unknown campaign: 404 before the benchmark is called
    thresholds = await service.benchmarks.thresholds(campaign_id)
    return PreparedJSON(entry.anomalies_body(thresholds), store.build_id_header)


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def health(request: Request) -> JSONResponse:
    """Rollups loaded (database), benchmark source usable, and which dataset is served."""
    service = service_of(request)
    database = "ok" if service.store is not None else "error"
    benchmark = await service.benchmarks.health()
    body = {
        "status": "ok" if database == "ok" and benchmark != "error" else "degraded",
        "database": database,
        "benchmark_service": benchmark,
        "dataset": service.settings.dataset,
        "build_id": service.store.build_id if service.store is not None else None,
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
