"""Response models: the OpenAPI description of every body the API returns (docs/contract.md §4).

The read endpoints send bodies prepared from the rollups (store.py) rather than serialising
these models per request; tests/test_api.py validates every real body against its model, so
the schema cannot drift from what is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

# Definitions shared by several models (docs/contract.md §3). Every rate and amount is rounded half-up on
# the exact value; a zero denominator gives 0.0.
CTR = "Click-through rate: clicks / impressions, rounded half-up to 4 decimals; 0.0 when there are no impressions."
CVR = "Conversion rate: conversions / clicks, rounded half-up to 4 decimals; 0.0 when there are no clicks."
ROAS = (
    "Return on ad spend: revenue / spend (missing revenue counts as 0), rounded half-up to 4 decimals; "
    "0.0 when there is no spend."
)
MONEY = "rounded half-up to 2 decimals; summed exactly before rounding. In the campaign's currency (the inputs' unit)."


def _example(example: Mapping[str, JsonValue]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [dict(example)]})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


PERFORMANCE_TOTALS_EXAMPLE: dict[str, JsonValue] = {
    "total_impressions": 5000,
    "total_clicks": 212,
    "total_conversions": 21,
    "total_spend": 890.0,
    "total_revenue": 3230.0,
    "ctr": 0.0424,
    "cvr": 0.0991,
    "roas": 3.6292,
}


class CampaignTotals(_Body):
    model_config = _example(PERFORMANCE_TOTALS_EXAMPLE)

    total_impressions: int = Field(description="Impressions of every creator on every day, summed.", examples=[5000])
    total_clicks: int = Field(description="Clicks, summed.", examples=[212])
    total_conversions: int = Field(description="Conversions, summed.", examples=[21])
    total_spend: float = Field(description=f"Spend, {MONEY}", examples=[890.0])
    total_revenue: float = Field(description=f"Revenue (a missing value counts as 0), {MONEY}", examples=[3230.0])
    ctr: float = Field(description=CTR, examples=[0.0424])
    cvr: float = Field(description=CVR, examples=[0.0991])
    roas: float = Field(description=ROAS, examples=[3.6292])


class CampaignPerformance(_Body):
    """A campaign's totals over all its metrics rows (zeros when it has none)."""

    model_config = _example(
        {"campaign_id": "cmp-001", "campaign_name": "Spring Launch", "totals": PERFORMANCE_TOTALS_EXAMPLE}
    )

    campaign_id: str = Field(description="The campaign's id, as in campaigns.csv.", examples=["cmp-001"])
    campaign_name: str | None = Field(description="Its name; null when the name is empty.", examples=["Spring Launch"])
    totals: CampaignTotals = Field(description="Totals and rates over every creator and day.")


CREATOR_EXAMPLE: dict[str, JsonValue] = {
    "campaign_id": "cmp-001",
    "creator_id": "crt-001",
    "creator_name": "Avery",
    "total_impressions": 2200,
    "total_clicks": 110,
    "total_conversions": 12,
    "total_spend": 420.0,
    "ctr": 0.05,
}


class CreatorTotals(_Body):
    model_config = _example(CREATOR_EXAMPLE)

    campaign_id: str = Field(description="The campaign.", examples=["cmp-001"])
    creator_id: str = Field(description="The creator, as in the metrics rows.", examples=["crt-001"])
    creator_name: str | None = Field(
        description="From creators.csv; null when the creator is not listed there (its rows still count).",
        examples=["Avery"],
    )
    total_impressions: int = Field(description="This creator's impressions in the campaign, summed.", examples=[2200])
    total_clicks: int = Field(description="Clicks, summed.", examples=[110])
    total_conversions: int = Field(description="Conversions, summed.", examples=[12])
    total_spend: float = Field(description=f"Spend, {MONEY}", examples=[420.0])
    ctr: float = Field(description=CTR, examples=[0.05])


class TopCreators(_Body):
    """A campaign's creators, best first: conversions desc, clicks desc, then creator_id ascending
    (byte order)."""

    model_config = _example(
        {
            "campaign_id": "cmp-001",
            "limit": 2,
            "creators": [
                CREATOR_EXAMPLE,
                {
                    "campaign_id": "cmp-001",
                    "creator_id": "crt-002",
                    "creator_name": "Blake",
                    "total_impressions": 2000,
                    "total_clicks": 70,
                    "total_conversions": 6,
                    "total_spend": 350.0,
                    "ctr": 0.035,
                },
            ],
        }
    )

    campaign_id: str = Field(description="The campaign asked for.", examples=["cmp-001"])
    limit: int = Field(description="The limit applied (1..100, default 10).", examples=[2])
    creators: list[CreatorTotals] = Field(description="At most `limit` creators, ranked.")


class ThresholdsUsed(_Body):
    model_config = _example({"min_ctr": 0.03, "min_roas": 2.5})

    min_ctr: float = Field(description="A day's CTR below this (not equal) is an alert.", examples=[0.03])
    min_roas: float = Field(description="A day's ROAS below this (not equal) is an alert.", examples=[2.5])


ALERT_EXAMPLE: dict[str, JsonValue] = {
    "metric_date": "2026-01-03",
    "issues": ["ctr_below_threshold", "roas_below_threshold"],
    "ctr": 0.0263,
    "roas": 2.2059,
}


