"""The campaign explorer: discovery, daily series, CSV export, and the page that shows them.

    GET /                               the explorer page (static/index.html, no network needed)
    GET /static/{name}                  its script and style sheet
    GET /campaigns                      every campaign with its totals: q, sort, limit, offset, format
    GET /campaigns/{id}/daily           a campaign's days; with_thresholds=true adds thresholds + issues
    GET /creators/top?format=csv        api.py's route hands requests with `format` to this module

Everything is read from the loaded build (`service.service_of(request).rollups()`): a campaign's
days, creators and performance body from its serving file, like the API's. What the list of
campaigns needs (the campaign_performance rollup, read and verified on the first request, with
its CSV lines, search text and sort orders) is prepared the first time it is asked for and kept
per `RollupStore` in a weak dictionary, so a newer build loaded at run time gets its own, and the
old one goes with its store.

Routing: api.py includes this router after its own, so the API's hot routes are matched
before any of these (measured: with these routes in front, FastAPI's nested router matching
added 15-20 us to every request of /livez, performance and top creators). `/creators/top`
stays api.py's route; when the query has `format`, that route hands over to
`top_creators_export` in one line.

Numbers are the API's: totals, money and rates as the rollups store them (rounded by the SQL
files, the one place each is defined), printed as the shortest float repr in JSON and CSV.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import weakref
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import polars as pl
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from campaign_analytics.anomalies import alert_issues
from campaign_analytics.published.serving import performance_body
from campaign_analytics.serve.schemas import (
    CampaignDaily,
    CampaignDailyChecked,
    CampaignList,
    ErrorDetail,
)
from campaign_analytics.serve.service import service_of
from campaign_analytics.serve.store import CREATOR_FIELDS, PERFORMANCE_TOTALS, RollupStore

STATIC = Path(__file__).resolve().parents[1] / "static"

TOTALS = PERFORMANCE_TOTALS
CAMPAIGN_COLUMNS = ("campaign_id", "campaign_name", *TOTALS)
CREATOR_COLUMNS = CREATOR_FIELDS
# the daily_anomalies.sql contract columns; the rollup holds them under the same names
DAY_COLUMNS = (
    "metric_date",
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend",
    "total_revenue",
    "ctr",
    "roas",
)

Format = Literal["json", "csv"]
# Every column a campaign can be ordered by, ascending or (with "-") descending.
Sort = Literal[
    "campaign_id", "-campaign_id", "campaign_name", "-campaign_name",
    "total_impressions", "-total_impressions", "total_clicks", "-total_clicks",
    "total_conversions", "-total_conversions", "total_spend", "-total_spend",
    "total_revenue", "-total_revenue", "ctr", "-ctr", "cvr", "-cvr", "roas", "-roas",
]  # fmt: skip

CSV_TYPE = "text/csv; charset=utf-8"
JSON_TYPE = "application/json"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Unknown campaign"},
    503: {"model": ErrorDetail, "description": "No rollups loaded"},
}
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}


# --- what is prepared once per build ----------------------------------------------------------


class Prepared:
    """Derived from one build's frames; never changes while that build is served.

    Campaigns are kept in the campaign_performance frame's order (campaign_id, as the build
    writes and the service verifies it), so a position here is the store's too: a page is a
    list of positions, its JSON bodies encoded as the serving file's were (`bodies`) and, from the first CSV
    request, its CSV lines kept here as Python strings. The
    order of every sort key is made the first time that key is asked for (an arg-sort of the
    campaigns, once per build), so an unfiltered page costs O(limit) and a search one
    vectorised substring pass over the ids and names.
    """

    def __init__(self, campaign_performance: pl.DataFrame) -> None:
        campaigns = campaign_performance.select(CAMPAIGN_COLUMNS)
        self.campaigns = campaigns
        self.id_lower = campaigns["campaign_id"].str.to_lowercase()
        self.name_lower = campaigns["campaign_name"].fill_null("").str.to_lowercase()
        # one string per campaign to search: a needle without the separator cannot span both
        self.haystack = pl.select(pl.concat_str([self.id_lower, self.name_lower], separator=_SEPARATOR)).to_series()
        self._csv_lines: list[str] | None = None
        self._orders: dict[str, pl.Series] = {}
        self._ranks: dict[str, pl.Series] = {}
        self._masks: dict[str, pl.Series] = {}  # needle of 1-2 characters -> which campaigns hold it

    def order(self, sort: str) -> pl.Series:
        """Positions of the campaigns ordered by `sort` ("-" first: descending), ties by id."""
        found = self._orders.get(sort)
        if found is None:
            column, descending = sort.removeprefix("-"), sort.startswith("-")
            found = self.campaigns.select(
                pl.arg_sort_by([column, "campaign_id"], descending=[descending, False], nulls_last=True)
            ).to_series()
            self._orders[sort] = found
        return found

    @property
    def csv_lines(self) -> list[str]:
        """Each campaign's CSV line (CAMPAIGN_COLUMNS), made on the first CSV request."""
        if self._csv_lines is None:
            self._csv_lines = csv_lines(self.campaigns.select(CAMPAIGN_COLUMNS).iter_rows())
        return self._csv_lines

    def matching(self, needle: str) -> pl.Series:
        """Which campaigns' haystacks contain `needle` (lower-case, no separator), as a mask.

        A scan of every haystack costs ~270 us at 20,000 campaigns, and under load searches
        queue behind it. So the masks of 1- and 2-character needles are kept once made (a
        lazily built bigram index: at most one per distinct pair in the data, a bit per
        campaign each), and a longer needle ANDs the masks of up to eight of its bigrams (every
        campaign holding the needle holds each of them), then checks only those candidates for
        the whole needle.
        """
        if len(needle) <= 2:
            mask = self._masks.get(needle)
            if mask is None:
                mask = self.haystack.str.contains(needle, literal=True)
                if len(self._masks) < _MAX_MASKS:
                    self._masks[needle] = mask
            return mask
        bigrams = list(dict.fromkeys(needle[i : i + 2] for i in range(len(needle) - 1)))
        candidates = self.matching(bigrams[0])
        for bigram in bigrams[1:_MAX_BIGRAMS]:
            candidates = candidates & self.matching(bigram)
        rows = candidates.arg_true()
        if not len(rows):
            return candidates  # all False
        hits = rows.filter(self.haystack.gather(rows).str.contains(needle, literal=True))
        return pl.repeat(False, len(candidates), dtype=pl.Boolean, eager=True).scatter(hits, True)

    def bodies(self, positions: list[int]) -> bytes:
        """The performance bodies of the campaigns at `positions`, joined by ",": encoded from
        the verified rollup by the expression that wrote the serving file's (one polars call
        for a page, where reading each from the serving file would be two reads a campaign)."""
        if not positions:
            return b""
        page = self.campaigns[positions].select(performance_body().alias("body"))
        return str(page["body"].str.join(",").item()).encode()

    def rank(self, sort: str) -> pl.Series:
        """Each campaign's place in `order(sort)` (its inverse), made when first asked for."""
        found = self._ranks.get(sort)
        if found is None:
            found = self._ranks[sort] = self.order(sort).arg_sort()
        return found

    def page(self, q: str | None, sort: str, offset: int, limit: int) -> tuple[int, list[int]]:
        """(campaigns matching `q`, the positions of this page's campaigns).

        A search never reorders every campaign: few matches (up to _FEW) are put in order by
        their ranks in the sort; many are found by walking the sort order in growing steps
        until the page is covered. Both cost what the page and its matches need, not the
        number of campaigns (at 200,000 campaigns, reordering all of them per search was most
        of a search's time)."""
        order = self.order(sort)
        if not q:
            total = order.len()
            return total, order.slice(min(offset, total), limit).to_list()
        needle = q.lower()
        if _SEPARATOR in needle:
            found = self.id_lower.str.contains(needle, literal=True) | self.name_lower.str.contains(
                needle, literal=True
            )
        else:
            found = self.matching(needle)
        total = int(found.sum())
        if total <= _FEW:
            hits = found.arg_true()
            ranked = hits.gather(self.rank(sort).gather(hits).arg_sort())
            return total, ranked.slice(min(offset, total), limit).to_list()
        wanted, start, step, kept = min(offset, total) + limit, 0, 1024, []
        while wanted > 0 and start < order.len():
            chunk = order.slice(start, step)
            kept.append(chunk.filter(found.gather(chunk)))
            wanted -= kept[-1].len()
            start, step = start + step, step * 4
        matched = pl.concat(kept) if kept else order.clear()
        return total, matched.slice(min(offset, total), limit).to_list()


