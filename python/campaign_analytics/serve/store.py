"""A published build, loaded for serving: every response body prepared when the build is loaded.

The rollups are immutable per build, so everything a response needs is derived from the
frames once, at load time, with vectorised polars expressions; a request is a dict lookup and
a few slices, and the first request to a campaign costs what its hundredth does.

This module is also the one renderer of the read bodies (docs/contract.md §4): compact JSON, keys in
contract order, numbers as the shortest text that reads back as the same double (`0.0991`,
`5663.4`). Performance bodies and creator objects are encoded by polars; the anomalies body,
whose alerts depend on the live thresholds, is assembled here from prepared pieces.

What is kept, and why it costs the cyclic GC nothing: the campaign index is a dict of str to
int, the bodies are one `bytes` blob per kind with `array` offsets, the day columns are
`array`s. None of these is a container the GC tracks, so loading a build of any size adds a
constant number of tracked objects (tests/test_store.py counts them), and a full collection
never walks the rollups.

    campaign c (position in campaign_id order)
      performance body   perf_blob[perf_at[c] : perf_at[c + 1]]
      id as JSON         id_blob[id_at[c] : id_at[c + 1]]
      creators           rows creator_first[c] ... + creator_count[c] of the creator arrays,
                         rank order; row r's JSON object is creator_blob[creator_start[r] : creator_end[r]]
                         and consecutive rows are joined by ",", so the top k is one slice
      days               rows day_first[c] ... + day_count[c] of the day arrays, by date
"""

from __future__ import annotations

from array import array
from datetime import date
from decimal import Decimal

import polars as pl

