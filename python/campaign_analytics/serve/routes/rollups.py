"""The read API: /livez, /health, a campaign's performance and anomalies, /creators/top.

Routes are thin: they ask the store and the benchmark source, which raise domain errors; the
app's one handler turns those into `{"detail": ...}` responses.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import Field, TypeAdapter, ValidationError

from campaign_analytics.errors import RollupUnavailable
from campaign_analytics.serve.routes import explorer
from campaign_analytics.serve.schemas import (
    CampaignAnomalies,
    CampaignPerformance,
    ErrorDetail,
    HealthReport,
    Liveness,
    TopCreators,
)
from campaign_analytics.serve.service import service_of
from campaign_analytics.serve.store import RollupStore

#
# The read routes are the hot path, so they are kept lean; each saving below was measured with
# the serving benchmark (ratios to /livez, bench/run.py): the service comes from
# `request.app.state` rather than a `Depends` (about 20 us a request), ids are read from
# `request.path_params` rather than declared as parameters (about 10 us; `openapi_extra`
# documents them), bodies are bytes the store prepared, and /creators/top reads its query
# itself: canonical values take a fast path, anything else is validated by the same pydantic
# rules FastAPI would apply and fails with FastAPI's own 422.


def prepared(body: bytes, build_id: bytes) -> Response:
    """A 200 JSON body the store already rendered, with the build it came from."""
    return Response(body, media_type="application/json", headers={"x-build-id": build_id.decode("latin-1")})


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Unknown campaign"},
    503: {"model": ErrorDetail, "description": "No rollups loaded"},
}
router = APIRouter()


@router.get("/livez", response_model=Liveness)
async def livez() -> Response:
    """Liveness only: answers while the process serves, checks nothing else."""
    return Response(b'{"status":"alive"}', media_type="application/json")


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
    return prepared(store.performance(request.path_params["campaign_id"]), store.build_id_header)


LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 100, 10  # /creators/top?limit= (docs/contract.md §4)
_LIMIT = TypeAdapter(Annotated[int, Field(ge=LIMIT_MIN, le=LIMIT_MAX)])
_LIMIT_DIGITS = len(str(LIMIT_MAX))
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
        "schema": {
            "type": "integer",
            "minimum": LIMIT_MIN,
            "maximum": LIMIT_MAX,
            "default": LIMIT_DEFAULT,
            "title": "Limit",
        },
    },
    {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "json (default) or csv: the creators as text/csv, a header row first (explorer.py)",
        "schema": {"type": "string", "enum": ["json", "csv"], "default": "json", "title": "Format"},
    },
]


def top_query(request: Request) -> tuple[str, int]:
    """`campaign_id` (required) and `limit` (LIMIT_MIN..LIMIT_MAX, default LIMIT_DEFAULT), or
    FastAPI's 422."""
    query = request.query_params  # parsed once per request by FastAPI already
    campaign_id = query.get("campaign_id")
    raw_limit = query.get("limit")
    errors: list[dict[str, Any]] = []
    if campaign_id is None:
        errors.append({"type": "missing", "loc": ("query", "campaign_id"), "msg": "Field required", "input": None})
    limit = LIMIT_DEFAULT
    if raw_limit is None:
        pass
    # the common case, without pydantic (int() of a 5,000-digit string would raise: length first)
    elif (
        len(raw_limit) <= _LIMIT_DIGITS
        and raw_limit.isascii()
        and raw_limit.isdigit()
        and LIMIT_MIN <= int(raw_limit) <= LIMIT_MAX
    ):
        limit = int(raw_limit)
    else:
        # Anything else goes through pydantic, as FastAPI would; a value too long to be a
        # limit is validated (and shown in the 422) as its first 50 characters, never parsed.
        shown = raw_limit if len(raw_limit) <= 50 else raw_limit[:50] + "..."
        try:
            limit = _LIMIT.validate_python(raw_limit if len(raw_limit) <= 50 else "?", strict=False)
        except ValidationError as exc:
            errors += [{**e, "loc": ("query", "limit"), "input": shown} for e in exc.errors(include_url=False)]
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
    return prepared(store.top_creators(campaign_id, limit), store.build_id_header)


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
    head = store.head(campaign_id)  # unknown campaign: 404 before the benchmark is called
    thresholds = await service.benchmarks.thresholds(campaign_id)
    return prepared(store.anomalies(head, thresholds), store.build_id_header)


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def health(request: Request) -> JSONResponse:
    """Rollups loaded (database), benchmark source usable, and which dataset is served."""
    service = service_of(request)
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
