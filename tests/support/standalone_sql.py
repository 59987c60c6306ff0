"""The SQL files used as their adopters use them (docs/contract.md §3a): DuckDB in memory, three views over
the raw CSV files of a DATA_DIR, each file executed with positional `?` parameters.

Nothing here reads the build's code paths except `rollup_in_duckdb`, which runs the same text
the build runs (the part of a file above its per-campaign marker) so tests can hold the two
uses of one file equal.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb

from campaign_analytics.build.sql import read_sql
from campaign_analytics.published.manifest import SQL_DIR

VIEWS = ("campaigns", "creators", "campaign_daily_metrics")
# The columns each file returns standalone, in this order (docs/contract.md §3a).
CONTRACT_COLUMNS = {
    "campaign_performance": (
        "campaign_id",
        "campaign_name",
        "total_impressions",
        "total_clicks",
        "total_conversions",
        "total_spend",
        "total_revenue",
        "ctr",
        "cvr",
        "roas",
    ),
    "top_creators": (
        "campaign_id",
        "creator_id",
        "creator_name",
        "total_impressions",
        "total_clicks",
        "total_conversions",
        "total_spend",
        "ctr",
    ),
    "daily_anomalies": (
        "metric_date",
        "total_impressions",
        "total_clicks",
        "total_conversions",
        "total_spend",
        "total_revenue",
        "ctr",
        "roas",
    ),
}


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """The docs/contract.md §3a snippet, verbatim in effect: one view per raw file, types as sniffed.

    One thread: the inputs are tiny and the tests run thousands of queries (a third faster).
    """
    con = duckdb.connect(config={"threads": 1})
    for name in VIEWS:
        con.execute(f"create view {name} as select * from read_csv_auto('{data_dir}/{name}.csv', header=true)")
    return con


def standalone(con: duckdb.DuckDBPyConnection, rollup: str, params: list[Any]) -> list[dict[str, Any]]:
    """Run `sql/<rollup>.sql` as a whole, with `params`; rows as dicts in column order."""
    text = (SQL_DIR / f"{rollup}.sql").read_text(encoding="utf-8")
    cursor = con.execute(text, params)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def rollup_in_duckdb(con: duckdb.DuckDBPyConnection, rollup: str) -> list[dict[str, Any]]:
    """The query the build runs for `rollup` (text above the marker + select), run by DuckDB."""
    cursor = con.execute(read_sql()[rollup].rollup_query)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def cents(micros: int) -> float:
    """Integer micros rounded half-up to cents, as a float (the reference for money columns)."""
    return float((Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def project(row: dict[str, Any], rollup: str) -> dict[str, Any]:
    return {column: row[column] for column in CONTRACT_COLUMNS[rollup]}


def expected_standalone(frames: dict[str, Any], campaign_id: str) -> dict[str, list[dict[str, Any]]]:
    """What each file must return standalone for `campaign_id`, read off the build's rollups.

    The daily rollup keeps money as micros (what the anomaly rules compare); the standalone
    rows show it in cents, so those two columns are derived here with Decimal, not with SQL.
    """
    mine = {name: [r for r in frame.to_dicts() if r["campaign_id"] == campaign_id] for name, frame in frames.items()}
    days = [
        project(
            day
            | {"total_spend": cents(day["total_spend_micros"]), "total_revenue": cents(day["total_revenue_micros"])},
            "daily_anomalies",
        )
        for day in sorted(mine["daily_anomalies"], key=lambda d: d["metric_date"])
    ]
    return {
        "campaign_performance": [project(r, "campaign_performance") for r in mine["campaign_performance"]],
        "top_creators": [project(r, "top_creators") for r in sorted(mine["top_creators"], key=lambda r: r["rank"])],
        "daily_anomalies": days,
    }


def assert_standalone_equals_build(con: duckdb.DuckDBPyConnection, frames: dict[str, Any], campaign_id: str) -> None:
    """Every row each file returns standalone for `campaign_id` equals the build's, for several limits."""
    expected = expected_standalone(frames, campaign_id)
    assert standalone(con, "campaign_performance", [campaign_id]) == expected["campaign_performance"]
    assert standalone(con, "daily_anomalies", [campaign_id]) == expected["daily_anomalies"]
    creators = expected["top_creators"]
    for limit in sorted({1, 2, len(creators), len(creators) + 1, 100} - {0}):
        assert standalone(con, "top_creators", [campaign_id, limit]) == creators[:limit]