class AnomalyAlert(_Body):
    model_config = _example(ALERT_EXAMPLE)

    metric_date: str = Field(
        description="The day (YYYY-MM-DD); all the campaign's creators summed.", examples=["2026-01-03"]
    )
    issues: list[Literal["ctr_below_threshold", "roas_below_threshold", "spend_without_conversions"]] = Field(
        description="In this order: ctr_below_threshold (impressions > 0 and CTR < min_ctr), "
        "roas_below_threshold (spend > 0 and ROAS < min_roas), spend_without_conversions "
        "(spend > 0 and no conversions). Compared on the exact, unrounded values.",
        examples=[["ctr_below_threshold", "roas_below_threshold"]],
    )
    ctr: float = Field(description=f"The day's CTR. {CTR}", examples=[0.0263])
    roas: float = Field(description=f"The day's ROAS. {ROAS}", examples=[2.2059])


class CampaignAnomalies(_Body):
    """The days on which a campaign fell below its live benchmark thresholds."""

    model_config = _example(
        {"campaign_id": "cmp-002", "thresholds": {"min_ctr": 0.03, "min_roas": 2.5}, "alerts": [ALERT_EXAMPLE]}
    )

    campaign_id: str = Field(description="The campaign.", examples=["cmp-002"])
    thresholds: ThresholdsUsed = Field(description="The thresholds used, fetched for this request.")
    alerts: list[AnomalyAlert] = Field(description="Days with at least one issue, by date; [] when none.")


class RefusedBuild(_Body):
    build_id: str = Field(description="The id of the build that failed verification.")
    reason: str = Field(description="What failed: the manifest, a file's sha256 or rows, or the key order.")


class CampaignList(_Body):
    """GET /campaigns: one page of campaigns, each exactly its performance body."""

    total: int = Field(description="Campaigns matching `q`, before `limit` and `offset`.", examples=[6])
    limit: int = Field(description="The page size applied (1..500, default 50).", examples=[50])
    offset: int = Field(description="Campaigns skipped before this page (default 0).", examples=[0])
    campaigns: list[CampaignPerformance] = Field(description="This page, in the requested order.")


class DayTotals(_Body):
    """One day of a campaign, all creators together (the daily_anomalies.sql columns)."""

    metric_date: str = Field(description="The day, YYYY-MM-DD.", examples=["2026-01-03"])
    total_impressions: int = Field(description="Impressions of every creator that day, summed.", examples=[1900])
    total_clicks: int = Field(description="Clicks that day, summed.", examples=[50])
    total_conversions: int = Field(description="Conversions that day, summed.", examples=[3])
    total_spend: float = Field(description=f"Spend that day, {MONEY}", examples=[340.0])
    total_revenue: float = Field(description=f"Revenue that day (missing counts as 0), {MONEY}", examples=[750.0])
    ctr: float = Field(description=f"The day's CTR. {CTR}", examples=[0.0263])
    roas: float = Field(description=f"The day's ROAS. {ROAS}", examples=[2.2059])


class CampaignDaily(_Body):
    """GET /campaigns/{campaign_id}/daily: every day of the campaign, by date."""

    campaign_id: str = Field(description="The campaign.", examples=["cmp-002"])
    days: list[DayTotals] = Field(description="Every day with metrics, by date; [] when none.")


class CheckedDay(DayTotals):
    issues: list[Literal["ctr_below_threshold", "roas_below_threshold", "spend_without_conversions"]] = Field(
        description="The rules this day breaks, in the contract's order; [] when none."
    )


class CampaignDailyChecked(_Body):
    """GET /campaigns/{campaign_id}/daily?with_thresholds=true: every day with the rules it breaks."""

    campaign_id: str = Field(description="The campaign.", examples=["cmp-002"])
    thresholds: ThresholdsUsed = Field(description="The thresholds used, fetched for this request.")
    days: list[CheckedDay] = Field(description="Every day with metrics, by date, with its issues.")


class HealthReport(_Body):
    model_config = _example(
        {
            "status": "ok",
            "database": "ok",
            "benchmark_service": "fixture",
            "dataset": "visible",
            "build_id": "20261126T060118816709Z-dfc41b55c9",
        }
    )

    status: Literal["ok", "degraded"] = Field(description="ok when database and benchmark_service are both fine.")
    database: Literal["ok", "error"] = Field(description="ok while a build's rollups are loaded.")
    benchmark_service: Literal["fixture", "ok", "error"] = Field(
        description="fixture: the thresholds file is readable and valid; ok: the HTTP service answered "
        "its /health below 500 in time; error: otherwise."
    )
    dataset: str = Field(description="DATASET, else the name of DATA_DIR's folder.", examples=["visible"])
    build_id: str | None = Field(description="The build being served; null when none is loaded.")
    newest_build_refused: RefusedBuild | None = Field(
        description="The newest published build when it failed verification and an older one is served "
        "instead (its id and why); null otherwise."
    )


class Liveness(_Body):
    model_config = _example({"status": "alive"})

    status: Literal["alive"] = Field(description="Always alive: the process answers; nothing else is checked.")


class ErrorDetail(_Body):
    model_config = _example({"detail": "campaign 'cmp-999' not found"})

    detail: str = Field(description="What went wrong, naming the campaign or the benchmark failure.")
