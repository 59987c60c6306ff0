"""A published build, loaded for serving: the polars frames plus an index by campaign_id.

The rollups are immutable per build, so everything a response needs that does not depend on
the request is derived from the frames once, here, at load time:

- performance: the complete JSON body of each campaign;
- top creators: each campaign's creators as JSON objects in rank order (the request's `limit`
  takes a prefix);
- anomalies: each campaign's days, in date order, as `anomalies.Day` rows.

Every lookup is a dict access: O(1) in the number of campaigns, no scan per request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from campaign_analytics.anomalies import Day
from campaign_analytics.errors import CampaignNotFound, RollupUnavailable
from campaign_analytics.manifest import ROLLUPS, PublishedBuild

PERFORMANCE_TOTALS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend",
    "total_revenue",
    "ctr",
    "cvr",
    "roas",
)
CREATOR_FIELDS = (
    "campaign_id",
    "creator_id",
    "creator_name",
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend",
    "ctr",
)
DAY_FIELDS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend_micros",
    "total_revenue_micros",
    "ctr",
    "roas",
)
REQUIRED_COLUMNS = {
    "campaign_performance": ("campaign_id", "campaign_name", *PERFORMANCE_TOTALS),
    "top_creators": (*CREATOR_FIELDS, "rank"),
    "daily_anomalies": ("campaign_id", "metric_date", *DAY_FIELDS),
}


@dataclass(frozen=True)
class CampaignEntry:
    performance: bytes
    top_prefix: str  # '{"campaign_id":"...","limit":'
    creators: Sequence[str]  # one JSON object per creator, best first
    days: Sequence[Day]


class RollupStore:
    """The frames of one build and the per-campaign index derived from them."""

    def __init__(self, build: PublishedBuild, frames: dict[str, pl.DataFrame]) -> None:
        self.build = build
        self.frames = frames
        self._index = _index(frames)

    @classmethod
    def load(cls, build: PublishedBuild) -> RollupStore:
        frames = {}
        for name in ROLLUPS:
            path = build.rollup_path(name)
            try:
                frame = pl.read_parquet(path)
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise RollupUnavailable(f"build {build.build_id}: cannot read {path.name}: {exc}") from None
            missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
            if missing:
                raise RollupUnavailable(f"build {build.build_id}: {path.name} lacks column(s) {', '.join(missing)}")
            frames[name] = frame
        return cls(build, frames)

    @property
    def build_id(self) -> str:
        return self.build.build_id

    def campaign(self, campaign_id: str) -> CampaignEntry:
        try:
            return self._index[campaign_id]
        except KeyError:
            raise CampaignNotFound(campaign_id) from None

    def performance(self, campaign_id: str) -> bytes:
        return self.campaign(campaign_id).performance

    def top_creators(self, campaign_id: str, limit: int) -> bytes:
        entry = self.campaign(campaign_id)
        body = f'{entry.top_prefix}{limit},"creators":[{",".join(entry.creators[:limit])}]}}'
        return body.encode()

    def days(self, campaign_id: str) -> Sequence[Day]:
        return self.campaign(campaign_id).days

    def __len__(self) -> int:
        return len(self._index)


def _index(frames: dict[str, pl.DataFrame]) -> dict[str, CampaignEntry]:
    campaigns = frames["campaign_performance"].sort("campaign_id")
    performance = campaigns.select(
        "campaign_id",
        pl.struct("campaign_id", "campaign_name", pl.struct(PERFORMANCE_TOTALS).alias("totals"))
        .struct.json_encode()
        .alias("body"),
    )
    creators = (
        frames["top_creators"]
        .sort("campaign_id", "rank")
        .select("campaign_id", pl.struct(CREATOR_FIELDS).struct.json_encode().alias("json"))
        .group_by("campaign_id", maintain_order=True)
        .agg("json")
    )
    creators_by_campaign = dict(zip(creators["campaign_id"].to_list(), creators["json"].to_list(), strict=True))
    daily = (
        frames["daily_anomalies"]
        .sort("campaign_id", "metric_date")
        .select("campaign_id", pl.col("metric_date").cast(pl.String), *DAY_FIELDS)
    )
    days_by_campaign: dict[str, list[Day]] = {}
    for row in daily.iter_rows():
        days_by_campaign.setdefault(row[0], []).append(Day(*row[1:]))
    index = {}
    for campaign_id, body in performance.iter_rows():
        index[campaign_id] = CampaignEntry(
            performance=body.encode(),
            top_prefix='{"campaign_id":' + json.dumps(campaign_id, ensure_ascii=False) + ',"limit":',
            creators=creators_by_campaign.get(campaign_id, []),
            days=days_by_campaign.get(campaign_id, []),
        )
    return index
