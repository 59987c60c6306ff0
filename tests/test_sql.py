"""Each SQL file on a few inline rows: ties, zeros, nulls, exact halves, duplicates, orphans."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support.datasets import write_dataset
from tests.support.pipeline import read_sources, run_sql

D1, D2 = "2026-01-01", "2026-01-02"


def rollups(tmp_path: Path, **tables: Any) -> dict[str, pl.DataFrame]:
    return run_sql(read_sources(write_dataset(tmp_path / "data", **tables)))


def performance(frames: dict[str, pl.DataFrame], campaign_id: str = "cmp-1") -> dict[str, Any]:
    row = frames["campaign_performance"].filter(pl.col("campaign_id") == campaign_id).to_dicts()
    assert len(row) == 1
    return row[0]


def ranking(frames: dict[str, pl.DataFrame], campaign_id: str = "cmp-1") -> list[str]:
    creators = frames["top_creators"].filter(pl.col("campaign_id") == campaign_id).sort("rank")
    return creators["creator_id"].to_list()


# --- campaign_performance.sql ----------------------------------------------------------------


def test_totals_and_rates_of_one_campaign(tmp_path: Path) -> None:
    frames = rollups(
        tmp_path,
        metrics=[
            (D1, "cmp-1", "crt-1", 1000, 40, 4, "100.50", "300.25"),
            (D2, "cmp-1", "crt-1", 600, 20, 1, "50", "20"),
        ],
    )
    assert performance(frames) == {
        "campaign_id": "cmp-1",
        "campaign_name": "One",
        "total_impressions": 1600,
        "total_clicks": 60,
        "total_conversions": 5,
        "total_spend_micros": 150_500_000,
        "total_revenue_micros": 320_250_000,
        "total_spend": 150.5,
        "total_revenue": 320.25,
        "ctr": 0.0375,
        "cvr": 0.0833,  # 5/60 = 0.08333...
        "roas": 2.1279,  # 320.25/150.5 = 2.127907...
    }


@pytest.mark.parametrize(
    ("impressions", "clicks", "expected_ctr"),
    [
        (160, 3, 0.0188),  # 0.01875 exactly: half-up, not half-even (0.0187) and not float-truncated
        (20000, 1, 0.0001),  # 0.00005: the half rounds up
        (20001, 1, 0.0),  # just under the half
        (3, 1, 0.3333),
        (3, 2, 0.6667),
        (0, 5, 0.0),  # zero impressions: 0.0, never an error or infinity
    ],
)
def test_ctr_rounds_half_up_on_the_exact_ratio(
    tmp_path: Path, impressions: int, clicks: int, expected_ctr: float
) -> None:
    frames = rollups(tmp_path, metrics=[(D1, "cmp-1", "crt-1", impressions, clicks, 0, "1", "")])
    assert performance(frames)["ctr"] == expected_ctr


@pytest.mark.parametrize(
    ("spends", "expected"),
    [
        (["0.1", "0.2", "2.675"], 2.98),  # 2.975: binary floats would give 2.9749999... -> 2.97
        (["1.005"], 1.01),  # 1.00499999... as a float
        (["0.004999"], 0.0),
        (["0.005"], 0.01),
        (["5663.4"], 5663.4),  # printed as itself, not 5663.400000000001
        (["0.000001"] * 3, 0.0),
    ],
)
def test_money_sums_exactly_and_rounds_half_up(tmp_path: Path, spends: list[str], expected: float) -> None:
    metrics = [(f"2026-01-{i + 1:02d}", "cmp-1", "crt-1", 10, 1, 0, spend, spend) for i, spend in enumerate(spends)]
    row = performance(rollups(tmp_path, metrics=metrics))
    assert (row["total_spend"], row["total_revenue"]) == (expected, expected)
    assert repr(row["total_spend"]) == repr(expected)


def test_revenue_one_point_zero_zero_five_rounds_up(tmp_path: Path) -> None:
    frames = rollups(tmp_path, metrics=[(D1, "cmp-1", "crt-1", 10, 1, 1, "1", "1.005")])
    assert performance(frames)["total_revenue"] == 1.01
    assert performance(frames)["roas"] == 1.005


def test_null_revenue_counts_as_zero(tmp_path: Path) -> None:
    frames = rollups(
        tmp_path,
        metrics=[(D1, "cmp-1", "crt-1", 10, 1, 1, "10", ""), (D2, "cmp-1", "crt-1", 10, 1, 1, "10", "5")],
    )
    row = performance(frames)
    assert (row["total_revenue"], row["roas"]) == (5.0, 0.25)


def test_zero_clicks_and_zero_spend_give_zero_rates(tmp_path: Path) -> None:
    frames = rollups(tmp_path, metrics=[(D1, "cmp-1", "crt-1", 100, 0, 3, "0", "50")])
    row = performance(frames)
    assert (row["ctr"], row["cvr"], row["roas"]) == (0.0, 0.0, 0.0)


def test_campaign_without_metrics_has_zero_totals(tmp_path: Path) -> None:
    frames = rollups(tmp_path, campaigns=[("cmp-1", "One"), ("cmp-2", None)], metrics=[])
    assert performance(frames, "cmp-2") == {
        "campaign_id": "cmp-2",
        "campaign_name": None,
        "total_impressions": 0,
        "total_clicks": 0,
        "total_conversions": 0,
        "total_spend_micros": 0,
        "total_revenue_micros": 0,
        "total_spend": 0.0,
        "total_revenue": 0.0,
        "ctr": 0.0,
        "cvr": 0.0,
        "roas": 0.0,
    }


def test_rows_with_the_same_key_are_summed(tmp_path: Path) -> None:
    row = (D1, "cmp-1", "crt-1", 100, 10, 1, "1.10", "2.20")
    frames = rollups(tmp_path, metrics=[row, row, row])
    assert performance(frames)["total_impressions"] == 300
    assert performance(frames)["total_spend_micros"] == 3_300_000
    daily = frames["daily_anomalies"].to_dicts()
    assert [(d["total_clicks"], d["total_revenue_micros"]) for d in daily] == [(30, 6_600_000)]


def test_metrics_of_unknown_campaigns_are_excluded(tmp_path: Path) -> None:
    frames = rollups(
        tmp_path,
        metrics=[(D1, "cmp-1", "crt-1", 100, 10, 1, "1", "1"), (D1, "cmp-404", "crt-1", 999, 99, 9, "9", "9")],
    )
    assert frames["campaign_performance"]["campaign_id"].to_list() == ["cmp-1"]
    assert performance(frames)["total_impressions"] == 100
    for name in ("top_creators", "daily_anomalies"):
        assert frames[name]["campaign_id"].to_list() == ["cmp-1"]


# --- top_creators.sql ------------------------------------------------------------------------


def test_ranking_breaks_ties_on_conversions_then_clicks_then_creator_id(tmp_path: Path) -> None:
    def row(creator: str, clicks: int, conversions: int) -> tuple[object, ...]:
        return (D1, "cmp-1", creator, 1000, clicks, conversions, "1", "1")

    frames = rollups(
        tmp_path,
        creators=[],
        metrics=[
            row("c-low", 99, 1),  # most clicks, fewest conversions: last
            row("b-tie", 30, 3),  # ties a-tie on both: id decides
            row("a-tie", 30, 3),
            row("z-clicks", 31, 3),  # same conversions, more clicks: first among the 3s
            row("y-most", 5, 7),  # most conversions: first overall
        ],
    )
    assert ranking(frames) == ["y-most", "z-clicks", "a-tie", "b-tie", "c-low"]
    assert frames["top_creators"]["rank"].to_list() == [1, 2, 3, 4, 5]


def test_creator_id_ties_use_byte_order(tmp_path: Path) -> None:
    ids = ["b", "B", "a", "ä", "Z", "_", "10", "9"]
    frames = rollups(tmp_path, creators=[], metrics=[(D1, "cmp-1", i, 1, 1, 1, "1", "1") for i in ids])
    assert ranking(frames) == sorted(ids, key=lambda s: s.encode())


def test_creator_totals_sum_over_days_and_keep_unknown_creators_unnamed(tmp_path: Path) -> None:
    frames = rollups(
        tmp_path,
        creators=[("crt-1", "Ann")],
        metrics=[
            (D1, "cmp-1", "crt-1", 100, 10, 1, "1.25", ""),
            (D2, "cmp-1", "crt-1", 60, 2, 1, "1.25", "4"),
            (D1, "cmp-1", "crt-x", 50, 1, 0, "0", ""),
        ],
    )
    top = frames["top_creators"].sort("rank").to_dicts()
    assert top == [
        {
            "campaign_id": "cmp-1",
            "creator_id": "crt-1",
            "creator_name": "Ann",
            "total_impressions": 160,
            "total_clicks": 12,
            "total_conversions": 2,
            "total_spend_micros": 2_500_000,
            "total_revenue_micros": 4_000_000,
            "total_spend": 2.5,
            "ctr": 0.075,
            "rank": 1,
        },
        {
            "campaign_id": "cmp-1",
            "creator_id": "crt-x",
            "creator_name": None,
            "total_impressions": 50,
            "total_clicks": 1,
            "total_conversions": 0,
            "total_spend_micros": 0,
            "total_revenue_micros": 0,
            "total_spend": 0.0,
            "ctr": 0.02,
            "rank": 2,
        },
    ]


def test_ranks_restart_in_each_campaign(tmp_path: Path) -> None:
    frames = rollups(
        tmp_path,
        campaigns=[("cmp-1", "One"), ("cmp-2", "Two")],
        metrics=[
            (D1, "cmp-1", "crt-1", 10, 1, 1, "1", "1"),
            (D1, "cmp-2", "crt-1", 10, 1, 0, "1", "1"),
            (D1, "cmp-2", "crt-2", 10, 1, 2, "1", "1"),
        ],
    )
    top = frames["top_creators"].select("campaign_id", "creator_id", "rank").rows()
    assert top == [("cmp-1", "crt-1", 1), ("cmp-2", "crt-2", 1), ("cmp-2", "crt-1", 2)]


# --- daily_anomalies.sql ---------------------------------------------------------------------


def test_days_roll_up_all_creators_and_keep_date_order(tmp_path: Path) -> None:
    frames = rollups(
        tmp_path,
        metrics=[
            (D2, "cmp-1", "crt-2", 0, 0, 0, "0", ""),  # a zero-impression, zero-spend day
            (D1, "cmp-1", "crt-1", 1000, 20, 0, "3", ""),
            (D1, "cmp-1", "crt-2", 600, 30, 2, "0.4", "1.7"),
        ],
    )
    assert frames["daily_anomalies"].to_dicts() == [
        {
            "campaign_id": "cmp-1",
            "metric_date": date(2026, 1, 1),
            "total_impressions": 1600,
            "total_clicks": 50,
            "total_conversions": 2,
            "total_spend_micros": 3_400_000,
            "total_revenue_micros": 1_700_000,
            "total_spend": 3.4,
            "total_revenue": 1.7,
            "ctr": 0.0313,  # 50/1600 = 0.03125: the half rounds up
            "roas": 0.5,
        },
        {
            "campaign_id": "cmp-1",
            "metric_date": date(2026, 1, 2),
            "total_impressions": 0,
            "total_clicks": 0,
            "total_conversions": 0,
            "total_spend_micros": 0,
            "total_revenue_micros": 0,
            "total_spend": 0.0,
            "total_revenue": 0.0,
            "ctr": 0.0,
            "roas": 0.0,
        },
    ]
