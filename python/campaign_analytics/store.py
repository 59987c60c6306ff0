"""A published build, loaded for serving: the polars frames plus an index by campaign_id.

The rollups are immutable per build, so everything a response needs that does not depend on
the request is derived from the frames once, here, at load time:

- performance: the complete JSON body of each campaign;
- top creators: each campaign's creators as one JSON text in rank order, with the offset where
  each creator ends, so the request's `limit` is one slice;
- anomalies: each campaign's days, in date order, as `anomalies.Day` rows, and each day's alert
  JSON around its (threshold-dependent) issues list.

Every lookup is a dict access: O(1) in the number of campaigns, no scan per request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from campaign_analytics.anomalies import Day, DayIndex, Thresholds
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
    id_json: str  # the campaign id as a JSON string
    creators_json: str  # '{creator},{creator},...' best first
    creator_ends: Sequence[int]  # creators_json[:creator_ends[k - 1]] holds the best k
    days: DayIndex
    alert_heads: Sequence[str]  # per day: '{"metric_date":"...","issues":'
    alert_tails: Sequence[str]  # per day: ',"ctr":...,"roas":...}'

    def top_creators_body(self, limit: int) -> bytes:
        shown = (
            self.creators_json[: self.creator_ends[min(limit, len(self.creator_ends)) - 1]] if self.creator_ends else ""
        )
        return f'{{"campaign_id":{self.id_json},"limit":{limit},"creators":[{shown}]}}'.encode()

    def anomalies_body(self, thresholds: Thresholds) -> bytes:
        heads, tails = self.alert_heads, self.alert_tails
        alerts = ",".join(
            heads[i] + _ISSUES_JSON[issues] + tails[i] for i, issues in self.days.alert_issues(thresholds)
        )
        used = f'{{"min_ctr":{float(thresholds.min_ctr)!r},"min_roas":{float(thresholds.min_roas)!r}}}'
        return f'{{"campaign_id":{self.id_json},"thresholds":{used},"alerts":[{alerts}]}}'.encode()


class RollupStore:
    """The frames of one build and the per-campaign index derived from them."""

    def __init__(self, build: PublishedBuild, frames: dict[str, pl.DataFrame]) -> None:
        self.build = build
        self.build_id_header = build.build_id.encode("latin-1")  # sent with every read response
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
        return self.campaign(campaign_id).top_creators_body(limit)

    def days(self, campaign_id: str) -> Sequence[Day]:
        return self.campaign(campaign_id).days.days

    def __len__(self) -> int:
        return len(self._index)


_ISSUES_JSON = {
    issues: json.dumps(list(issues))
    for issues in (
        ("ctr_below_threshold",),
        ("roas_below_threshold",),
        ("spend_without_conversions",),
        ("ctr_below_threshold", "roas_below_threshold"),
        ("ctr_below_threshold", "spend_without_conversions"),
        ("roas_below_threshold", "spend_without_conversions"),
        ("ctr_below_threshold", "roas_below_threshold", "spend_without_conversions"),
    )
}


def _by_campaign(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, tuple[list, ...]]:
    """campaign_id -> one list per column, rows in frame order (one group_by, no per-row Python)."""
    grouped = frame.group_by("campaign_id", maintain_order=True).agg(columns)
    ids = grouped["campaign_id"].to_list()
    lists = [grouped[c].to_list() for c in columns]
    return {cid: tuple(values[i] for values in lists) for i, cid in enumerate(ids)}


def _index(frames: dict[str, pl.DataFrame]) -> dict[str, CampaignEntry]:
    performance = (
        frames["campaign_performance"]
        .sort("campaign_id")
        .select(
            "campaign_id",
            pl.struct("campaign_id", "campaign_name", pl.struct(PERFORMANCE_TOTALS).alias("totals"))
            .struct.json_encode()
            .alias("body"),
        )
    )
    creators = _by_campaign(
        frames["top_creators"]
        .sort("campaign_id", "rank")
        .select("campaign_id", pl.struct(CREATOR_FIELDS).struct.json_encode().alias("json")),
        ["json"],
    )
    daily = frames["daily_anomalies"].sort("campaign_id", "metric_date")
    days = _by_campaign(
        daily.select(
            "campaign_id",
            pl.col("metric_date").cast(pl.String),
            *DAY_FIELDS,
            pl.format('{{"metric_date":"{}","issues":', pl.col("metric_date").cast(pl.String)).alias("head"),
            # ',"ctr":0.0263,"roas":2.2059}': the same float printing as every other body
            pl.lit(",").add(pl.struct("ctr", "roas").struct.json_encode().str.slice(1)).alias("tail"),
        ),
        ["metric_date", *DAY_FIELDS, "head", "tail"],
    )
    empty: tuple[list, ...] = ([],) * (len(DAY_FIELDS) + 3)
    index = {}
    for campaign_id, body in performance.iter_rows():
        (jsons,) = creators.get(campaign_id, ([],))
        ends, total = [], -1
        for text in jsons:
            total += len(text) + 1
            ends.append(total)
        columns = days.get(campaign_id, empty)
        index[campaign_id] = CampaignEntry(
            performance=body.encode(),
            id_json=json.dumps(campaign_id, ensure_ascii=False),
            creators_json=",".join(jsons),
            creator_ends=ends,
            days=DayIndex([Day(*values) for values in zip(*columns[:-2], strict=True)]),
            alert_heads=columns[-2],
            alert_tails=columns[-1],
        )
    return index
