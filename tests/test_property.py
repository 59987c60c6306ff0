"""Property: on random data, the SQL rollups equal a plain-Python computation of docs/contract.md §3, and
each SQL file run standalone in DuckDB (docs/contract.md §3a) returns the same rows for every campaign.

The reference below shares no code with the build: money is summed with `Decimal`, rates are
exact `Fraction`s rounded with ROUND_HALF_UP, and ranking is a Python sort. Ids are drawn from
pools that look like text or like numbers (read_csv_auto sniffs the latter as BIGINT), and
revenue is sometimes empty on every row (a column DuckDB cannot type as a number).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from campaign_analytics.build.checks import check_rollups
from tests.support.pipeline import read_sources, run_sql
from tests.support.random_data import ORPHANS, datasets, write
from tests.support.standalone_sql import cents, connect, standalone


def half_up(value: Fraction | Decimal, places: int) -> float:
    """Round the exact value half-up to `places` decimals, then take the float of that decimal."""
    if isinstance(value, Decimal):
        return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    scaled = value * 10**places
    floor = scaled.numerator // scaled.denominator
    rounded = floor + (1 if scaled - floor >= Fraction(1, 2) else 0)
    return float(Decimal(rounded).scaleb(-places))


def rate(numerator: int | Decimal, denominator: int | Decimal) -> float:
    if denominator == 0:
        return 0.0
    return half_up(Fraction(numerator) / Fraction(denominator), 4)


def reference(campaign_ids: list[str], names: dict[str, str], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    known = [r for r in rows if r[1] in campaign_ids]

    def totals(group: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {
            "impressions": sum(r[3] for r in group),
            "clicks": sum(r[4] for r in group),
            "conversions": sum(r[5] for r in group),
            "spend": sum((Decimal(r[6]) for r in group), Decimal(0)),
            "revenue": sum((Decimal(r[7] or 0) for r in group), Decimal(0)),
        }

    campaigns = {}
    for campaign in campaign_ids:
        t = totals([r for r in known if r[1] == campaign])
        campaigns[campaign] = (
            t["impressions"],
            t["clicks"],
            t["conversions"],
            half_up(t["spend"], 2),
            half_up(t["revenue"], 2),
            rate(t["clicks"], t["impressions"]),
            rate(t["conversions"], t["clicks"]),
            rate(t["revenue"], t["spend"]),
        )
    by_creator: dict[str, dict[str, list[tuple[Any, ...]]]] = defaultdict(lambda: defaultdict(list))
    by_day: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for r in known:
        by_creator[r[1]][r[2]].append(r)
        by_day[(r[1], r[0])].append(r)
    rankings = {}
    for campaign, creators in by_creator.items():
        summed = {c: totals(g) for c, g in creators.items()}
        order = sorted(summed, key=lambda c: (-summed[c]["conversions"], -summed[c]["clicks"], c.encode()))
        rankings[campaign] = [
            (
                c,
                names.get(c),
                summed[c]["impressions"],
                summed[c]["clicks"],
                summed[c]["conversions"],
                half_up(summed[c]["spend"], 2),
                rate(summed[c]["clicks"], summed[c]["impressions"]),
            )
            for c in order
        ]
    days = {}
    for key, group in by_day.items():
        t = totals(group)
        days[key] = (
            t["impressions"],
            t["clicks"],
            t["conversions"],
            half_up(t["spend"], 2),
            half_up(t["revenue"], 2),
            rate(t["clicks"], t["impressions"]),
            rate(t["revenue"], t["spend"]),
        )
    return {"campaigns": campaigns, "rankings": rankings, "days": days}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets())
def test_rollups_equal_a_plain_python_computation(dataset: tuple[list[str], list[str], list[tuple[Any, ...]]]) -> None:
    campaign_ids, creator_ids, rows = dataset
    names = {c: f"{c}-{c}" for c in creator_ids}
    with tempfile.TemporaryDirectory() as tmp:
        frames = run_sql(read_sources(write(Path(tmp), campaign_ids, names, rows)))
    check_rollups(frames)
    assert_rollups_equal(frames, reference(campaign_ids, names, rows))


# DuckDB re-reads (and re-sniffs) the CSV files for every query: fewer examples, same reference.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets())
def test_standalone_sql_equals_the_same_computation(
    dataset: tuple[list[str], list[str], list[tuple[Any, ...]]],
) -> None:
    campaign_ids, creator_ids, rows = dataset
    names = {c: f"{c}-{c}" for c in creator_ids}
    expected = reference(campaign_ids, names, rows)
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(write(Path(tmp), campaign_ids, names, rows))
        for campaign_id in [*campaign_ids, ORPHANS[len(rows) % 2]]:
            assert_standalone_equals(con, campaign_id, expected)


def assert_rollups_equal(frames: dict[str, Any], expected: dict[str, Any]) -> None:
    performance = {
        r["campaign_id"]: (
            r["total_impressions"],
            r["total_clicks"],
            r["total_conversions"],
            r["total_spend"],
            r["total_revenue"],
            r["ctr"],
            r["cvr"],
            r["roas"],
        )
        for r in frames["campaign_performance"].to_dicts()
    }
    assert performance == expected["campaigns"]

    rankings: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in frames["top_creators"].sort("campaign_id", "rank").to_dicts():
        rankings[r["campaign_id"]].append(
            (
                r["creator_id"],
                r["creator_name"],
                r["total_impressions"],
                r["total_clicks"],
                r["total_conversions"],
                r["total_spend"],
                r["ctr"],
            )
        )
    assert dict(rankings) == expected["rankings"]

    days = {
        (r["campaign_id"], r["metric_date"].isoformat()): (
            r["total_impressions"],
            r["total_clicks"],
            r["total_conversions"],
            cents(r["total_spend_micros"]),
            cents(r["total_revenue_micros"]),
            r["ctr"],
            r["roas"],
        )
        for r in frames["daily_anomalies"].to_dicts()
    }
    assert days == expected["days"]


def assert_standalone_equals(con: Any, campaign_id: str, expected: dict[str, Any]) -> None:
    """Every row of each file run standalone for one campaign, against the reference."""
    performance = standalone(con, "campaign_performance", [campaign_id])
    if campaign_id not in expected["campaigns"]:
        assert performance == []
    else:
        assert [tuple(r.values()) for r in performance] == [
            (campaign_id, f"name {campaign_id}", *expected["campaigns"][campaign_id])
        ]
    ranking = expected["rankings"].get(campaign_id, [])
    for limit in (2, 100):
        top = standalone(con, "top_creators", [campaign_id, limit])
        assert [tuple(r.values()) for r in top] == [(campaign_id, *creator) for creator in ranking[:limit]]
    days = standalone(con, "daily_anomalies", [campaign_id])
    assert [(d["metric_date"].isoformat(), *list(d.values())[1:]) for d in days] == sorted(
        (date, *values) for (c, date), values in expected["days"].items() if c == campaign_id
    )
