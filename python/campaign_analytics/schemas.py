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


class RefusedBuild(_Body):
    build_id: str
    reason: str


class HealthReport(_Body):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    benchmark_service: Literal["fixture", "ok", "error"]
    dataset: str
    build_id: str | None
    newest_build_refused: RefusedBuild | None


class Liveness(_Body):
    status: Literal["alive"]


class ErrorDetail(_Body):
    detail: str
