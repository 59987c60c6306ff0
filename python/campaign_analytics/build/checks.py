"""Checks a build must pass before it is published: unique keys, row order, totals that reconcile."""

from __future__ import annotations

import polars as pl

from campaign_analytics.build.sql import RollupSql, read_sql
from campaign_analytics.errors import BuildError
from campaign_analytics.published.manifest import (
    ROLLUP_ORDER,
)

# The base metrics every rollup carries as exact totals; they must reconcile across rollups.
BASE_TOTALS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend_micros",
    "total_revenue_micros",
)


def check_rollups(rollups: dict[str, pl.DataFrame], queries: dict[str, RollupSql] | None = None) -> None:
    """Refuse to publish rollups whose keys repeat or whose totals disagree with each other."""
    for name, sql in (queries or read_sql()).items():
        if sql.order != ROLLUP_ORDER[name]:  # what the service verifies and relies on (manifest.py)
            raise BuildError(f"{sql.path.name}: '-- order:' is {sql.order}; the service reads {ROLLUP_ORDER[name]}")
        frame = rollups[name]
        unique = {sql.key: "key ", sql.order: ""}  # one check when the order is the key
        for columns, what in unique.items():
            if frame.select(pl.struct(columns).is_duplicated().any()).item():
                raise BuildError(f"{name}: {what}({', '.join(columns)}) is not unique")
        if not frame.select(sql.order).equals(frame.select(sql.order).sort(sql.order)):
            raise BuildError(f"{name}: rows are not in ({', '.join(sql.order)}) order; the service relies on it")
    campaigns = rollups["campaign_performance"].select("campaign_id", *BASE_TOTALS)
    for name in ("top_creators", "daily_anomalies"):
        sums = rollups[name].group_by("campaign_id").agg(pl.col(BASE_TOTALS).sum())
        joined = campaigns.join(sums, on="campaign_id", how="full", suffix="_parts", coalesce=True)
        for total in BASE_TOTALS:
            # A campaign with no rows in `name` must have zero totals.
            off = joined.filter(pl.col(total).fill_null(-1) != pl.col(f"{total}_parts").fill_null(0))
            if off.height:
                row = off.row(0, named=True)
                raise BuildError(
                    f"reconciliation failed: campaign {row['campaign_id']!r} {total} is {row[total]} "
                    f"in campaign_performance but {name} adds up to {row[f'{total}_parts']}"
                )