_SEPARATOR = "\x00"
_MAX_MASKS = 8192  # bigram masks kept per build (a bit per campaign each)
_MAX_BIGRAMS = 8  # bigrams of a longer needle ANDed before the exact check
_FEW = 4096  # matches put in order by their ranks; more are found along the sort order
_PREPARED: weakref.WeakKeyDictionary[RollupStore, Prepared] = weakref.WeakKeyDictionary()


def prepared(store: RollupStore) -> Prepared:
    found = _PREPARED.get(store)
    if found is None:
        found = _PREPARED[store] = Prepared(store.campaigns())
    return found


# --- responses --------------------------------------------------------------------------------


def _json(body: str | bytes, store: RollupStore) -> Response:
    content = body.encode() if isinstance(body, str) else body
    return Response(content, media_type=JSON_TYPE, headers={"X-Build-Id": store.build_id})


class _Returned:
    """A file whose write() hands back what it was given: csv.writer.writerow returns it."""

    def write(self, text: str) -> str:
        return text


def csv_lines(rows: Iterable[Iterable[Any]]) -> list[str]:
    """RFC 4180 lines: CRLF ends, a field quoted when it holds a comma, quote or line break
    (quotes doubled). Values print as in the JSON: floats by their shortest repr, null empty."""
    writer = csv.writer(_Returned(), lineterminator="\r\n")  # one per call: writers keep state
    return [writer.writerow(row) for row in rows]