from campaign_analytics.anomalies import ISSUE_LISTS, DayColumns, Thresholds, alert_issues
from campaign_analytics.errors import CampaignNotFound, RollupUnavailable
from campaign_analytics.published.manifest import PublishedBuild, read_verified
from campaign_analytics.serve.catalog import PERFORMANCE_TOTALS, CampaignCatalog

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
DAY_COUNTS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend_micros",
    "total_revenue_micros",
)
REQUIRED_COLUMNS = {
    "campaign_performance": ("campaign_id", "campaign_name", *PERFORMANCE_TOTALS),
    "top_creators": (*CREATOR_FIELDS, "rank"),
    "daily_anomalies": ("campaign_id", "metric_date", *DAY_COUNTS, "ctr", "roas"),
}
# Each `issues` list an alert or a checked day can have, as compact JSON (every body writes it so).
ISSUES_JSON = {issues: ("[" + ",".join(f'"{name}"' for name in issues) + "]") for issues in ISSUE_LISTS}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class RollupStore:
    """The frames of one build and every body prepared from them (see the module docstring)."""

    def __init__(self, build: PublishedBuild, frames: dict[str, pl.DataFrame]) -> None:
        """Prepare `frames` (however they were read) for serving; RollupUnavailable when a
        rollup lacks a column the bodies are made of."""
        for name, frame in frames.items():
            missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
            if missing:
                file = ", ".join(part.name for part in build.rollup_parts(name))
                raise RollupUnavailable(f"build {build.build_id}: {file} lacks column(s) {', '.join(missing)}")
        self.build = build
        self.build_id = build.build_id
        self.build_id_header = self.build_id.encode("latin-1")  # sent with every read response
        self.frames = frames
        self.catalog = CampaignCatalog(frames)  # what the explorer pages, searches and sorts
        performance = frames["campaign_performance"]
        ids: list[str] = performance["campaign_id"].to_list()
        self._index = {campaign_id: c for c, campaign_id in enumerate(ids)}
        self._perf_blob, self._perf_at = _blob(
            performance.select(
                pl.struct("campaign_id", "campaign_name", pl.struct(PERFORMANCE_TOTALS).alias("totals"))
                .struct.json_encode()
                .alias("json")
            )["json"]
        )
        # {"i":<id>} -> <id>: the campaign id as JSON, encoded by the same encoder as the bodies
        encoded_id = pl.struct(pl.col("campaign_id").alias("i")).struct.json_encode()
        self._id_blob, self._id_at = _blob(
            performance.select(encoded_id.str.slice(5, encoded_id.str.len_chars() - 6).alias("id"))["id"]
        )
        creators, days = frames["top_creators"], frames["daily_anomalies"]
        self._creator_first, self._creator_count = _runs(performance, creators)
        self._creator_blob, starts = _blob(
            creators.select(pl.struct(CREATOR_FIELDS).struct.json_encode().alias("json"))["json"], separator=","
        )
        self._creator_start = starts[:-1]
        self._creator_end = array("q", (end - 1 for end in starts[1:]))  # each object ends before its ","
        self._day_first, self._day_count = _runs(performance, days)
        self._day_columns = tuple(array("q", days[name].to_list()) for name in DAY_COUNTS)
        self._day_rates = (array("d", days["ctr"].to_list()), array("d", days["roas"].to_list()))
        # days since 1970-01-01: an int column converts 4x faster than joining date strings
        self._day_dates = array("q", days["metric_date"].cast(pl.Int32).to_list())
        # The last anomalies body of each campaign, keyed by the thresholds it was made for:
        # in fixture mode the thresholds repeat, and the body is then a lookup.
        self._last_anomalies: dict[int, tuple[Decimal, Decimal, bytes]] = {}

    @classmethod
    def verified(cls, build: PublishedBuild) -> RollupStore:
        """The build's rollups, read once and trusted only after they verify (manifest, sha256,
        rows, key order: manifest.read_verified), then prepared. What the service loads."""
        return cls(build, read_verified(build))

    def __len__(self) -> int:
        return len(self._index)

    def position(self, campaign_id: str) -> int:
        """The campaign's position in the build, or CampaignNotFound (404)."""
        try:
            return self._index[campaign_id]
        except KeyError:
            raise CampaignNotFound(campaign_id) from None

    def performance(self, campaign_id: str) -> bytes:
        return self.performance_at(self.position(campaign_id))

    def performance_at(self, c: int) -> bytes:
        """The performance body of the campaign in row `c` of the campaign_performance frame."""
        return self._perf_blob[self._perf_at[c] : self._perf_at[c + 1]]

    def creator_rows(self, campaign_id: str) -> tuple[int, int]:
        """(first row, rows) of the campaign in the top_creators frame, best first."""
        c = self.position(campaign_id)
        return self._creator_first[c], self._creator_count[c]

    def day_rows(self, campaign_id: str) -> tuple[int, int]:
        """(first row, rows) of the campaign in the daily_anomalies frame, by date."""
        c = self.position(campaign_id)
        return self._day_first[c], self._day_count[c]

    def top_creators(self, campaign_id: str, limit: int) -> bytes:
        c = self.position(campaign_id)
        first, count = self._creator_first[c], self._creator_count[c]
        shown = b""
        if count:
            last = first + min(limit, count) - 1
            shown = self._creator_blob[self._creator_start[first] : self._creator_end[last]]
        return b'{"campaign_id":%s,"limit":%d,"creators":[%s]}' % (self._id_json(c), limit, shown)

    def days(self, campaign_id: str) -> DayColumns:
        """The campaign's day columns, by date (impressions, clicks, conversions, spend and
        revenue micros): what the anomaly rules compare."""
        return self._days_at(self.position(campaign_id))

    def _days_at(self, c: int) -> DayColumns:
        first, end = self._day_first[c], self._day_first[c] + self._day_count[c]
        imps, clicks, convs, spend, revenue = (column[first:end] for column in self._day_columns)
        return imps, clicks, convs, spend, revenue

    def anomalies(self, campaign_id: str, thresholds: Thresholds) -> bytes:
        c = self.position(campaign_id)
        last = self._last_anomalies.get(c)
        if last is not None and last[0] == thresholds.min_ctr and last[1] == thresholds.min_roas:
            return last[2]
        first = self._day_first[c]
        ctr, roas = self._day_rates
        dates = self._day_dates
        epoch = _EPOCH_ORDINAL
        alerts = ",".join(
            '{"metric_date":"%s","issues":%s,"ctr":%r,"roas":%r}'  # noqa: UP031 (the fastest here)
            % (
                date.fromordinal(epoch + dates[first + i]).isoformat(),
                ISSUES_JSON[issues],
                ctr[first + i],
                roas[first + i],
            )
            for i, issues in alert_issues(self._days_at(c), thresholds)
        )
        body = b'{"campaign_id":%s,"thresholds":%s,"alerts":[%s]}' % (
            self._id_json(c),
            thresholds.json.encode(),
            alerts.encode(),
        )
        self._last_anomalies[c] = (thresholds.min_ctr, thresholds.min_roas, body)
        return body

    def _id_json(self, c: int) -> bytes:
        return self._id_blob[self._id_at[c] : self._id_at[c + 1]]


def _blob(texts: pl.Series, separator: str = "") -> tuple[bytes, array[int]]:
    """The texts joined into one UTF-8 blob, and where each starts (plus, last, the blob's end
    with a separator after it): text r is blob[at[r] : at[r + 1] - len(separator)]."""
    lengths = texts.str.len_bytes() + len(separator)
    at = array("q", [0])
    at.extend(lengths.cum_sum().to_list())  # counting a separator after every text, the last too
    blob = texts.str.join(separator).item() if len(texts) else ""
    return blob.encode("utf-8"), at


def _runs(campaigns: pl.DataFrame, rollup: pl.DataFrame) -> tuple[array[int], array[int]]:
    """Per campaign (in `campaigns` order), its first row in `rollup` and its row count.

    The build writes every rollup in key order (campaign_id first; checked before publishing
    and again when a build is loaded), so a campaign's rows are one run."""
    runs = rollup.select(pl.col("campaign_id").rle()).unnest("campaign_id")
    runs = runs.with_columns(first=runs["len"].cum_sum() - runs["len"]).rename({"value": "campaign_id"})
    placed = campaigns.select("campaign_id").join(runs, on="campaign_id", how="left", maintain_order="left")
    return (
        array("q", placed["first"].fill_null(0).to_list()),
        array("q", placed["len"].fill_null(0).to_list()),
    )
