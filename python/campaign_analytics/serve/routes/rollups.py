"""The read API: /livez, /health, a campaign's performance and anomalies, /creators/top.

Routes are thin: parameters are declared (FastAPI validates them and writes the OpenAPI
schema), the store and the benchmark source raise domain errors, and the app's one handler
turns those into `{"detail": ...}` responses. Bodies are bytes the store prepared when the
build was loaded.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from campaign_analytics.errors import RollupUnavailable
from campaign_analytics.serve.routes import explorer
from campaign_analytics.serve.routes.canonical import CanonicalRoute, campaign_path_only, reads, top_query
from campaign_analytics.serve.routes.common import (
    BENCHMARK_FAILED,
    CSV_TOO,
    NOT_FOUND,
    CampaignIdPath,
    JsonOnly,
    JsonOrCsv,
    ServiceDep,
    prepared,
)
from campaign_analytics.serve.schemas import CampaignAnomalies, CampaignPerformance, HealthReport, Liveness, TopCreators
from campaign_analytics.serve.store import RollupStore

LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 100, 10  # /creators/top?limit= (docs/contract.md §4)

router = APIRouter(route_class=CanonicalRoute)  # canonical requests skip parameter solving (canonical.py)


@router.get("/livez", response_model=Liveness, tags=["operations"])
async def livez() -> Response:
    """Liveness only: answers while the process serves, checks nothing else."""
    return Response(b'{"status":"alive"}', media_type="application/json")


@router.get(
    "/campaigns/{campaign_id:path}/performance",
    response_model=CampaignPerformance,
    responses=NOT_FOUND,
    tags=["rollups"],
)
@reads(campaign_path_only)
async def campaign_performance(campaign_id: CampaignIdPath, service: ServiceDep, fmt: JsonOnly = "json") -> Response:
    """A campaign's totals with CTR, CVR and ROAS."""
    store = service.rollups()
    return prepared(store.performance(campaign_id), store.build_id)


@router.get(
    "/creators/top",
    response_model=TopCreators,
    responses={**NOT_FOUND, **CSV_TOO},
    tags=["rollups"],
)
@reads(top_query(LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT))
async def top_creators(
    campaign_id: Annotated[str, Query(min_length=1, description="the campaign whose creators are ranked")],
    service: ServiceDep,
    limit: Annotated[int, Query(ge=LIMIT_MIN, le=LIMIT_MAX, description="how many creators, best first")] = (
        LIMIT_DEFAULT
    ),
    fmt: JsonOrCsv = "json",
) -> Response:
    """A campaign's creators: conversions desc, then clicks desc, then creator_id ascending."""
    store = service.rollups()
    if fmt == "csv":
        return explorer.top_creators_csv(store, campaign_id, limit)
    return prepared(store.top_creators(campaign_id, limit), store.build_id)


@router.get(
    "/campaigns/{campaign_id:path}/anomalies",
    response_model=CampaignAnomalies,
    responses={**NOT_FOUND, **BENCHMARK_FAILED},
    tags=["rollups"],
)
@reads(campaign_path_only)
async def campaign_anomalies(campaign_id: CampaignIdPath, service: ServiceDep, fmt: JsonOnly = "json") -> Response:
    """Days below the campaign's live benchmark thresholds, and which rules they break."""
    store = service.rollups()
    store.position(campaign_id)  # unknown campaign: 404 before the benchmark is called
    thresholds = await service.benchmarks.thresholds(campaign_id)
    return prepared(store.anomalies(campaign_id, thresholds), store.build_id)


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}}, tags=["operations"])
async def health(service: ServiceDep) -> JSONResponse:
    """Rollups loaded (database), benchmark source usable, and which dataset is served."""
    try:
        store: RollupStore | None = service.rollups()
    except RollupUnavailable:
        store = None
    database = "ok" if store is not None else "error"
    benchmark = await service.benchmarks.health()
    newest_refused = service.rejected[0] if service.rejected else None
    body = {
        "status": "ok" if database == "ok" and benchmark != "error" else "degraded",
        "database": database,
        "benchmark_service": benchmark,
        "dataset": service.settings.dataset,
        "build_id": store.build_id if store is not None else None,
        "newest_build_refused": (
            {"build_id": newest_refused.build_id, "reason": newest_refused.reason} if newest_refused else None
        ),
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