def _csv(
    header: Sequence[str],
    lines: Iterable[str],
    store: RollupStore,
    filename: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """A CSV response: the header line, then `lines` (from `csv_lines`)."""
    disposition = f'attachment; filename="{_safe_filename(filename)}"'
    return Response(
        ("".join(csv_lines([header])) + "".join(lines)).encode(),
        media_type=CSV_TYPE,
        headers={"X-Build-Id": store.build_id, "Content-Disposition": disposition, **(headers or {})},
    )


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "export"


router = APIRouter()


# --- /creators/top?format=... -------------------------------------------------------------------

_FORMAT = TypeAdapter(Format)


def top_creators_export(request: Request, campaign_id: str, limit: int) -> Response:
    """`/creators/top` with a `format` parameter: api.py's route has read `campaign_id` and
    `limit` (its own 422s) and hands over with one line. `format=json` is the route's usual
    body; `csv` the same creators, one row each, best first; anything else is FastAPI's 422."""
    fmt = _format_of(request)
    store = service_of(request).rollups()
    if fmt == "json":
        return _json(store.top_creators(campaign_id, limit), store)
    rows = ([creator[c] for c in CREATOR_COLUMNS] for creator in store.creators(campaign_id, limit))  # 404 first
    return _csv(CREATOR_COLUMNS, csv_lines(rows), store, f"{campaign_id}-top-creators.csv")


def _format_of(request: Request) -> str:
    raw = request.query_params.get("format")
    try:
        return str(_FORMAT.validate_python(raw))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", "format")} for e in exc.errors(include_url=False)]
        ) from None


# --- /campaigns ---------------------------------------------------------------------------------


@router.get(
    "/campaigns",
    response_model=CampaignList,
    responses={503: ERRORS[503], 200: {"content": CSV_CONTENT}},
)
async def list_campaigns(
    request: Request,
    q: Annotated[str | None, Query(description="keep campaigns whose id or name contains this, ignoring case")] = None,
    sort: Annotated[
        Sort, Query(description="a column to order by, '-' first for descending; ties go by campaign_id")
    ] = "campaign_id",
    limit: Annotated[int, Query(ge=1, le=500, description="campaigns in this page")] = 50,
    offset: Annotated[int, Query(ge=0, description="campaigns skipped before this page")] = 0,
    fmt: Annotated[Format, Query(alias="format", description="json, or csv (this page, flat columns)")] = "json",
) -> Response:
    """Every campaign with its totals (each entry is its performance body), searched, sorted
    and paged. `total` counts the campaigns that match `q`; the next page is `offset + limit`."""
    store = service_of(request).rollups()
    ready = prepared(store)
    total, positions = ready.page(q, sort, offset, limit)
    if fmt == "csv":
        lines = ready.csv_lines
        return _csv(
            CAMPAIGN_COLUMNS, [lines[i] for i in positions], store, "campaigns.csv", {"X-Total-Count": str(total)}
        )
    bodies = ready.bodies(positions)
    return _json(b'{"total":%d,"limit":%d,"offset":%d,"campaigns":[%s]}' % (total, limit, offset, bodies), store)


# --- /campaigns/{id}/daily ----------------------------------------------------------------------


