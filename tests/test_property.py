"""Property: on random data, the SQL rollups equal a plain-Python computation of SPEC §3.

The reference below shares no code with the build: money is summed with `Decimal`, rates are
exact `Fraction`s rounded with ROUND_HALF_UP, and ranking is a Python sort.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign_analytics.build import check_rollups, run_sql
from campaign_analytics.sources import read_sources
from tests.datasets import write_dataset

CAMPAIGNS = ["c1", "c2", "c3"]
CREATORS = ["a", "b", "B", "é"]
DATES = ["2026-01-01", "2026-01-02", "2026-02-28"]

# Small ranges make ties (rankings) and exact halves (rounding) common, not one in ten thousand.
micros = st.one_of(st.integers(0, 400).map(lambda half_cents: half_cents * 5_000), st.integers(0, 10**8))
money = micros.map(lambda m: f"{Decimal(m) / 1_000_000:f}")
metric_row = st.tuples(
    st.sampled_from(DATES),
    st.sampled_from([*CAMPAIGNS, "orphan"]),
    st.sampled_from([*CREATORS, "unknown"]),
    st.integers(0, 20),
    st.integers(0, 8),
    st.integers(0, 3),
    money,
    st.one_of(st.just(""), money),
)


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


def reference(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    known = [r for r in rows if r[1] in CAMPAIGNS]

    def totals(group: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {
            "impressions": sum(r[3] for r in group),
            "clicks": sum(r[4] for r in group),
            "conversions": sum(r[5] for r in group),
            "spend": sum((Decimal(r[6]) for r in group), Decimal(0)),
            "revenue": sum((Decimal(r[7] or 0) for r in group), Decimal(0)),
        }

    campaigns = {}
    for campaign in CAMPAIGNS:
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
            rate(t["clicks"], t["impressions"]),
            rate(t["revenue"], t["spend"]),
        )
    return {"campaigns": campaigns, "rankings": rankings, "days": days}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(metric_row, max_size=40))
def test_rollups_equal_a_plain_python_computation(rows: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_dataset(
            Path(tmp),
            campaigns=[(c, c.upper()) for c in CAMPAIGNS],
            creators=[(c, c * 2) for c in CREATORS],
            metrics=rows,
        )
        frames = run_sql(read_sources(data))
    check_rollups(frames)
    expected = reference(rows)

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
            r["ctr"],
            r["roas"],
        )
        for r in frames["daily_anomalies"].to_dicts()
    }
    assert days == expected["days"]
