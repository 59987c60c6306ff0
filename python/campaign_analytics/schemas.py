"""Response models: the OpenAPI description of every body the API returns (SPEC §4).

The read endpoints send bodies prepared from the rollups (store.py) rather than serialising
these models per request; tests/test_api.py validates every real body against its model, so
the schema cannot drift from what is sent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignTotals(_Body):
    total_impressions: int
    total_clicks: int
    total_conversions: int
    total_spend: float
    total_revenue: float
    ctr: float
    cvr: float
    roas: float


class CampaignPerformance(_Body):
    campaign_id: str
    campaign_name: str | None
    totals: CampaignTotals


class CreatorTotals(_Body):
    campaign_id: str
    creator_id: str
    creator_name: str | None
    total_impressions: int
    total_clicks: int
    total_conversions: int
    total_spend: float
    ctr: float


class TopCreators(_Body):
    campaign_id: str
    limit: int
    creators: list[CreatorTotals]


class ThresholdsUsed(_Body):
    min_ctr: float
    min_roas: float


class AnomalyAlert(_Body):
    metric_date: str
    issues: list[Literal["ctr_below_threshold", "roas_below_threshold", "spend_without_conversions"]]
    ctr: float
    roas: float


class CampaignAnomalies(_Body):
    campaign_id: str
    thresholds: ThresholdsUsed
    alerts: list[AnomalyAlert]


class CampaignList(_Body):
    """GET /campaigns: one page of campaigns, each exactly its performance body."""

    total: int  # campaigns matching `q`, before `limit` and `offset`
    limit: int
    offset: int
    campaigns: list[CampaignPerformance]


class DayTotals(_Body):
    """One day of a campaign, all creators together (the daily_anomalies.sql columns)."""

    metric_date: str
    total_impressions: int
    total_clicks: int
    total_conversions: int
    total_spend: float
    total_revenue: float
    ctr: float
    roas: float


class CampaignDaily(_Body):
    """GET /campaigns/{campaign_id}/daily: every day of the campaign, by date."""

    campaign_id: str
    days: list[DayTotals]


class CheckedDay(DayTotals):
    issues: list[Literal["ctr_below_threshold", "roas_below_threshold", "spend_without_conversions"]]


class CampaignDailyChecked(_Body):
    """GET /campaigns/{campaign_id}/daily?with_thresholds=true: every day with the rules it breaks."""

    campaign_id: str
    thresholds: ThresholdsUsed
    days: list[CheckedDay]


class HealthReport(_Body):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    benchmark_service: Literal["fixture", "ok", "error"]
    dataset: str
    build_id: str | None


class Liveness(_Body):
    status: Literal["alive"]


class ErrorDetail(_Body):
    detail: str
