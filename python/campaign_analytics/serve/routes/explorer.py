"""The campaign explorer: discovery, daily series, CSV export, and the page that shows them.

    GET /                               the explorer page (static/index.html, no network needed)
    GET /static/...                     its script and style sheet (Starlette's StaticFiles)
    GET /campaigns                      every campaign with its totals: q, sort, limit, offset, format
    GET /campaigns/{id}/daily           a campaign's days; with_thresholds=true adds thresholds + issues
    GET /creators/top?format=csv        the rollups router's route answers with `top_creators_csv`

Everything is read from the loaded build: a campaign's days, creators and performance body from
its serving file (store.py), and for search, sort and paging the `CampaignCatalog` the store
makes on the first explorer request (catalog.py).

Routing: the app includes this router after the rollups router, so the API's hot routes are
matched before any of these.

Numbers are the API's: totals, money and rates as the rollups store them (rounded by the SQL
files, the one place each is defined), printed as the shortest float repr in JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, get_args

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from campaign_analytics.anomalies import alert_issues
from campaign_analytics.serve.catalog import CAMPAIGN_COLUMNS, DAY_COLUMNS
from campaign_analytics.serve.routes.canonical import CanonicalRoute, canonical_count, reads
from campaign_analytics.serve.routes.common import (
    BENCHMARK_FAILED,
    CSV_TOO,
    CSV_TYPE,
    NOT_FOUND,
    CampaignIdPath,
    JsonOrCsv,
    ServiceDep,
    prepared,
)
from campaign_analytics.serve.schemas import CampaignDaily, CampaignDailyChecked, CampaignList
from campaign_analytics.serve.service import service_of
from campaign_analytics.serve.store import CREATOR_FIELDS, ISSUES_JSON, RollupStore

STATIC = Path(__file__).resolve().parents[1] / "static"

# Every column a campaign can be ordered by, ascending or (with "-") descending.
Sort = Literal[
    "campaign_id", "-campaign_id", "campaign_name", "-campaign_name",
    "total_impressions", "-total_impressions", "total_clicks", "-total_clicks",
    "total_conversions", "-total_conversions", "total_spend", "-total_spend",
    "total_revenue", "-total_revenue", "ctr", "-ctr", "cvr", "-cvr", "roas", "-roas",
]  # fmt: skip


# --- CSV ----------------------------------------------------------------------------------------


def csv_text(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> str:
    """RFC 4180: CRLF ends, a field quoted when it holds a comma, quote or line break (quotes
    doubled). Values print as in the JSON: floats by their shortest repr, null empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _csv(text: str, store: RollupStore, filename: str, headers: dict[str, str] | None = None) -> Response:
    disposition = f'attachment; filename="{_safe_filename(filename)}"'
    return Response(
        text.encode(),
        media_type=CSV_TYPE,
        headers={"X-Build-Id": store.build_id, "Content-Disposition": disposition, **(headers or {})},
    )


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "export"


def top_creators_csv(store: RollupStore, campaign_id: str, limit: int) -> Response:
    """`/creators/top?format=csv`: the creators of the JSON body, one row each, best first."""
    rows = ([creator[c] for c in CREATOR_FIELDS] for creator in store.creators(campaign_id, limit))  # 404 first
    return _csv(csv_text(CREATOR_FIELDS, rows), store, f"{campaign_id}-top-creators.csv")


router = APIRouter(tags=["explorer"], route_class=CanonicalRoute)  # canonical.py: the one shortcut


# --- /campaigns ---------------------------------------------------------------------------------

SORTS = frozenset(get_args(Sort))
PAGE_MAX = 500  # /campaigns?limit=


def campaigns_query(request: Request) -> dict[str, Any] | None:
    """`/campaigns[?q=..][&sort=..][&limit=N][&offset=N][&format=json|csv]`, each at most
    once; anything else goes the declared way (and gets FastAPI's answer, a 422 included)."""
    query = request.query_params
    if len(query.multi_items()) != len(query) or not query.keys() <= {"q", "sort", "limit", "offset", "format"}:
        return None
    sort, fmt = query.get("sort", "campaign_id"), query.get("format", "json")
    limit = canonical_count(query.get("limit"), 50, 1, PAGE_MAX)
    offset = canonical_count(query.get("offset"), 0, 0, 999_999_999)
    if sort not in SORTS or fmt not in ("json", "csv") or limit is None or offset is None:
        return None
    return {
        "service": service_of(request),
        "q": query.get("q"),
        "sort": sort,
        "limit": limit,
        "offset": offset,
        "fmt": fmt,
    }


