"""Each SQL file on its own, as docs/contract.md §3a says its users run it: DuckDB in memory over views of the
raw CSV files, positional `?` parameters, exactly the contract's columns and the API's values,
whatever types `read_csv_auto` sniffs. And the build's use of the same files agrees row for row.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from campaign_analytics.build.pipeline import BuildResult, build
from campaign_analytics.build.sql import read_sql
from campaign_analytics.published.manifest import ROLLUPS
from tests.support.datasets import VISIBLE, write_dataset
from tests.support.standalone_sql import (
    CONTRACT_COLUMNS,
    assert_standalone_equals_build,
    connect,
    rollup_in_duckdb,
    standalone,
)

D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"


def frames_of(result: BuildResult) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(result.build.rollup_parts(name)) for name in ROLLUPS}


# --- the visible sample: the contract's examples, from the files alone --------------------------


@pytest.fixture(scope="module")
def visible() -> Any:
    return connect(VISIBLE)


def test_cmp_001_performance_is_the_contract_example(visible: Any) -> None:
    assert standalone(visible, "campaign_performance", ["cmp-001"]) == [
        {
            "campaign_id": "cmp-001",
            "campaign_name": "Spring Launch",
            "total_impressions": 5000,
            "total_clicks": 212,
            "total_conversions": 21,
            "total_spend": 890.0,
            "total_revenue": 3230.0,
            "ctr": 0.0424,
            "cvr": 0.0991,
            "roas": 3.6292,
        }
    ]


def test_cmp_001_top_two_creators_are_the_contract_example(visible: Any) -> None:
    assert standalone(visible, "top_creators", ["cmp-001", 2]) == [
        {
            "campaign_id": "cmp-001",
            "creator_id": "crt-001",
            "creator_name": "Avery",
            "total_impressions": 2200,
            "total_clicks": 110,
            "total_conversions": 12,
            "total_spend": 420.0,
            "ctr": 0.05,
        },
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
    ]


def test_cmp_004_tie_is_broken_by_creator_id(visible: Any) -> None:
    rows = standalone(visible, "top_creators", ["cmp-004", 2])
    assert [(r["creator_id"], r["total_conversions"], r["total_clicks"]) for r in rows] == [
        ("crt-003", 3, 30),
        ("crt-004", 3, 30),
    ]


def test_cmp_002_days_carry_the_alert_values(visible: Any) -> None:
    days = {r["metric_date"]: r for r in standalone(visible, "daily_anomalies", ["cmp-002"])}
    assert (days[date(2026, 1, 3)]["ctr"], days[date(2026, 1, 3)]["roas"]) == (0.0263, 2.2059)
    five = {r["metric_date"]: r for r in standalone(visible, "daily_anomalies", ["cmp-005"])}
    assert (five[date(2026, 1, 6)]["ctr"], five[date(2026, 1, 6)]["roas"]) == (0.05, 0.0)


def test_a_campaign_without_metrics_has_one_zero_row_and_no_creators_or_days(visible: Any) -> None:
    assert standalone(visible, "campaign_performance", ["cmp-006"]) == [
        {
            "campaign_id": "cmp-006",
            "campaign_name": "Dormant Q4, paused",
            "total_impressions": 0,
            "total_clicks": 0,
            "total_conversions": 0,
            "total_spend": 0.0,
            "total_revenue": 0.0,
            "ctr": 0.0,
            "cvr": 0.0,
            "roas": 0.0,
        }
    ]
    assert standalone(visible, "top_creators", ["cmp-006", 10]) == []
    assert standalone(visible, "daily_anomalies", ["cmp-006"]) == []


@pytest.mark.parametrize("campaign_id", ["cmp-404", "", "cmp-001 ", "CMP-001"])
def test_an_unknown_campaign_gets_no_rows(visible: Any, campaign_id: str) -> None:
    # cmp-404 has metrics rows in the sample (orphans); they never make a campaign exist
    assert standalone(visible, "campaign_performance", [campaign_id]) == []
    assert standalone(visible, "top_creators", [campaign_id, 10]) == []
    assert standalone(visible, "daily_anomalies", [campaign_id]) == []


@pytest.mark.parametrize(
    ("rollup", "params"),
    [
        ("campaign_performance", ["cmp-001"]),
        ("top_creators", ["cmp-001", 3]),
        ("daily_anomalies", ["cmp-001"]),
    ],
)
def test_each_file_returns_exactly_the_contract_columns_in_order(visible: Any, rollup: str, params: list[Any]) -> None:
    text = read_sql()[rollup].path.read_text(encoding="utf-8")
    cursor = visible.execute(text, params)
    assert tuple(d[0] for d in cursor.description) == CONTRACT_COLUMNS[rollup]


def test_limit_bounds_the_creators(visible: Any) -> None:
    everyone = standalone(visible, "top_creators", ["cmp-001", 100])
    assert len(everyone) > 2
    for limit in range(1, len(everyone) + 2):
        assert standalone(visible, "top_creators", ["cmp-001", limit]) == everyone[:limit]


def test_every_visible_row_equals_the_apis_answer(visible: Any, client: TestClient) -> None:
    campaign_ids = [row[0] for row in visible.execute("select cast(campaign_id as varchar) from campaigns").fetchall()]
    for campaign_id in campaign_ids:
        performance = client.get(f"/campaigns/{campaign_id}/performance").json()
        flat = {"campaign_id": performance["campaign_id"], "campaign_name": performance["campaign_name"]}
        assert standalone(visible, "campaign_performance", [campaign_id]) == [flat | performance["totals"]]
        top = client.get("/creators/top", params={"campaign_id": campaign_id, "limit": 100}).json()
        assert standalone(visible, "top_creators", [campaign_id, 100]) == top["creators"]
        alerts = client.get(f"/campaigns/{campaign_id}/anomalies").json()["alerts"]
        days = {str(d["metric_date"]): d for d in standalone(visible, "daily_anomalies", [campaign_id])}
        for alert in alerts:
            day = days[alert["metric_date"]]
            assert (day["ctr"], day["roas"]) == (alert["ctr"], alert["roas"])


def test_every_visible_row_equals_the_build(visible: Any, visible_build: BuildResult) -> None:
    frames = frames_of(visible_build)
    for campaign_id in frames["campaign_performance"]["campaign_id"]:
        assert_standalone_equals_build(visible, frames, campaign_id)


def test_the_builds_query_run_by_duckdb_equals_the_build(visible: Any, visible_build: BuildResult) -> None:
    """The other half of 'two uses, one file': the text above the marker, all campaigns at once."""
    frames = frames_of(visible_build)
    for name, sql in read_sql().items():
        rows = sorted(rollup_in_duckdb(visible, name), key=lambda r: tuple(r[c] for c in sql.order))
        assert rows == frames[name].to_dicts()


# --- data that read_csv_auto types differently --------------------------------------------


@pytest.fixture(scope="module")
def sniffed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, pl.DataFrame]]:
    """Ids that look like numbers, spend with 3 places (a DOUBLE), revenue empty on every row
    (VARCHAR), exact halves, a campaign without metrics, an unknown creator, ties, orphans."""
    folder = tmp_path_factory.mktemp("sniffed")
    data = write_dataset(
        folder / "data",
        campaigns=[("123", "Numbers"), ("7", "2024"), ("500", "Empty")],
        creators=[("10", "Ten"), ("9", "Nine"), ("11", None)],
        metrics=[
            (D1, "123", "10", 160, 3, 1, "99.995", ""),  # ctr 3/160 = 0.01875 -> 0.0188
            (D1, "123", "9", 100, 3, 1, "1.005", ""),  # ties "10" on conversions and clicks
            (D2, "123", "11", 20000, 1, 0, "0.1", ""),  # named in creators.csv with an empty name
            (D2, "123", "11", 0, 0, 0, "0.2", ""),  # same key again: summed
            (D3, "123", "11", 0, 0, 0, "2.675", ""),
            (D3, "123", "12", 10, 10, 10, "0", ""),  # a creator missing from creators.csv
            (D1, "7", "9", 0, 0, 0, "0.004999", ""),  # zero impressions, clicks and revenue
            (D1, "999", "9", 500, 50, 5, "5", ""),  # a campaign that does not exist
        ],
    )
    con = connect(data)
    return con, frames_of(build(data, folder / "rollups"))


def test_the_sniffed_types_are_the_awkward_ones(sniffed: tuple[Any, dict[str, pl.DataFrame]]) -> None:
    con, _ = sniffed
    types = {row[0]: row[1] for row in con.execute("describe campaign_daily_metrics").fetchall()}
    assert (types["campaign_id"], types["creator_id"], types["spend"], types["revenue"]) == (
        "BIGINT",
        "BIGINT",
        "DOUBLE",
        "VARCHAR",
    )
    assert {row[0]: row[1] for row in con.execute("describe campaigns").fetchall()}["campaign_id"] == "BIGINT"


def test_numeric_looking_ids_are_found_by_their_text(sniffed: tuple[Any, dict[str, pl.DataFrame]]) -> None:
    con, _ = sniffed
    assert standalone(con, "campaign_performance", ["123"]) == [
        {
            "campaign_id": "123",
            "campaign_name": "Numbers",
            "total_impressions": 20270,
            "total_clicks": 17,
            "total_conversions": 12,
            "total_spend": 103.98,  # 99.995 + 1.005 + 0.1 + 0.2 + 2.675 = 103.975, half up
            "total_revenue": 0.0,  # a revenue column with no value at all
            "ctr": 0.0008,  # 17 / 20270 = 0.000838...
            "cvr": 0.7059,  # 12 / 17 = 0.70588...
            "roas": 0.0,
        }
    ]
    assert standalone(con, "campaign_performance", ["7"])[0]["campaign_name"] == "2024"


def test_sniffed_doubles_and_exact_halves_round_half_up(sniffed: tuple[Any, dict[str, pl.DataFrame]]) -> None:
    con, _ = sniffed
    top = standalone(con, "top_creators", ["123", 10])
    assert [(r["creator_id"], r["creator_name"], r["total_spend"], r["ctr"]) for r in top] == [
        ("12", None, 0.0, 1.0),  # unknown creator: counted, no name; 10 conversions
        ("10", "Ten", 100.0, 0.0188),  # 99.995 -> 100.00; 0.01875 -> 0.0188; ties "9", and "10" < "9" as text
        ("9", "Nine", 1.01, 0.03),  # 1.005 -> 1.01
        ("11", None, 2.98, 0.0001),  # 0.1 + 0.2 + 2.675 = 2.975 -> 2.98; 1/20000 = 0.00005 -> 0.0001
    ]
    days = standalone(con, "daily_anomalies", ["123"])
    assert [(d["metric_date"], d["total_spend"], d["total_revenue"], d["ctr"]) for d in days] == [
        (date(2026, 1, 1), 101.0, 0.0, 0.0231),  # 101.000 spent; 6 / 260
        (date(2026, 1, 2), 0.3, 0.0, 0.0001),
        (date(2026, 1, 3), 2.68, 0.0, 1.0),  # 2.675 -> 2.68
    ]


def test_zero_denominators_give_zero(sniffed: tuple[Any, dict[str, pl.DataFrame]]) -> None:
    con, _ = sniffed
    (row,) = standalone(con, "campaign_performance", ["7"])
    assert (row["total_spend"], row["ctr"], row["cvr"], row["roas"]) == (0.0, 0.0, 0.0, 0.0)


def test_orphans_and_empty_campaigns_with_numeric_ids(sniffed: tuple[Any, dict[str, pl.DataFrame]]) -> None:
    con, _ = sniffed
    assert standalone(con, "campaign_performance", ["999"]) == []
    assert standalone(con, "top_creators", ["999", 5]) == []
    assert standalone(con, "campaign_performance", ["500"])[0]["total_impressions"] == 0
    assert standalone(con, "daily_anomalies", ["500"]) == []


def test_sniffed_data_standalone_equals_the_build(sniffed: tuple[Any, dict[str, pl.DataFrame]]) -> None:
    con, frames = sniffed
    for campaign_id in ("123", "7", "500"):
        assert_standalone_equals_build(con, frames, campaign_id)
    for name, sql in read_sql().items():
        rows = sorted(rollup_in_duckdb(con, name), key=lambda r: tuple(r[c] for c in sql.order))
        assert rows == frames[name].to_dicts()


def test_revenue_with_values_sniffed_as_double(tmp_path: Path) -> None:
    data = write_dataset(
        tmp_path / "data",
        metrics=[
            (D1, "cmp-1", "crt-1", 10, 1, 1, "1", "1.005"),
            (D2, "cmp-1", "crt-1", 10, 1, 1, "1", ""),
        ],
    )
    con = connect(data)
    assert {r[0]: r[1] for r in con.execute("describe campaign_daily_metrics").fetchall()}["revenue"] == "DOUBLE"
    (row,) = standalone(con, "campaign_performance", ["cmp-1"])
    assert (row["total_revenue"], row["roas"]) == (1.01, 0.5025)  # 1.005 / 2
    days = standalone(con, "daily_anomalies", ["cmp-1"])
    assert [(d["total_revenue"], d["roas"]) for d in days] == [(1.01, 1.005), (0.0, 0.0)]


def test_metrics_file_with_no_rows(tmp_path: Path) -> None:
    con = connect(write_dataset(tmp_path / "data", metrics=[]))  # every column sniffs as VARCHAR
    assert standalone(con, "campaign_performance", ["cmp-1"])[0]["total_spend"] == 0.0
    assert standalone(con, "top_creators", ["cmp-1", 10]) == []
    assert standalone(con, "daily_anomalies", ["cmp-1"]) == []