class DayRow(NamedTuple):
    """One day of a campaign, as the rollup holds it."""

    metric_date: str
    impressions: int
    clicks: int
    conversions: int
    spend: float  # rounded to cents by daily_anomalies.sql, like every served number
    revenue: float
    ctr: float
    roas: float

    def json(self) -> str:
        """The day's JSON object (DAY_COLUMNS) without its closing brace. Dates are ISO text,
        counts ints and floats their repr: nothing here needs escaping."""
        return (
            f'{{"metric_date":"{self.metric_date}","total_impressions":{self.impressions},'
            f'"total_clicks":{self.clicks},"total_conversions":{self.conversions},'
            f'"total_spend":{self.spend!r},"total_revenue":{self.revenue!r},'
            f'"ctr":{self.ctr!r},"roas":{self.roas!r}'
        )

    def values(self) -> tuple[str, int, int, int, float, float, float, float]:
        """DAY_COLUMNS, as the rollup has them."""
        return (
            self.metric_date,
            self.impressions,
            self.clicks,
            self.conversions,
            self.spend,
            self.revenue,
            self.ctr,
            self.roas,
        )


def days_of(store: RollupStore, campaign_id: str) -> list[DayRow]:
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
    responses={
        **ERRORS,
        502: {"model": ErrorDetail, "description": "Benchmark service failed (with_thresholds only)"},
        200: {"content": CSV_CONTENT},
    },
)
async def campaign_daily(
    request: Request,
    campaign_id: str,
    with_thresholds: Annotated[
        bool, Query(description="add the live thresholds and each day's issues (one benchmark call)")
    ] = False,
    fmt: Annotated[Format, Query(alias="format", description="json or csv")] = "json",
) -> Response:
    """Every day of a campaign with metrics, by date: totals, CTR and ROAS. A campaign with no
    metrics has no days. With thresholds, `issues` lists the rules a day breaks (docs/contract.md §4)."""
    service = service_of(request)
    store = service.rollups()
    store.position(campaign_id)  # unknown campaign: 404 before the benchmark service is called
    days = days_of(store, campaign_id)
    filename = f"{campaign_id}-daily.csv"
    if not with_thresholds:
        if fmt == "csv":
            return _csv(DAY_COLUMNS, csv_lines(d.values() for d in days), store, filename)
        objects = ",".join(d.json() + "}" for d in days)
        return _json(f'{{"campaign_id":{_text(campaign_id)},"days":[{objects}]}}', store)

    thresholds = await service.benchmarks.thresholds(campaign_id)
    issues: dict[int, tuple[str, ...]] = dict(alert_issues(store.days(campaign_id), thresholds))
    if fmt == "csv":
        used = json.loads(thresholds.json)
        extra = (used["min_ctr"], used["min_roas"])
        lines = csv_lines((*d.values(), *extra, ";".join(issues.get(i, ()))) for i, d in enumerate(days))
        return _csv((*DAY_COLUMNS, "min_ctr", "min_roas", "issues"), lines, store, filename)
    objects = ",".join(f'{d.json()},"issues":{_issues_json(issues.get(i, ()))}}}' for i, d in enumerate(days))
    return _json(f'{{"campaign_id":{_text(campaign_id)},"thresholds":{thresholds.json},"days":[{objects}]}}', store)


_ISSUES_JSON: dict[tuple[str, ...], str] = {}


def _issues_json(issues: tuple[str, ...]) -> str:
    found = _ISSUES_JSON.get(issues)
    if found is None:
        found = _ISSUES_JSON[issues] = json.dumps(list(issues))
    return found


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- the page -----------------------------------------------------------------------------------

# The page talks to this origin only; nothing inline, nothing from elsewhere.
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class Asset(NamedTuple):
    body: bytes
    media_type: str
    etag: str


def _asset(path: Path, media_type: str) -> Asset:
    body = path.read_bytes()
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')


def _assets() -> dict[str, Asset]:
    return {p.name: _asset(p, MEDIA_TYPES[p.suffix]) for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES}


PAGE = _asset(STATIC / "index.html", "text/html; charset=utf-8")
ASSETS = _assets()


def _send(asset: Asset, request: Request, headers: dict[str, str] | None = None) -> Response:
    # no-cache: the browser revalidates (ETag) so a new release is picked up at once
    common = {"ETag": asset.etag, "Cache-Control": "no-cache", **(headers or {})}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=common)
    return Response(asset.body, media_type=asset.media_type, headers=common)


@router.get("/", include_in_schema=False)
async def explorer_page(request: Request) -> Response:
    return _send(PAGE, request, {"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff"})


@router.get("/static/{name}", include_in_schema=False)
async def explorer_asset(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise HTTPException(status_code=404)
    return _send(asset, request, {"X-Content-Type-Options": "nosniff"})