@router.get("/campaigns", response_model=CampaignList, responses={503: NOT_FOUND[503], **CSV_TOO})
@reads(campaigns_query)
async def list_campaigns(
    service: ServiceDep,
    q: Annotated[str | None, Query(description="keep campaigns whose id or name contains this, ignoring case")] = None,
    sort: Annotated[
        Sort, Query(description="a column to order by, '-' first for descending; ties go by campaign_id")
    ] = "campaign_id",
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="campaigns in this page")] = 50,
    offset: Annotated[int, Query(ge=0, description="campaigns skipped before this page")] = 0,
    fmt: JsonOrCsv = "json",
) -> Response:
    """Every campaign with its totals (each entry is its performance body), searched, sorted
    and paged. `total` counts the campaigns that match `q`; the next page is `offset + limit`."""
    store = service.rollups()
    catalog = store.catalog
    total, positions = catalog.page(q, sort, offset, limit)
    if fmt == "csv":
        rows = catalog.campaigns[positions].iter_rows()
        return _csv(csv_text(CAMPAIGN_COLUMNS, rows), store, "campaigns.csv", {"X-Total-Count": str(total)})
    bodies = store.performance_bodies(positions)
    body = b'{"total":%d,"limit":%d,"offset":%d,"campaigns":[%s]}' % (total, limit, offset, bodies)
    return prepared(body, store.build_id)


# --- /campaigns/{id}/daily ----------------------------------------------------------------------


class DayRow(NamedTuple):
    """One day of a campaign, as the rollup holds it (DAY_COLUMNS)."""

    metric_date: str
    impressions: int
    clicks: int
    conversions: int
    spend: float  # rounded to cents by daily_anomalies.sql, like every served number
    revenue: float
    ctr: float
    roas: float

    def json(self) -> str:
        """The day's JSON object without its closing brace. Dates are ISO text, counts ints and
        floats their repr: nothing here needs escaping."""
        return (
            f'{{"metric_date":"{self.metric_date}","total_impressions":{self.impressions},'
            f'"total_clicks":{self.clicks},"total_conversions":{self.conversions},'
            f'"total_spend":{self.spend!r},"total_revenue":{self.revenue!r},'
            f'"ctr":{self.ctr!r},"roas":{self.roas!r}'
        )


def days_of(store: RollupStore, campaign_id: str) -> list[DayRow]:
    """The campaign's days from its record in the serving file (verified by its CRC)."""
    d = store.daily(campaign_id)
    columns = (d.impressions, d.clicks, d.conversions, d.spend, d.revenue, d.ctr, d.roas)
    return [
        DayRow(date.fromordinal(_EPOCH_ORDINAL + day).isoformat(), *rest)
        for day, *rest in zip(d.dates, *columns, strict=True)
    ]


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@router.get(
    "/campaigns/{campaign_id:path}/daily",
    response_model=CampaignDaily | CampaignDailyChecked,
    responses={**NOT_FOUND, **BENCHMARK_FAILED, **CSV_TOO},
)
async def campaign_daily(
    campaign_id: CampaignIdPath,
    service: ServiceDep,
    with_thresholds: Annotated[
        bool, Query(description="add the live thresholds and each day's issues (one benchmark call)")
    ] = False,
    fmt: JsonOrCsv = "json",
) -> Response:
    """Every day of a campaign with metrics, by date: totals, CTR and ROAS. A campaign with no
    metrics has no days. With thresholds, `issues` lists the rules a day breaks (docs/contract.md §4)."""
    store = service.rollups()
    store.position(campaign_id)  # unknown campaign: 404 before the benchmark service is called
    days = days_of(store, campaign_id)
    filename = f"{campaign_id}-daily.csv"
    if not with_thresholds:
        if fmt == "csv":
            return _csv(csv_text(DAY_COLUMNS, days), store, filename)
        objects = ",".join(d.json() + "}" for d in days)
        return prepared(f'{{"campaign_id":{_text(campaign_id)},"days":[{objects}]}}'.encode(), store.build_id)

    thresholds = await service.benchmarks.thresholds(campaign_id)
    issues: dict[int, tuple[str, ...]] = dict(alert_issues(store.days(campaign_id), thresholds))
    if fmt == "csv":
        used = json.loads(thresholds.json)
        extra = (used["min_ctr"], used["min_roas"])
        rows = ((*d, *extra, ";".join(issues.get(i, ()))) for i, d in enumerate(days))
        return _csv(csv_text((*DAY_COLUMNS, "min_ctr", "min_roas", "issues"), rows), store, filename)
    objects = ",".join(f'{d.json()},"issues":{ISSUES_JSON.get(issues.get(i, ()), "[]")}}}' for i, d in enumerate(days))
    body = f'{{"campaign_id":{_text(campaign_id)},"thresholds":{thresholds.json},"days":[{objects}]}}'
    return prepared(body.encode(), store.build_id)


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- the page -----------------------------------------------------------------------------------

# The page talks to this origin only; nothing inline, nothing from elsewhere.
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# no-cache: the browser revalidates (ETag, Last-Modified) so a new release is picked up at once
REVALIDATE = {"Cache-Control": "no-cache"}


class StaticAssets(StaticFiles):
    """StaticFiles whose answers the browser revalidates every time (see REVALIDATE), under
    the page's policy too (static/ also holds the page itself, as /static/index.html)."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update({"Content-Security-Policy": PAGE_POLICY, **REVALIDATE})
        return response


def static_files() -> StaticAssets:
    """What the app mounts at /static: the page's script and style sheet."""
    return StaticAssets(directory=STATIC)


@router.get("/", include_in_schema=False)
async def explorer_page() -> Response:
    return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY, **REVALIDATE})
