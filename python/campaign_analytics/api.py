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
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from campaign_analytics import __version__
from campaign_analytics.anomalies import find_alerts
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

JSON = "application/json"
BUILD_HEADER = "X-Build-Id"
LIVEZ_BODY = b'{"status":"alive"}'


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
            yield

    app = FastAPI(
        title="campaign-analytics",
        version=__version__,
        description="Campaign, creator and daily rollups of creator-marketing metrics.",
        lifespan=lifespan,
    )
    app.add_exception_handler(CampaignAnalyticsError, _domain_error)  # type: ignore[arg-type]
    app.include_router(router)
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


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Unknown campaign"},
    503: {"model": ErrorDetail, "description": "No rollups loaded"},
}
router = APIRouter()


def _json(body: bytes, store: RollupStore) -> Response:
    return Response(body, media_type=JSON, headers={BUILD_HEADER: store.build_id})


@router.get("/campaigns/{campaign_id:path}/performance", response_model=CampaignPerformance, responses=ERRORS)
async def campaign_performance(campaign_id: str, service: ServiceDep) -> Response:
    """A campaign's totals with CTR, CVR and ROAS."""
    store = service.rollups()
    return _json(store.performance(campaign_id), store)


@router.get("/creators/top", response_model=TopCreators, responses=ERRORS)
async def top_creators(
    service: ServiceDep,
    campaign_id: Annotated[str, Query(description="the campaign whose creators are ranked")],
    limit: Annotated[int, Query(ge=1, le=100, description="how many creators, best first")] = 10,
) -> Response:
    """A campaign's creators: conversions desc, then clicks desc, then creator_id ascending."""
    store = service.rollups()
    return _json(store.top_creators(campaign_id, limit), store)


@router.get(
    "/campaigns/{campaign_id:path}/anomalies",
    response_model=CampaignAnomalies,
    responses={**ERRORS, 502: {"model": ErrorDetail, "description": "Benchmark service failed"}},
)
async def campaign_anomalies(campaign_id: str, service: ServiceDep) -> Response:
    """Days below the campaign's live benchmark thresholds, and which rules they break."""
    store = service.rollups()
    days = store.days(campaign_id)  # unknown campaign: 404 before the benchmark is called
    thresholds = await service.benchmarks.thresholds(campaign_id)
    body = {
        "campaign_id": campaign_id,
        "thresholds": {"min_ctr": float(thresholds.min_ctr), "min_roas": float(thresholds.min_roas)},
        "alerts": [
            {"metric_date": a.metric_date, "issues": list(a.issues), "ctr": a.ctr, "roas": a.roas}
            for a in find_alerts(days, thresholds)
        ],
    }
    return _json(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), store)


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def health(service: ServiceDep) -> JSONResponse:
    """Rollups loaded (database), benchmark source usable, and which dataset is served."""
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


@router.get("/livez", response_model=Liveness)
async def livez() -> Response:
    """Liveness only: answers while the process serves, checks nothing else."""
    return Response(LIVEZ_BODY, media_type=JSON)
